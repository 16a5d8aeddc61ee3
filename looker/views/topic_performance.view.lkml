view: topic_performance {
  sql_table_name: marts.topic_performance ;;
  description: "Attempts and accuracy per tenant, exam code and topic; a topic includes its subtopics."

  dimension: topic_key {
    primary_key: yes
    hidden: yes
    sql: ${TABLE}.tenant_id::text || '|' || ${TABLE}.exam_code || '|' || ${TABLE}.topic_id::text ;;
  }

  dimension: tenant_id {
    type: string
    sql: ${TABLE}.tenant_id::text ;;
  }

  dimension: exam_code {
    type: string
    sql: ${TABLE}.exam_code ;;
  }

  dimension: topic_id {
    type: number
    value_format_name: id
    sql: ${TABLE}.topic_id ;;
  }

  dimension: topic_name {
    type: string
    sql: ${TABLE}.topic_name ;;
  }

  dimension: topic_path {
    description: "ltree path of topic ids from the root (t1.t4)."
    type: string
    sql: ${TABLE}.topic_path ;;
  }

  dimension: depth {
    description: "1 for a root topic."
    type: number
    sql: ${TABLE}.depth ;;
  }

  dimension: is_root_topic {
    type: yesno
    sql: ${TABLE}.depth = 1 ;;
  }

  dimension: blueprint_code {
    type: string
    sql: ${TABLE}.blueprint_code ;;
  }

  dimension: topic_attempts {
    description: "Answers to the topic's items and its subtopics' items."
    type: number
    sql: ${TABLE}.attempts ;;
  }

  dimension: topic_accuracy {
    type: number
    value_format_name: percent_1
    sql: ${TABLE}.accuracy ;;
  }

  dimension: topic_students {
    type: number
    sql: ${TABLE}.students ;;
  }

  dimension: direct_attempts {
    description: "Answers to the topic's own items (subtopics excluded)."
    type: number
    sql: ${TABLE}.direct_attempts ;;
  }

  dimension: mean_time_seconds {
    type: number
    value_format_name: decimal_1
    sql: ${TABLE}.mean_time_ms / 1000.0 ;;
  }

  # A topic's rows include its subtopics: add these measures up over one level of the tree
  # (filter on depth) or over leaf topics, not across a parent and its children.
  measure: attempts {
    type: sum
    sql: ${TABLE}.attempts ;;
    drill_fields: [topic_detail*]
  }

  measure: correct_answers {
    type: sum
    sql: ${TABLE}.correct ;;
  }

  measure: accuracy {
    type: number
    value_format_name: percent_1
    sql: 1.0 * ${correct_answers} / NULLIF(${attempts}, 0) ;;
    drill_fields: [topic_detail*]
  }

  measure: average_time_seconds {
    type: number
    value_format_name: decimal_1
    sql: SUM(${TABLE}.mean_time_ms * ${TABLE}.attempts) / NULLIF(${attempts}, 0) / 1000.0 ;;
  }

  measure: max_students {
    description: "Distinct students of the busiest selected topic."
    type: max
    sql: ${TABLE}.students ;;
  }

  measure: topics {
    type: count
    drill_fields: [topic_detail*]
  }

  set: topic_detail {
    fields: [tenant_id, exam_code, topic_name, topic_path, depth, topic_attempts, topic_accuracy, topic_students]
  }
}
