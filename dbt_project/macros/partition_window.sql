{% macro partition_window(date_column) -%}
    {#-
        `<date_column> between min_date and max_date`, the inclusive window of days a
        partitioned run rebuilds: the vars `min_date`/`max_date` when given (a hand-run
        `dbt build --vars ...`, the unit tests), else ETL_MIN_DATE/ETL_MAX_DATE, which the
        orchestrator sets (vars that change every run would make dbt re-parse the whole project
        every run; an environment variable read only here, at run time, does not), else all
        time. Either way they are checked to be ISO dates before they reach SQL.
    -#}
    {%- set min_date = (var('min_date', none) or env_var('ETL_MIN_DATE', '1900-01-01')) | string -%}
    {%- set max_date = (var('max_date', none) or env_var('ETL_MAX_DATE', '2999-12-31')) | string -%}
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
