{% macro get_where_subquery(relation) -%}
    {#-
        What a data test reads of the model it tests (dbt's hook for the `where` config). A test
        of a daily mart or a staging view reads only the run's days, the window of
        `partition_window` on the model's date column: a day's run would otherwise scan the whole
        history of every model it tested, once per test, so a test's cost grew with the days
        kept instead of with the days built. Their tests hold per day (every grain includes the
        date). A test's own `where` applies too. Without a window (a plain build) or with
        `--full-refresh`, every day is read.
    -#}
    {%- if not execute -%}
        {%- do return(relation) -%}  {#- parsing: the graph is not there yet -#}
    {%- endif -%}
    {%- set filters = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do filters.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set date_column = window_column(relation) -%}
    {%- if date_column and not flags.FULL_REFRESH -%}
        {%- do filters.append(partition_window(date_column)) -%}
    {%- endif -%}
    {%- if filters -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ filters | join(' and ') ~ ') dbt_subquery') -%}
    {%- endif -%}
    {%- do return(relation) -%}
{%- endmacro %}


{% macro window_column(relation) -%}
    {#-
        The date column a test of `relation` is windowed on, when `relation` is the model the
        test is attached to: its `meta.window_column` (the staging views), else the
        `unique_key` of a daily mart. None otherwise: a relationships test's parent, a
        dimension, a singular test.
    -#}
    {%- set attached = graph.nodes.get(model.get('attached_node') or '') -%}
    {%- if not attached or attached.alias | lower != relation.identifier | lower -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set declared = attached.config.meta.get('window_column') -%}
    {%- if declared -%}
        {%- do return(declared) -%}
    {%- elif 'partitioned_daily' in attached.tags -%}
        {%- do return(attached.config.unique_key) -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}
