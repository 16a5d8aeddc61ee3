view: cohort_performance {
  sql_table_name: marts.cohort_performance ;;
  description: "Attempts, accuracy and active students per tenant, cohort and UTC day."

  dimension: cohort_day_key {
    primary_key: yes
    hidden: yes
    sql: ${TABLE}.tenant_id::text || '|' || ${TABLE}.cohort || '|' || ${TABLE}.day::text ;;
  }

  dimension: tenant_id {
    type: string
    sql: ${TABLE}.tenant_id::text ;;
  }

  dimension: cohort {
    type: string
    sql: ${TABLE}.cohort ;;
  }

  # `day` is already a UTC date: no time zone conversion.
  dimension_group: activity {
    type: time
    datatype: date
    convert_tz: no
    timeframes: [raw, date, day_of_week, week, month, quarter, year]
    sql: ${TABLE}.day ;;
  }

  dimension: daily_attempts {
    type: number
    sql: ${TABLE}.attempts ;;
  }

  dimension: daily_accuracy {
    type: number
    value_format_name: percent_1
    sql: ${TABLE}.accuracy ;;
  }

  dimension: daily_active_students {
    type: number
    sql: ${TABLE}.active_users ;;
  }

  dimension: daily_mean_time_seconds {
    type: number
    value_format_name: decimal_1
    sql: ${TABLE}.mean_time_ms / 1000.0 ;;
  }

  measure: attempts {
    type: sum
    sql: ${TABLE}.attempts ;;
    drill_fields: [cohort_day*]
  }

  measure: correct_answers {
    type: sum
    sql: ${TABLE}.correct ;;
    drill_fields: [cohort_day*]
  }

  measure: accuracy {
    description: "Correct answers over attempts (weighted by attempts, not an average of daily rates)."
    type: number
    value_format_name: percent_1
    sql: 1.0 * ${correct_answers} / NULLIF(${attempts}, 0) ;;
    drill_fields: [cohort_day*]
  }

  measure: average_time_seconds {
    description: "Mean time per answer, weighted by each day's attempts."
    type: number
    value_format_name: decimal_1
    sql: SUM(${TABLE}.mean_time_ms * ${TABLE}.attempts) / NULLIF(${attempts}, 0) / 1000.0 ;;
  }

  measure: quizzes {
    type: sum
    sql: ${TABLE}.quizzes ;;
  }

  # Daily active counts cannot be added up into distinct students (a student active on two
  # days would count twice): use the Responses explore's distinct_students for that.
  measure: peak_daily_active_students {
    type: max
    sql: ${TABLE}.active_users ;;
    drill_fields: [cohort_day*]
  }

  measure: student_days {
    description: "Sum of daily active students (a student active on two days counts twice)."
    type: sum
    sql: ${TABLE}.active_users ;;
  }

  measure: cohort_days {
    type: count
    drill_fields: [cohort_day*]
  }

  set: cohort_day {
    fields: [tenant_id, cohort, activity_date, daily_attempts, daily_accuracy, daily_active_students]
  }
}
