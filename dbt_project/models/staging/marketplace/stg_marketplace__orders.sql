with

source as (

    select * from {{ source('marketplace', 'orders') }}

),

renamed as (

    select

        ---------- ids
        order_id,
        line_number,
        customer_id,
        product_id,

        ---------- numerics
        quantity,
        unit_price_inr,

        ---------- properties
        status,
        channel,

        ---------- timestamps
        order_ts,
        updated_at,

        ---------- partition and lineage
        _partition_date as order_date,
        _source_file,
        _source_line

    from source

)

select * from renamed
