"""A small, realistic history for the BI checks: two tenants, cohorts, several days of linear,
adaptive and pretest quizzes with changed answers, a revised item, and calibration sets whose
b parameters move between runs (so drift has something to show).

Content and events come from `bench.synthetic` (the same generator the dbt tests use); the events
land in raw.events through the real loader, and the calibrations are written the way the pipeline
writes them (`item_parameter_sets` / `item_parameters`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from bench.synthetic import SynthBank, SynthItem, add_item_version, create_bank, quiz_events
from qbank.db import session_scope
from qbank.models import ItemParameter, ItemParameterSet
from tests.support.dbt import DbtDatabase


@dataclass
class BiSeed:
    main: SynthBank  # two calibrated sets live one after the other, a rejected third
    other: SynthBank  # a second tenant, to prove everything is per tenant
    revised: SynthItem  # version 2 of an item of `main`


def _day(d: int, hour: int = 8) -> datetime:
    return datetime(2026, 1, d, hour, 0, tzinfo=UTC)


def _parameter_set(
    db: DbtDatabase,
    bank: SynthBank,
    items: list[SynthItem],
    *,
    status: str,
    created: datetime,
    noise: float,
    seed: int,
    drift: float | None = None,
) -> int:
    """A calibration set: the true a, b, c plus estimation noise, SEs, anchors, and the
    set-level metrics `orchestration.publishing` stores."""
    rng = np.random.default_rng(seed)
    with session_scope(db.engine) as s:
        live = status in ("active", "superseded")
        pset = ItemParameterSet(
            tenant_id=bank.tenant_id,
            exam_code=bank.exam_code,
            status=status,
            created_by_run=f"bi-seed-{uuid.uuid4().hex[:8]}",
            checks_passed=live,
            metrics={
                "converged": True,
                "iterations": int(rng.integers(20, 60)),
                "n_persons": int(rng.integers(40, 80)),
                "n_items_calibrated": len(items),
                "n_anchors": 4 if drift is not None else 0,
                "drift_mean_abs_delta_b": drift,
                "r_max": 0.25,
                "max_exposure": 0.24,
                "checks": {"drift": {"passed": live, "description": "seeded"}},
            },
            created_at=created,
            activated_at=created if live else None,
        )
        s.add(pset)
        s.flush()
        for i, it in enumerate(items):
            n = int(rng.integers(80, 700))
            se_b = float(0.9 / np.sqrt(n) * 3)
            s.add(
                ItemParameter(
                    set_id=pset.id,
                    question_version_id=it.question_version_id,
                    question_id=it.question_id,
                    version=it.version,
                    a=max(0.2, it.a + float(rng.normal(0, noise / 2))),
                    b=it.b + float(rng.normal(0, noise)),
                    c=min(0.35, max(0.0, it.c + float(rng.normal(0, 0.02)))),
                    se_a=se_b / 2,
                    se_b=se_b,
                    se_c=0.03,
                    k=float(np.clip(1.1 - 0.1 * i, 0.3, 1.0)),
                    n_respondents=n,
                    is_anchor=bool(n >= 500 and se_b <= 0.15),
                )
            )
        return pset.id


def seed_history(db: DbtDatabase) -> BiSeed:
    main = create_bank(
        db.engine,
        n_items=24,
        n_users=18,
        exam_code="STEP1",
        cohorts=("2026-spring", "2026-fall", "2026-winter"),
        seed=21,
        slug="bi-acme-med",
    )
    other = create_bank(
        db.engine,
        n_items=12,
        n_users=6,
        exam_code="BOARDS",
        cohorts=("residents",),
        seed=22,
        slug="bi-beta-prep",
    )
    mix = {"adaptive_share": 0.3, "pretest_share": 0.125, "revise_share": 0.2}
    events = []
    for n, day in enumerate((5, 6, 8)):
        events += quiz_events(
            main, n_quizzes=16, items_per_quiz=8, seed=100 + n, start=_day(day), **mix
        )
    revised = add_item_version(db.engine, main, 0, b_shift=0.5)
    events += quiz_events(main, n_quizzes=16, items_per_quiz=8, seed=110, start=_day(12), **mix)
    events += quiz_events(other, n_quizzes=30, items_per_quiz=6, seed=120, start=_day(6, 9))
    db.load(events)

    v1_items = [it for it in main.items if it.version == 1]
    _parameter_set(db, main, v1_items, status="superseded", created=_day(7, 3), noise=0.25, seed=1)
    _parameter_set(
        db, main, main.items, status="active", created=_day(10, 3), noise=0.25, seed=2, drift=0.12
    )
    _parameter_set(
        db, main, main.items, status="rejected", created=_day(13, 3), noise=0.8, seed=3, drift=0.41
    )
    _parameter_set(db, other, other.items, status="active", created=_day(9, 3), noise=0.3, seed=4)
    return BiSeed(main=main, other=other, revised=revised)
