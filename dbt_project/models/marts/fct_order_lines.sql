{{
    config(
        materialized='daily_partitions',
        unique_key='order_date',
        tags=['partitioned_daily'],
    )
}}

with

order_lines as (

    select * from {{ ref('stg_marketplace__orders') }}

    {% if rebuilds_window() %}
    where {{ partition_window('order_date') }}
    {% endif %}

),

-- Current (type 1) attributes: a rebuilt day shows today's catalog name and today's address.
products as (

    select * from {{ ref('dim_products') }}

),

customers as (

    select * from {{ ref('dim_customers') }}

),

final as (

    select
        {{ surrogate_key([
            'order_lines.order_id',
            'order_lines.line_number',
            'order_lines.order_date',
        ]) }} as order_line_key,

        order_lines.order_id,
        order_lines.line_number,
        order_lines.order_date,
        order_lines.order_ts,

        order_lines.customer_id,
        customers.city as customer_city,
        customers.state as customer_state,

        order_lines.product_id,
        products.product_name,
        products.category,

        order_lines.quantity,
        order_lines.unit_price_inr,
        -- bigint * decimal(18,2) widens (DuckDB: decimal(38,2), PostgreSQL: numeric); keep the
        -- warehouse's money type.
        cast(order_lines.quantity * order_lines.unit_price_inr as decimal(18, 2))
            as line_amount_inr,

        order_lines.status,
        order_lines.channel,
        order_lines.updated_at

    from order_lines

    -- Left joins: a line whose customer or product never arrived is still revenue; its
    -- attributes stay null and the relationships tests warn.
    left join customers
        on order_lines.customer_id = customers.customer_id

    left join products
        on order_lines.product_id = products.product_id

)

select * from final
