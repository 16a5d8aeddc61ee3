view: item_statistics {
  sql_table_name: marts.item_statistics ;;
  description: "Classical statistics per item version and exam code over linear and pretest responses; adaptive counts beside; exposure rate."

  dimension: item_key {
    primary_key: yes
    hidden: yes
    sql: ${TABLE}.tenant_id::text || '|' || ${TABLE}.exam_code || '|' || ${TABLE}.question_version_id::text ;;
  }

  dimension: tenant_id {
    type: string
    sql: ${TABLE}.tenant_id::text ;;
  }

  dimension: exam_code {
    type: string
    sql: ${TABLE}.exam_code ;;
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

  dimension: topic_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.topic_id ;;
  }

  dimension: linear_attempts {
    description: "Linear and pretest answers (the classical statistics use these only)."
    type: number
    sql: ${TABLE}.attempts ;;
  }

  dimension: linear_correct {
    type: number
    sql: ${TABLE}.correct ;;
  }

  dimension: p_value {
    description: "Proportion correct over linear and pretest answers."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.p_value ;;
  }

  dimension: difficulty_band {
    type: string
    sql: CASE
           WHEN ${p_value} IS NULL THEN 'no linear answers'
           WHEN ${p_value} < 0.3 THEN 'hard'
           WHEN ${p_value} < 0.7 THEN 'medium'
           ELSE 'easy'
         END ;;
  }

  dimension: point_biserial {
    description: "Corrected item-rest correlation."
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.point_biserial ;;
  }

  dimension: is_weak_discriminator {
    description: "Point-biserial below 0.1: review the item."
    type: yesno
    sql: ${point_biserial} < 0.1 ;;
  }

  dimension: mean_time_seconds {
    type: number
    value_format_name: decimal_1
    sql: ${TABLE}.mean_time_ms / 1000.0 ;;
  }

  dimension: adaptive_attempts {
    type: number
    sql: ${TABLE}.adaptive_attempts ;;
  }

  dimension: adaptive_p_value {
    type: number
    value_format_name: decimal_3
    sql: ${TABLE}.adaptive_p_value ;;
  }

  dimension: times_served {
    type: number
    sql: ${TABLE}.times_served ;;
  }

  dimension: times_served_pretest {
    type: number
    sql: ${TABLE}.times_served_pretest ;;
  }

  dimension: exposure_rate {
    description: "Quizzes that served the version over quizzes started for the exam code."
    type: number
    value_format_name: percent_1
    sql: ${TABLE}.exposure_rate ;;
  }

  measure: items {
    type: count
    drill_fields: [item_detail*]
  }

  measure: attempts {
    description: "Linear and pretest answers."
    type: sum
    sql: ${TABLE}.attempts ;;
    drill_fields: [item_detail*]
  }

  measure: correct_answers {
    type: sum
    sql: ${TABLE}.correct ;;
  }

  measure: pooled_p_value {
    description: "Correct over attempts across the selected items."
    type: number
    value_format_name: percent_1
    sql: 1.0 * ${correct_answers} / NULLIF(${attempts}, 0) ;;
    drill_fields: [item_detail*]
  }

  measure: average_p_value {
    type: average
    value_format_name: decimal_3
    sql: ${p_value} ;;
    drill_fields: [item_detail*]
  }

  measure: average_point_biserial {
    type: average
    value_format_name: decimal_3
    sql: ${point_biserial} ;;
    drill_fields: [item_detail*]
  }

  measure: average_time_seconds {
    description: "Mean time per linear answer, weighted by attempts."
    type: number
    value_format_name: decimal_1
    sql: SUM(${TABLE}.mean_time_ms * ${TABLE}.attempts) / NULLIF(${attempts}, 0) / 1000.0 ;;
  }

  measure: total_adaptive_attempts {
    type: sum
    sql: ${TABLE}.adaptive_attempts ;;
  }

  measure: max_exposure_rate {
    type: max
    value_format_name: percent_1
    sql: ${exposure_rate} ;;
    drill_fields: [item_detail*]
  }

  measure: average_exposure_rate {
    type: average
    value_format_name: percent_1
    sql: ${exposure_rate} ;;
  }

  set: item_detail {
    fields: [tenant_id, exam_code, question_id, version, topic_id, linear_attempts, p_value, point_biserial, adaptive_attempts, times_served, exposure_rate]
  }
}
