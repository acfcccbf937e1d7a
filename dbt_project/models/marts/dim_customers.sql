with

customers as (

    select * from {{ ref('stg_marketplace__customers') }}

),

versions as (

    select
        *,

        min(snapshot_date) over (partition by customer_id) as first_seen_date,

        -- The latest version wins. A change re-sent on a later day can carry the same
        -- updated_at, so the day, then the file and line it came from, settle ties: the same
        -- inputs always pick the same row, on either engine (nulls last and file names in byte
        -- order, where PostgreSQL would put nulls first and sort text by the locale).
        row_number() over (
            partition by customer_id
            order by
                updated_at desc nulls last,
                snapshot_date desc nulls last,
                {{ byte_order('_source_file') }} desc nulls last,
                _source_line desc nulls last
        ) as version_rank

    from customers

),

final as (

    select
        customer_id,
        name_token,
        email_token,
        phone_masked,
        pan_token,
        city,
        state,
        first_seen_date,
        updated_at as last_updated_at

    from versions

    where version_rank = 1

)

select * from final
