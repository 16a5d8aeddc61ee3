"""The main job, reduced: `python -m demo.run --small` closes the whole loop on this run's stack.

Bank through the authoring API → students over HTTP → outbox relay → Kafka → Dagster (ingest,
dbt, calibration, exposure control, publish, report) → the API serves the calibrated set →
round 2. The relay and the dev-mode API are tests/e2e/conftest.py's.
"""

from __future__ import annotations

from sqlalchemy import text

from demo import run as demo_run


def test_small_demo_closes_the_loop(dev_api, relay, engine):
    result = demo_run.main(["--small", "--api-url", dev_api.url])

    plan = demo_run.SMALL
    answers = (
        plan.linear_students * plan.linear_length + plan.adaptive_students * plan.adaptive_length
    )
    assert result["fact_responses_rows"] == answers  # round 1, ingested once each
    assert result["events"] >= 2 * answers
    assert result["calibrated_items"] > 0
    assert result[f"items_with_{plan.min_respondents}+_responses"] > 0
    assert result["round2_max_exposure"] > 0

    with engine.connect() as c:
        active = c.execute(
            text("SELECT count(*) FROM item_parameter_sets WHERE status='active' AND exam_code=:e"),
            {"e": result["exam_code"]},
        ).scalar_one()
        # Round 2 was served with the calibrated parameters, picked up without an API restart.
        round2 = c.execute(
            text(
                "SELECT bool_and(i.calibrated OR i.is_pretest), count(*) FROM quiz_items i "
                "JOIN quiz_sessions q ON q.id = i.quiz_id JOIN users u ON u.id = q.user_id "
                "WHERE u.email LIKE :p"
            ),
            {"p": f"{result['exam_code'].lower()}-r2-%"},
        ).one()
    assert active == 1
    assert round2[1] == plan.round2_students * plan.adaptive_length
    assert round2[0] is True
