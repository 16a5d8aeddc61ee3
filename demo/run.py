"""`make demo`: the closed loop on the local stack, ending with a summary.

    python -m demo.run [--small]

1. the demo tenant and staff (operator step), topics and ~300 items loaded through the authoring
   API (author imports and submits, publisher approves and publishes to a fresh exam code);
2. round 1, cold start: mostly linear students plus an adaptive group, through the real API;
3. the outbox relay drains to Kafka; Dagster materializes every asset headless (ingest, dbt,
   calibration, exposure control, publish, simulation report);
4. round 2: adaptive students served with the calibrated, published parameters;
5. the summary: events, mart rows, calibration recovery, exposure, θ RMSE by round.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass

import httpx
import numpy as np
from sqlalchemy import text

from demo import setup
from demo.item_bank import generate_bank
from demo.simulator import Student, run_cohort, theta_rmse
from qbank.db import make_engine
from qbank.settings import get_settings


@dataclass(frozen=True)
class Plan:
    items: int | None
    linear_students: int
    linear_length: int
    adaptive_students: int
    adaptive_length: int
    round2_students: int
    concurrency: int
    min_respondents: int


FULL = Plan(
    items=None,
    linear_students=1100,
    linear_length=60,
    adaptive_students=250,
    adaptive_length=30,
    round2_students=300,
    concurrency=48,
    min_respondents=200,
)
SMALL = Plan(
    items=60,
    linear_students=120,
    linear_length=30,
    adaptive_students=30,
    adaptive_length=12,
    round2_students=30,
    concurrency=16,
    min_respondents=40,
)


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def wait_for_api(base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"[demo] the API at {base_url} is not ready; start it with `make api`")


def wait_outbox_drained(engine, timeout: float = 600) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as c:
            pending = c.execute(
                text("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")
            ).scalar_one()
        if pending == 0:
            return 0
        time.sleep(1)
    raise SystemExit(
        f"[demo] the outbox still has {pending} events after {timeout:.0f}s: "
        "is the relay running (`make up` starts it)?"
    )


def run_pipeline(plan: Plan) -> None:
    """Every asset, headless, in the instance the UI also reads: the marts once, then one
    calibration run per exam code (`orchestration.nightly.run_nightly`)."""
    from orchestration.nightly import run_nightly

    say("nightly: ingest → dbt → one run per exam code (calibrate → exposure → publish → report)")
    result = run_nightly(
        get_settings(),
        ops={
            "item_calibration": {"min_respondents": plan.min_respondents},
            # Sympson-Hetter simulates quizzes of the length students take.
            "exposure_control": {"test_length": plan.adaptive_length},
        },
    )
    print(result.table(), flush=True)
    if result.failed:
        raise SystemExit(f"[demo] calibration runs failed: {[o.partition for o in result.failed]}")


def wait_active_set(engine, tenant_id, exam_code: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as c:
            set_id = c.execute(
                text(
                    "SELECT max(set_id) FROM live_item_parameters "
                    "WHERE tenant_id=:t AND exam_code=:e"
                ),
                {"t": tenant_id, "e": exam_code},
            ).scalar()
        if set_id:
            return set_id
        time.sleep(0.5)
    raise SystemExit(f"[demo] no active parameter set for {exam_code} after the pipeline ran")


def students_for(client, engine, tenant_id, prefix: str, n: int, thetas_seed: int) -> list[Student]:
    emails = setup.create_students(engine, tenant_id, prefix, n)
    tokens = setup.mock_tokens(client, emails)
    thetas = np.random.default_rng(thetas_seed).normal(0, 1, n)
    return [Student(token=t, theta=float(th)) for t, th in zip(tokens, thetas, strict=True)]


def quiz_body(exam_code: str, adaptive: bool, length: int, mode: str) -> dict:
    return {"mode": mode, "adaptive": adaptive, "exam_code": exam_code, "num_questions": length}


def summary(
    engine, analytics_engine, tenant_id, exam_code: str, truth, r1_adaptive, r2, enough: int
) -> dict:
    """The closing figures; `enough` responses make an item count for calibration recovery
    (200 in the full demo). Raw events and marts are read where they live (the analytics
    database when ANALYTICS_DATABASE_URL is set), quizzes and parameters on the serving one."""
    with engine.connect() as c:
        quiz_ids = list(
            c.execute(
                text("SELECT id FROM quiz_sessions WHERE tenant_id=:t AND exam_code=:e"),
                {"t": tenant_id, "e": exam_code},
            ).scalars()
        )
    with analytics_engine.connect() as c:
        events = c.execute(
            text("SELECT count(*) FROM raw.events WHERE quiz_id = ANY(:q)"), {"q": quiz_ids}
        ).scalar_one()
        mart_rows = c.execute(
            text("SELECT count(*) FROM marts.fact_responses WHERE tenant_id=:t AND exam_code=:e"),
            {"t": tenant_id, "e": exam_code},
        ).scalar_one()
        counts = dict(
            c.execute(
                text(
                    "SELECT question_id, count(*) FROM marts.fact_responses WHERE tenant_id=:t "
                    "AND exam_code=:e GROUP BY question_id"
                ),
                {"t": tenant_id, "e": exam_code},
            ).all()
        )
    with engine.connect() as c:
        params = c.execute(
            text(
                "SELECT question_id, b, k FROM live_item_parameters "
                "WHERE tenant_id=:t AND exam_code=:e"
            ),
            {"t": tenant_id, "e": exam_code},
        ).all()
        r2_exposure = c.execute(
            text(
                "WITH r2 AS (SELECT q.id FROM quiz_sessions q JOIN users u ON u.id = q.user_id "
                "WHERE q.exam_code=:e AND u.email LIKE :p) "
                "SELECT max(n)::float / (SELECT count(*) FROM r2), avg(n)::float / (SELECT count(*) FROM r2) "
                "FROM (SELECT count(*) n FROM quiz_items i JOIN r2 ON r2.id = i.quiz_id "
                "GROUP BY i.question_id) x"
            ),
            {"e": exam_code, "p": f"{exam_code.lower()}-r2-%"},
        ).one()
    well = [(b, truth[q].b) for q, b, _ in params if counts.get(q, 0) >= enough and q in truth]
    corr = float(np.corrcoef(np.array(well).T)[0, 1]) if len(well) > 2 else float("nan")
    return {
        "exam_code": exam_code,
        "events": events,
        "fact_responses_rows": mart_rows,
        "items": len(truth),
        f"items_with_{enough}+_responses": sum(1 for q in truth if counts.get(q, 0) >= enough),
        "calibrated_items": len(params),
        f"b_correlation_items_{enough}+": round(corr, 3),
        "min_K": round(min((k for *_, k in params), default=1.0), 3),
        "round2_max_exposure": round(r2_exposure[0] or 0, 3),
        "round2_mean_exposure": round(r2_exposure[1] or 0, 3),
        "theta_rmse_round1_adaptive": round(theta_rmse(r1_adaptive), 3),
        "theta_rmse_round2_adaptive": round(theta_rmse(r2), 3),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--small", action="store_true", help="a reduced demo (the CI end-to-end test)")
    ap.add_argument("--api-url", default=None)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    plan = SMALL if args.small else FULL
    settings = get_settings()
    base = args.api_url or f"http://127.0.0.1:{settings.api_port}"
    engine = make_engine(settings)
    started = time.monotonic()

    wait_for_api(base)
    tenant_id = setup.ensure_tenant(engine)
    exam_code = setup.next_exam_code(engine)
    cleared = setup.new_exposure_day(settings.redis_url, settings.redis_namespace, tenant_id)
    if cleared:
        say(f"a new exposure day for the demo tenant: {cleared} counters of earlier runs cleared")
    topics, items = generate_bank(args.seed, plan.items)
    with httpx.Client(base_url=base, timeout=120) as client:
        tokens = {role: setup.login(client, email) for role, (email, *_rest) in setup.STAFF.items()}
        topic_ids = setup.ensure_topics(client, tokens["author"], topics)
        say(f"loading {len(items)} items through the authoring API into exam code {exam_code}")
        truth = setup.load_bank(client, tokens, items, topic_ids, exam_code)
        prefix = exam_code.lower()
        linear = students_for(
            client, engine, tenant_id, f"{prefix}-r1l", plan.linear_students, args.seed + 1
        )
        adaptive = students_for(
            client, engine, tenant_id, f"{prefix}-r1a", plan.adaptive_students, args.seed + 2
        )
        round2 = students_for(
            client, engine, tenant_id, f"{prefix}-r2", plan.round2_students, args.seed + 3
        )

    marks = {"setup": time.monotonic()}
    bodies = [
        quiz_body(exam_code, False, plan.linear_length, "exam" if i % 3 == 0 else "tutor")
        for i in range(len(linear))
    ]
    bodies += [quiz_body(exam_code, True, plan.adaptive_length, "tutor") for _ in adaptive]
    r1 = asyncio.run(
        run_cohort(
            base,
            linear + adaptive,
            bodies,
            truth,
            concurrency=plan.concurrency,
            seed=args.seed + 10,
            label="round 1 (cold start)",
        )
    )
    r1_adaptive = [o for o in r1 if o.adaptive]
    marks["round 1"] = time.monotonic()

    say("waiting for the outbox relay to publish every event to Kafka")
    wait_outbox_drained(engine)
    marks["outbox drained"] = time.monotonic()
    run_pipeline(plan)
    set_id = wait_active_set(engine, tenant_id, exam_code)
    marks["pipeline"] = time.monotonic()
    say(f"parameter set {set_id} is live for {exam_code}")
    time.sleep(1.0)  # the API reloads on NOTIFY; give it a moment

    r2 = asyncio.run(
        run_cohort(
            base,
            round2,
            [quiz_body(exam_code, True, plan.adaptive_length, "tutor") for _ in round2],
            truth,
            concurrency=plan.concurrency,
            seed=args.seed + 20,
            label="round 2 (calibrated)",
        )
    )
    marks["round 2"] = time.monotonic()
    wait_outbox_drained(engine)

    analytics_engine = (
        make_engine(settings.model_copy(update={"database_url": settings.analytics_url}))
        if settings.analytics_separate
        else engine
    )
    result = summary(
        engine, analytics_engine, tenant_id, exam_code, truth, r1_adaptive, r2,
        plan.min_respondents,
    )  # fmt: skip
    result["minutes"] = round((time.monotonic() - started) / 60, 1)
    previous, phases = started, []
    for name, at in marks.items():
        phases.append(f"{name} {at - previous:.0f}s")
        previous = at
    result["phases"] = ", ".join(phases)
    print("\n=== QBank demo summary ===")
    for k, v in result.items():
        print(f"{k:<32} {v}")
    print(f"""
Where to look:
  API docs        {base}/docs
  student page    {base}/   (log in as {setup.STAFF["student"][0]} / {setup.DEMO_PASSWORD},
                  organisation {setup.TENANT_SLUG}, exam code {exam_code})
  Dagster UI      make ui   → http://127.0.0.1:{settings.dagster_port} (runs above are in it)
""")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
