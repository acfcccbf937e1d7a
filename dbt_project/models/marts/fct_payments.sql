{{
    config(
        materialized='daily_partitions',
        unique_key='payment_date',
        tags=['partitioned_daily'],
    )
}}

with

payments as (

    select * from {{ ref('stg_marketplace__payments') }}

    {% if rebuilds_window() %}
    where {{ partition_window('payment_date') }}
    {% endif %}

),

final as (

    select
        {{ surrogate_key(['txn_id', 'payment_date']) }} as payment_key,

        txn_id,
        payment_date,
        order_id,
        payer_vpa_token,
        amount_inr,
        status,
        bank,
        txn_ts,
        -- Only SUCCESS moves money; PENDING may still fail.
        status = 'SUCCESS' as is_captured

    from payments

)

select * from final
