with

products as (

    select * from {{ ref('stg_marketplace__products') }}

),

versions as (

    select
        *,

        min(snapshot_date) over (partition by product_id) as first_seen_date,

        -- Same tie-breaks as dim_customers, sorted the same way on both engines: latest
        -- change, then latest day, file and line.
        row_number() over (
            partition by product_id
            order by
                updated_at desc nulls last,
                snapshot_date desc nulls last,
                {{ byte_order('_source_file') }} desc nulls last,
                _source_line desc nulls last
        ) as version_rank

    from products

),

final as (

    select
        product_id,
        product_name,
        category,
        price_inr,
        first_seen_date,
        updated_at as last_updated_at

    from versions

    where version_rank = 1

)

select * from final
