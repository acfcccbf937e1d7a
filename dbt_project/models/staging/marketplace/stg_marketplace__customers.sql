with

source as (

    select * from {{ source('marketplace', 'customers') }}

),

renamed as (

    select

        ---------- ids
        customer_id,

        ---------- masked pii: the suffix says which kind of mask, so nobody mistakes it for data
        name as name_token,
        email as email_token,
        phone as phone_masked,
        pan as pan_token,

        ---------- properties
        city,
        state,

        ---------- timestamps
        updated_at,

        ---------- partition and lineage
        _partition_date as snapshot_date,
        _source_file,
        _source_line

    from source

)

select * from renamed
