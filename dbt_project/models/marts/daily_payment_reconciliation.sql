{{
    config(
        materialized='daily_partitions',
        unique_key='reconciliation_date',
        tags=['partitioned_daily'],
    )
}}

with

reconciliation as (

    select * from {{ ref('payment_reconciliation') }}

    {% if rebuilds_window() %}
    where {{ partition_window('reconciliation_date') }}
    {% endif %}

),

aggregated as (

    select
        reconciliation_date,

        count(*) filter (where is_order_found) as orders,
        count(*) filter (where mismatch_reason = 'matched') as orders_matched,
        count(*) filter (where mismatch_reason = 'no_payment') as orders_no_payment,
        count(*) filter (where mismatch_reason = 'underpaid') as orders_underpaid,
        count(*) filter (where mismatch_reason = 'overpaid') as orders_overpaid,
        count(*) filter (where mismatch_reason = 'payment_without_order')
            as payments_without_order,
        count(*) filter (where mismatch_reason = 'paid_for_cancelled_order')
            as paid_for_cancelled_orders,
        -- Every row of the day, so that payments without an order are in the captured total and
        -- the day's difference is the sum of its rows' differences.
        sum(expected_amount_inr) as expected_amount_inr,
        sum(captured_amount_inr) as captured_amount_inr,
        count(*) filter (where mismatch_reason != 'matched') as mismatched_orders

    from reconciliation

    group by reconciliation_date

),

final as (

    select
        reconciliation_date,
        orders,
        orders_matched,
        orders_no_payment,
        orders_underpaid,
        orders_overpaid,
        payments_without_order,
        paid_for_cancelled_orders,
        -- Sums of decimal(18,2) widen (DuckDB: decimal(38,2), PostgreSQL: unconstrained
        -- numeric); cast back to the warehouse's money type.
        cast(expected_amount_inr as decimal(18, 2)) as expected_amount_inr,
        cast(captured_amount_inr as decimal(18, 2)) as captured_amount_inr,
        cast(captured_amount_inr - expected_amount_inr as decimal(18, 2)) as difference_inr,
        mismatched_orders,
        -- A day with only payments without an order has no orders to match: 0, not null.
        -- bigint / bigint truncates in PostgreSQL, which also has no round(double, n), so the
        -- ratio is a double rounded as a decimal. The decimal also rounds halves up on both
        -- engines, where DuckDB's round(57 / 800, 4) gave 0.0712 for 0.07125.
        cast(
            round(
                cast(
                    case
                        when orders = 0 then 0
                        else cast(orders_matched as double precision) / orders
                    end as decimal(28, 12)
                ),
                4
            ) as double precision
        ) as match_rate

    from aggregated

)

select * from final
