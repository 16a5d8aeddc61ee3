{#- The one definition of a *scored answer* on the data side (SPEC §4, the API's twin is
    serving_api/services/scored.py): a non-pretest answer of a tutor quiz or of a sealed exam
    (finished, expired, pool exhausted: any status but `active`). Accuracy, attempts, active
    users and percentiles count scored answers only. fact_responses calls this once and stores
    `is_scored`; every other mart filters on that column. -#}
{% macro is_scored(mode='mode', quiz_status='quiz_status', is_pretest='is_pretest') -%}
    (not {{ is_pretest }} and ({{ mode }} = 'tutor' or {{ quiz_status }} <> 'active'))
{%- endmacro %}
