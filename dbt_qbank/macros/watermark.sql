{#- Incremental models over raw.events use `load_id` as the watermark: it is drawn inside each
    loader transaction under an advisory lock, so it becomes visible in increasing order and
    `load_id > max(seen)` never skips a row. The value is read at compile time and inlined as a
    literal, so PostgreSQL plans the range scan with real statistics (a subquery would be estimated
    at a third of the table and turn index lookups into sequential scans). -#}

{% macro max_of(relation, column) -%}
    {%- if execute -%}
        {%- set result = run_query("select coalesce(max(" ~ column ~ "), 0) from " ~ relation) -%}
        {{- result.columns[0].values()[0] | int -}}
    {%- else -%}
        0
    {%- endif -%}
{%- endmacro %}


{% macro after_watermark(column='load_id') -%}
    {%- if is_incremental() %}
    and {{ column }} > {{ max_of(this, column) }}
    {%- endif -%}
{%- endmacro %}


{#- 'true' when `relation` has `column` (read at run time; 'true' when not executing). -#}
{% macro has_column(relation, column) -%}
    {%- if execute -%}
        {{- column in (adapter.get_columns_in_relation(relation) | map(attribute='name') | list) -}}
    {%- else -%}
        True
    {%- endif -%}
{%- endmacro %}
