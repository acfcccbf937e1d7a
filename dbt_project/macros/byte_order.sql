{% macro byte_order(column) -%}
    {#-
        The text column compared byte by byte, for a sort that must pick the same row on every
        engine. DuckDB compares bytes already; PostgreSQL sorts by the database's collation
        (en_US puts 'a.csv' before 'B.csv', bytes the other way), so it gets the C collation.
    -#}
    {{ return(adapter.dispatch('byte_order', 'etl_platform')(column)) }}
{%- endmacro %}


{% macro default__byte_order(column) -%}
    {{ column }}
{%- endmacro %}


{% macro postgres__byte_order(column) -%}
    {{ column }} collate "C"
{%- endmacro %}
