{#- Snapshots date their rows in UTC whatever the session's TimeZone: dbt-postgres takes
    `now()::timestamp`, a local wall-clock time, and the marts compare these naive timestamps with
    answers' timestamptz (`dbt_valid_from at time zone 'UTC'`). -#}
{% macro postgres__snapshot_get_time() -%}
    (now() at time zone 'UTC')
{%- endmacro %}
