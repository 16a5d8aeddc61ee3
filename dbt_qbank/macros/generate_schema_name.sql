{#- Build into exactly the schema a model names (`staging`, `marts`), not dbt's default
    `<target schema>_<custom schema>`; models without one use the target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
