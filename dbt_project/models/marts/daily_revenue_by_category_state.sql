{{
    config(
        materialized='daily_partitions',
        unique_key='order_date',
        tags=['partitioned_daily'],
    )
}}

with

order_lines as (

    select * from {{ ref('fct_order_lines') }}

    {% if rebuilds_window() %}
    where {{ partition_window('order_date') }}
    {% endif %}

),

revenue_lines as (

    select
        order_date,
        order_id,
        quantity,
        line_amount_inr,
        -- 'unknown' rather than null keeps the grain's columns testable and the rows visible
        -- when a product or customer has not arrived yet.
        coalesce(category, 'unknown') as category,
        coalesce(customer_state, 'unknown') as customer_state

    from order_lines

    -- Cancelled and returned lines earned nothing.
    where status not in ('cancelled', 'returned')

),

aggregated as (

    select
        order_date,
        category,
        customer_state,

        count(distinct order_id) as order_count,
        count(*) as order_lines,
        sum(quantity) as units,
        sum(line_amount_inr) as revenue_inr

    from revenue_lines

    group by order_date, category, customer_state

),

final as (

    select
        order_date,
        category,
        customer_state,
        order_count,
        order_lines,
        -- Sums widen (DuckDB: bigint to hugeint, decimal(18,2) to decimal(38,2); PostgreSQL:
        -- both to unconstrained numeric); cast back so the table keeps the warehouse's types.
        cast(units as bigint) as units,
        cast(revenue_inr as decimal(18, 2)) as revenue_inr

    from aggregated

)

select * from final
