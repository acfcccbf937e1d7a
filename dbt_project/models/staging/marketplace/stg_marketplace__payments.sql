with

source as (

    select * from {{ source('marketplace', 'payments') }}

),

renamed as (

    select

        ---------- ids
        txn_id,
        order_id,

        ---------- masked pii
        payer_vpa as payer_vpa_token,

        ---------- numerics
        amount_inr,

        ---------- properties
        status,
        bank,

        ---------- timestamps
        txn_ts,

        ---------- partition and lineage
        _partition_date as payment_date,
        _source_file,
        _source_line

    from source

)

select * from renamed
