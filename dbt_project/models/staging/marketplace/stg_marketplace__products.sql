with

source as (

    select * from {{ source('marketplace', 'products') }}

),

renamed as (

    select

        ---------- ids
        product_id,

        ---------- properties
        name as product_name,
        category,

        ---------- numerics
        price_inr,

        ---------- timestamps
        updated_at,

        ---------- partition and lineage
        _partition_date as snapshot_date,
        _source_file,
        _source_line

    from source

)

select * from renamed
