# The calibrations the pipeline writes to item_parameter_sets / item_parameters (one row per set
# and item version; orchestration/publishing.py). The dbt project has no mart over them yet, so
# this view reads the two tables directly; when a `marts.item_calibrations` mart exists, point
# sql_table_name at it. Set-level fields come from the set's `metrics` (the pipeline's own
# numbers: anchor drift after linking, whether the link was safe, convergence, persons, exposure
# target).
view: item_calibrations {
  description: "3PL parameters (a, b, c, SEs), the Sympson-Hetter K, respondents and anchor flag per calibration set and item version, with the change of b against the previous live set."

  derived_table: {
    sql:
      SELECT
        p.set_id,
        s.tenant_id,
        s.exam_code,
        s.status,
        s.model,
        s.metric,
        s.created_by_run,
        s.checks_passed,
        s.created_at AS calibrated_at,
        s.activated_at,
        (s.metrics ->> 'drift_mean_abs_delta_b')::double precision AS set_anchor_drift,
        (s.metrics ->> 'linking_safe')::boolean AS set_linking_safe,
        (s.metrics ->> 'converged')::boolean AS set_converged,
        (s.metrics ->> 'n_persons')::integer AS set_n_persons,
        (s.metrics ->> 'n_anchors')::integer AS set_n_anchors,
        (s.metrics ->> 'r_max')::double precision AS set_r_max,
        (s.metrics ->> 'max_exposure')::double precision AS set_max_exposure,
        p.question_id,
        p.question_version_id,
        p.version,
        p.a,
        p.b,
        p.c,
        p.se_a,
        p.se_b,
        p.se_c,
        p.k,
        p.n_respondents,
        p.is_anchor,
        prev.set_id AS previous_set_id,
        prev.b AS previous_b,
        p.b - prev.b AS delta_b
      FROM public.item_parameters AS p
      JOIN public.item_parameter_sets AS s ON s.id = p.set_id
      LEFT JOIN LATERAL (
        -- The same item version in the latest earlier set that went live.
        SELECT p2.set_id, p2.b
        FROM public.item_parameters AS p2
        JOIN public.item_parameter_sets AS s2 ON s2.id = p2.set_id
        WHERE s2.tenant_id = s.tenant_id
          AND s2.exam_code = s.exam_code
          AND s2.status IN ('active', 'superseded')
          AND s2.created_at < s.created_at
          AND p2.question_version_id = p.question_version_id
        ORDER BY s2.created_at DESC, s2.id DESC
        LIMIT 1
      ) AS prev ON true ;;
  }

  dimension: parameter_key {
    primary_key: yes
    hidden: yes
    sql: ${TABLE}.set_id::text || '|' || ${TABLE}.question_version_id::text ;;
  }

  dimension: tenant_id {
    type: string
    sql: ${TABLE}.tenant_id::text ;;
  }

  dimension: exam_code {
    type: string
    sql: ${TABLE}.exam_code ;;
  }

  dimension: set_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.set_id ;;
  }

  dimension: set_status {
    description: "candidate, active, superseded or rejected."
    type: string
    sql: ${TABLE}.status ;;
  }

  dimension: is_active {
    description: "Part of the set the API serves now."
    type: yesno
    sql: ${TABLE}.status = 'active' ;;
  }

  dimension: checks_passed {
    type: yesno
    sql: ${TABLE}.checks_passed ;;
  }

  dimension: irt_model {
    type: string
    sql: ${TABLE}.model ;;
  }

  dimension: parameter_metric {
    description: "Parameter metric (logistic_D1: logistic with D = 1)."
    type: string
    sql: ${TABLE}.metric ;;
  }

  dimension: created_by_run {
    description: "The pipeline run that wrote the set."
    type: string
    sql: ${TABLE}.created_by_run ;;
  }

  dimension: set_anchor_drift {
    description: "The pipeline's drift: mean |change of b| of the anchors kept, between the live set and a free re-estimation linked onto the live scale (Stocking-Lord; null without anchors). Anchors that drifted are dropped and re-estimated; only an unsafe link blocks publishing."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.set_anchor_drift ;;
  }

  dimension: set_drift_blocks_publishing {
    description: "The link onto the live scale was unsafe (too few anchors left, too many drifting, or an implausible slope), which blocks publishing."
    type: yesno
    sql: ${TABLE}.set_linking_safe = false ;;
  }

  dimension: set_converged {
    type: yesno
    sql: ${TABLE}.set_converged ;;
  }

  dimension: set_n_persons {
    description: "Quizzes (persons) in the calibration."
    type: number
    sql: ${TABLE}.set_n_persons ;;
  }

  dimension: set_n_anchors {
    type: number
    sql: ${TABLE}.set_n_anchors ;;
  }

  dimension: set_r_max {
    description: "Target maximum exposure rate of the Sympson-Hetter procedure."
    type: number
    value_format_name: percent_1
    sql: ${TABLE}.set_r_max ;;
  }

  dimension: set_max_exposure {
    description: "Maximum exposure rate reached in the last Sympson-Hetter iteration."
    type: number
    value_format_name: percent_1
    sql: ${TABLE}.set_max_exposure ;;
  }

  dimension_group: calibrated {
    type: time
    timeframes: [raw, time, date, week, month]
    sql: ${TABLE}.calibrated_at ;;
  }

  dimension_group: activated {
    type: time
    timeframes: [raw, time, date]
    sql: ${TABLE}.activated_at ;;
  }

  dimension: question_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.question_id ;;
  }

  dimension: question_version_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.question_version_id ;;
  }

  dimension: version {
    type: number
    sql: ${TABLE}.version ;;
  }

  dimension: a {
    label: "Discrimination (a)"
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.a ;;
  }

  dimension: b {
    label: "Difficulty (b)"
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.b ;;
  }

  dimension: c {
    label: "Guessing (c)"
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.c ;;
  }

  dimension: se_a {
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.se_a ;;
  }

  dimension: se_b {
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.se_b ;;
  }

  dimension: se_c {
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.se_c ;;
  }

  dimension: exposure_k {
    label: "Sympson-Hetter K"
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.k ;;
  }

  dimension: n_respondents {
    type: number
    sql: ${TABLE}.n_respondents ;;
  }

  dimension: is_anchor {
    description: "Held fixed to keep the scale (n >= 500 and SE of b <= 0.15)."
    type: yesno
    sql: ${TABLE}.is_anchor ;;
  }

  dimension: previous_set_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.previous_set_id ;;
  }

  dimension: previous_b {
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.previous_b ;;
  }

  dimension: delta_b {
    description: "b minus b in the previous live set (null for an item new in this set). Over all items, not only anchors: new estimates of weakly measured items move more."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.delta_b ;;
  }

  measure: items {
    type: count
    drill_fields: [parameter_detail*]
  }

  measure: anchors {
    type: count
    filters: [is_anchor: "yes"]
    drill_fields: [parameter_detail*]
  }

  measure: mean_abs_delta_b {
    description: "Mean |change of b| against the previous live set over the selected items (see set_anchor_drift for the pipeline's own drift check)."
    type: average
    value_format_name: decimal_3
    sql: ABS(${delta_b}) ;;
    drill_fields: [parameter_detail*]
  }

  measure: max_abs_delta_b {
    type: max
    value_format_name: decimal_3
    sql: ABS(${delta_b}) ;;
    drill_fields: [parameter_detail*]
  }

  measure: average_a {
    type: average
    value_format_name: decimal_3
    sql: ${a} ;;
  }

  measure: average_b {
    type: average
    value_format_name: decimal_3
    sql: ${b} ;;
  }

  measure: average_se_b {
    type: average
    value_format_name: decimal_3
    sql: ${se_b} ;;
  }

  measure: total_respondents {
    type: sum
    sql: ${n_respondents} ;;
  }

  set: parameter_detail {
    fields: [tenant_id, exam_code, set_id, set_status, calibrated_date, set_anchor_drift, question_id, version, a, b, c, se_b, n_respondents, is_anchor, delta_b]
  }
}
