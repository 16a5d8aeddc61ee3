# QBank marts for Looker. The views read the dbt marts (schema `marts`, built by dbt_qbank) and
# the calibrations the pipeline publishes; tests/bi checks every table, column, field and join
# against a database that dbt really built.
#
# Tenant isolation: every view has `tenant_id` and every explore carries an access filter on it.
# Give each Looker user the user attribute `qbank_tenant_id` (type "String filter (advanced)"):
# a tenant's id scopes them to that tenant; staff who may see every tenant get `%`.

connection: "qbank_marts"

include: "views/*.view.lkml"

# Cached results stay valid until new answers reach the marts (every dbt run moves the
# watermark of fact_responses) or for a day at most.
datagroup: qbank_marts_refresh {
  sql_trigger: SELECT max(_watermark) FROM marts.fact_responses ;;
  max_cache_age: "24 hours"
}

persist_with: qbank_marts_refresh

explore: fact_responses {
  label: "Responses"
  description: "One row per answered quiz item, with the item's statistics, its topic and its live calibration."
  access_filter: {
    field: fact_responses.tenant_id
    user_attribute: qbank_tenant_id
  }

  join: item_statistics {
    type: left_outer
    relationship: many_to_one
    sql_on: ${fact_responses.tenant_id} = ${item_statistics.tenant_id}
      AND ${fact_responses.exam_code} = ${item_statistics.exam_code}
      AND ${fact_responses.question_version_id} = ${item_statistics.question_version_id} ;;
  }

  join: topic_performance {
    type: left_outer
    relationship: many_to_one
    sql_on: ${fact_responses.tenant_id} = ${topic_performance.tenant_id}
      AND ${fact_responses.exam_code} = ${topic_performance.exam_code}
      AND ${fact_responses.topic_id} = ${topic_performance.topic_id} ;;
  }

  # At most one active set per tenant and exam code, so the join cannot fan out.
  join: item_calibrations {
    type: left_outer
    relationship: many_to_one
    sql_on: ${fact_responses.tenant_id} = ${item_calibrations.tenant_id}
      AND ${fact_responses.exam_code} = ${item_calibrations.exam_code}
      AND ${fact_responses.question_version_id} = ${item_calibrations.question_version_id}
      AND ${item_calibrations.is_active} ;;
  }
}

explore: cohort_performance {
  label: "Cohort performance"
  description: "Attempts, accuracy and active students per tenant, cohort and UTC day."
  access_filter: {
    field: cohort_performance.tenant_id
    user_attribute: qbank_tenant_id
  }
}

explore: item_statistics {
  label: "Item statistics"
  description: "Classical statistics and exposure per item version and exam code, beside the live 3PL parameters."
  access_filter: {
    field: item_statistics.tenant_id
    user_attribute: qbank_tenant_id
  }

  join: item_calibrations {
    type: left_outer
    relationship: one_to_one
    sql_on: ${item_statistics.tenant_id} = ${item_calibrations.tenant_id}
      AND ${item_statistics.exam_code} = ${item_calibrations.exam_code}
      AND ${item_statistics.question_version_id} = ${item_calibrations.question_version_id}
      AND ${item_calibrations.is_active} ;;
  }

  join: topic_performance {
    type: left_outer
    relationship: many_to_one
    sql_on: ${item_statistics.tenant_id} = ${topic_performance.tenant_id}
      AND ${item_statistics.exam_code} = ${topic_performance.exam_code}
      AND ${item_statistics.topic_id} = ${topic_performance.topic_id} ;;
  }
}

explore: topic_performance {
  label: "Topic performance"
  description: "Attempts and accuracy per topic, subtopics included."
  access_filter: {
    field: topic_performance.tenant_id
    user_attribute: qbank_tenant_id
  }
}

explore: item_calibrations {
  label: "Item calibrations"
  description: "Every calibration set the pipeline wrote (candidate, active, superseded, rejected), item by item, with the change of b against the previous live set."
  access_filter: {
    field: item_calibrations.tenant_id
    user_attribute: qbank_tenant_id
  }

  join: item_statistics {
    type: left_outer
    relationship: many_to_one
    sql_on: ${item_calibrations.tenant_id} = ${item_statistics.tenant_id}
      AND ${item_calibrations.exam_code} = ${item_statistics.exam_code}
      AND ${item_calibrations.question_version_id} = ${item_statistics.question_version_id} ;;
  }
}
