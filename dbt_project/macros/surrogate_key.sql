{% macro surrogate_key(columns) -%}
    {#-
        md5 of the key columns as text, joined by '|'. A null becomes its own marker so that
        (null, 'a') and ('', 'a') get different keys. Written here because the platform installs
        no dbt packages (no dbt_utils.generate_surrogate_key).
    -#}
    md5(
        {%- for column in columns %}
        coalesce(cast({{ column }} as varchar), '_null_')
        {%- if not loop.last %} || '|' ||{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
