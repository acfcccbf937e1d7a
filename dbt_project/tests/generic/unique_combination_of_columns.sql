{% test unique_combination_of_columns(model, combination_of_columns) %}
{#-
    Fails on every combination of the columns that occurs more than once: the grain test of a
    model whose key spans several columns. Same contract as dbt_utils' test of this name, which
    the platform cannot install.
-#}
{%- set columns_csv = combination_of_columns | join(', ') %}

select
    {{ columns_csv }},
    count(*) as n_rows

from {{ model }}

group by {{ columns_csv }}

having count(*) > 1

{% endtest %}
