{#- Typed fields from the jsonb payload of raw.events (the contract already validated them). -#}
{% macro payload_int(field, type='bigint') -%}
    (payload ->> '{{ field }}')::{{ type }}
{%- endmacro %}

{% macro payload_text(field) -%}
    (payload ->> '{{ field }}')
{%- endmacro %}

{% macro payload_bool(field) -%}
    (payload ->> '{{ field }}')::boolean
{%- endmacro %}

{% macro payload_float(field) -%}
    (payload ->> '{{ field }}')::double precision
{%- endmacro %}
