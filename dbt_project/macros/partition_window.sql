{% macro partition_window(date_column) -%}
    {#-
        `<date_column> between min_date and max_date`, the inclusive window of days a
        partitioned run rebuilds. The vars come from the orchestrator's command line, so they are
        checked to be ISO dates before they reach SQL.
    -#}
    {%- set min_date = var('min_date') | string -%}
    {%- set max_date = var('max_date') | string -%}
    {%- for name, value in [('min_date', min_date), ('max_date', max_date)] -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
            {{ exceptions.raise_compiler_error(
                "var '" ~ name ~ "' must be an ISO date (YYYY-MM-DD), got '" ~ value ~ "'"
            ) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if min_date > max_date -%}
        {{ exceptions.raise_compiler_error(
            "var 'min_date' (" ~ min_date ~ ") is after 'max_date' (" ~ max_date ~ ")"
        ) }}
    {%- endif -%}
    {{ date_column }} between date '{{ min_date }}' and date '{{ max_date }}'
{%- endmacro %}


{% macro clear_partition_window(date_column) -%}
    {#-
        Pre-hook of the daily marts. delete+insert only deletes the days present in the new batch,
        so a day whose rebuild comes out empty (every line cancelled, a bad file withdrawn) would
        keep its old rows. Clearing the whole window first makes a rebuild replace it exactly.
        Runs in the same transaction as the insert.
    -#}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ partition_window(date_column) }}
    {%- endif -%}
{%- endmacro %}
