view: fact_responses {
  sql_table_name: marts.fact_responses ;;
  description: "One row per answered quiz item: the last answer (highest revision), with the quiz's and the served item's context."

  dimension: response_key {
    primary_key: yes
    hidden: yes
    sql: ${TABLE}.quiz_id::text || '#' || ${TABLE}.position::text ;;
  }

  # UUIDs as text, so every string filter (=, LIKE, lists) works on them, access filters included.
  dimension: tenant_id {
    type: string
    sql: ${TABLE}.tenant_id::text ;;
  }

  dimension: user_id {
    label: "Student ID"
    type: string
    sql: ${TABLE}.user_id::text ;;
  }

  dimension: cohort {
    type: string
    sql: ${TABLE}.cohort ;;
  }

  dimension: quiz_id {
    type: string
    sql: ${TABLE}.quiz_id::text ;;
  }

  dimension: exam_code {
    type: string
    sql: ${TABLE}.exam_code ;;
  }

  dimension: mode {
    description: "tutor or exam"
    type: string
    sql: ${TABLE}.mode ;;
  }

  dimension: is_adaptive {
    type: yesno
    sql: ${TABLE}.adaptive ;;
  }

  dimension: question_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.question_id ;;
  }

  dimension: question_version_id {
    description: "The exact version served (and graded against)."
    type: number
    value_format_name: id
    sql: ${TABLE}.question_version_id ;;
  }

  dimension: version {
    type: number
    sql: ${TABLE}.version ;;
  }

  dimension: topic_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.topic_id ;;
  }

  dimension: position {
    description: "1-based position of the item in the quiz."
    type: number
    sql: ${TABLE}.position ;;
  }

  dimension: is_pretest {
    description: "Unscored pretest item (being calibrated)."
    type: yesno
    sql: ${TABLE}.is_pretest ;;
  }

  dimension: is_correct {
    type: yesno
    sql: ${TABLE}.is_correct ;;
  }

  # Lineage: which parameter set (and which a, b, c) chose and scored the served item.
  dimension: parameter_set_id {
    description: "The item parameter set whose a, b, c chose and scored the item; empty for cold-start defaults and for answers from before lineage was recorded."
    type: number
    value_format_name: id
    sql: ${TABLE}.parameter_set_id ;;
  }

  dimension: served_with_cold_start_defaults {
    description: "Served without calibrated parameters (a = 1, b from the difficulty label, c = 1/options); empty before lineage was recorded."
    type: yesno
    sql: ${TABLE}.parameter_set_id IS NULL AND ${TABLE}.a_used IS NOT NULL ;;
  }

  dimension: a_used {
    label: "a used"
    description: "Discrimination the item was served and scored with."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.a_used ;;
  }

  dimension: b_used {
    label: "b used"
    description: "Difficulty the item was served and scored with."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.b_used ;;
  }

  dimension: c_used {
    label: "c used"
    description: "Guessing parameter the item was served and scored with."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.c_used ;;
  }

  dimension: selected_label {
    type: string
    sql: ${TABLE}.selected_label ;;
  }

  dimension: revision {
    description: "1 for a first answer; higher when a marked item was answered again."
    type: number
    sql: ${TABLE}.revision ;;
  }

  dimension: answer_changed {
    type: yesno
    sql: ${TABLE}.revision > 1 ;;
  }

  dimension: time_taken_ms {
    hidden: yes
    type: number
    sql: ${TABLE}.time_taken_ms ;;
  }

  dimension: time_taken_seconds {
    type: number
    value_format_name: decimal_1
    sql: ${time_taken_ms} / 1000.0 ;;
  }

  dimension_group: answered {
    description: "When the (last) answer was submitted."
    type: time
    timeframes: [raw, time, hour_of_day, date, day_of_week, week, month, quarter, year]
    sql: ${TABLE}.ts ;;
  }

  measure: attempts {
    description: "Answered items."
    type: count
    drill_fields: [response_detail*]
  }

  measure: correct_answers {
    type: count
    filters: [is_correct: "yes"]
    drill_fields: [response_detail*]
  }

  measure: accuracy {
    description: "Share of answered items answered correctly."
    type: number
    value_format_name: percent_1
    sql: 1.0 * ${correct_answers} / NULLIF(${attempts}, 0) ;;
    drill_fields: [response_detail*]
  }

  measure: average_time_seconds {
    type: average
    value_format_name: decimal_1
    sql: ${time_taken_seconds} ;;
    drill_fields: [response_detail*]
  }

  measure: median_time_seconds {
    type: median
    value_format_name: decimal_1
    sql: ${time_taken_seconds} ;;
  }

  measure: distinct_students {
    type: count_distinct
    sql: ${user_id} ;;
    drill_fields: [student_detail*]
  }

  measure: quizzes {
    type: count_distinct
    sql: ${quiz_id} ;;
    drill_fields: [student_detail*]
  }

  measure: distinct_items {
    type: count_distinct
    sql: ${question_version_id} ;;
  }

  measure: changed_answers {
    type: count
    filters: [answer_changed: "yes"]
    drill_fields: [response_detail*]
  }

  set: response_detail {
    fields: [answered_time, tenant_id, cohort, user_id, quiz_id, exam_code, mode, is_adaptive, position, question_id, version, is_pretest, is_correct, time_taken_seconds]
  }

  set: student_detail {
    fields: [tenant_id, cohort, user_id, quizzes, attempts, accuracy]
  }
}
