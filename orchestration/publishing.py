"""Making a parameter set live for the serving API, atomically and versioned.

A set is written with its items and, when every check passed, activated in the same
transaction: the previous active set of the (tenant, exam code) becomes `superseded`, the new one
`active`, and `pg_notify(PARAMETER_SET_CHANNEL, {"tenant_id", "exam_code", "set_id"})` is sent
(delivered at commit; the API drops its cached pool and reloads) — all by
`qbank.parameter_sets.switch_active_set`, the one switch the operator's `qbank params` uses too.
A set whose checks failed is kept as `rejected` for the record and never activated. Rolling back
is activating an earlier set that had passed its checks (`activate_set`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from irt_models.model import METRIC
from orchestration.calibration import PairCalibration
from orchestration.checks import CheckOutcome, failed_blocking
from qbank.parameter_sets import SwitchRefused, lock_pair, switch_active_set


class PublishRefused(RuntimeError):
    """The set cannot go live (its checks failed, or it is not a set that may be re-activated)."""


@dataclass(frozen=True)
class PublishOutcome:
    set_id: int
    tenant_id: uuid.UUID
    exam_code: str
    status: str
    superseded_set_id: int | None
    n_items: int
    failed_checks: tuple[str, ...]


def _activate(conn: Connection, set_id: int, tenant_id: uuid.UUID, exam_code: str) -> int | None:
    """Switch the pair's live set to `set_id` (qbank.parameter_sets: lock, statuses, NOTIFY)."""
    return switch_active_set(conn, tenant_id, exam_code, set_id).previous_set_id


def _none_if_nan(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def publish_calibration(
    engine: Engine,
    pair: PairCalibration,
    k: pd.Series,
    checks: list[CheckOutcome],
    *,
    run_id: str,
    extra_metrics: dict | None = None,
) -> PublishOutcome:
    """Write the set of `pair` (K per question_version_id from `k`) and activate it if every
    blocking check passed; otherwise store it as `rejected`. One transaction either way."""
    failed = failed_blocking(checks)
    items = pair.calibrated
    metrics = {
        **pair.metrics(),
        **(extra_metrics or {}),
        "checks": {
            c.name: {"passed": c.passed, "blocking": c.blocking, "description": c.description}
            for c in checks
        },
    }
    with engine.begin() as conn:
        lock_pair(conn, pair.tenant_id, pair.exam_code)
        set_id = conn.execute(
            text(
                "INSERT INTO item_parameter_sets "
                "(tenant_id, exam_code, status, metric, created_by_run, checks_passed, metrics) "
                "VALUES (:t, :e, :status, :metric, :run, :passed, CAST(:metrics AS jsonb)) "
                "RETURNING id"
            ),
            {
                "t": pair.tenant_id,
                "e": pair.exam_code,
                "status": "candidate" if not failed else "rejected",
                "metric": METRIC,
                "run": run_id,
                "passed": not failed,
                "metrics": json.dumps(metrics, default=float),
            },
        ).scalar_one()
        rows = [
            {
                "s": set_id,
                "v": int(r.question_version_id),
                "q": int(r.question_id),
                "ver": int(r.version),
                "a": float(r.a),
                "b": float(r.b),
                "c": float(r.c),
                "se_a": _none_if_nan(r.se_a),
                "se_b": _none_if_nan(r.se_b),
                "se_c": _none_if_nan(r.se_c),
                "k": float(np.clip(k.get(int(r.question_version_id), 1.0), 0.0, 1.0)),
                "n": int(r.n),
                "anchor": bool(r.is_anchor),
            }
            for r in items.itertuples()
        ]
        if rows:
            conn.execute(
                text(
                    "INSERT INTO item_parameters (set_id, question_version_id, question_id, "
                    "version, a, b, c, se_a, se_b, se_c, k, n_respondents, is_anchor) VALUES "
                    "(:s, :v, :q, :ver, :a, :b, :c, :se_a, :se_b, :se_c, :k, :n, :anchor)"
                ),
                rows,
            )
        superseded = None
        if not failed:
            superseded = _activate(conn, set_id, pair.tenant_id, pair.exam_code)
    return PublishOutcome(
        set_id=set_id,
        tenant_id=pair.tenant_id,
        exam_code=pair.exam_code,
        status="active" if not failed else "rejected",
        superseded_set_id=superseded,
        n_items=len(rows),
        failed_checks=failed,
    )


def activate_set(engine: Engine, set_id: int) -> PublishOutcome:
    """Roll back (or forward): make an earlier set that passed its checks the live one."""
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT tenant_id, exam_code, status FROM item_parameter_sets WHERE id = :s"),
            {"s": set_id},
        ).one_or_none()
        if row is None:
            raise PublishRefused(f"parameter set {set_id} does not exist")
        if row.status == "candidate":
            raise PublishRefused(
                f"parameter set {set_id} is a candidate that never went live: only a set that "
                "passed its checks and was live before can be re-published"
            )
        try:
            switched = switch_active_set(conn, row.tenant_id, row.exam_code, set_id)
        except SwitchRefused as exc:
            raise PublishRefused(str(exc)) from None
        n_items = conn.execute(
            text("SELECT count(*) FROM item_parameters WHERE set_id = :s"), {"s": set_id}
        ).scalar_one()
    previous = switched.previous_set_id
    return PublishOutcome(
        set_id=set_id,
        tenant_id=row.tenant_id,
        exam_code=row.exam_code,
        status="active",
        superseded_set_id=None if previous == set_id else previous,
        n_items=int(n_items),
        failed_checks=(),
    )


def live_bank(engine: Engine, tenant_id: uuid.UUID, exam_code: str) -> pd.DataFrame:
    """The live parameters of the versions live now (what the API uses: the view
    `live_item_parameters`, where a minor edit carries its item's parameters)."""
    with engine.connect() as c:
        return pd.read_sql(
            text(
                "SELECT question_version_id, a, b, c, k, set_id FROM live_item_parameters "
                "WHERE tenant_id = :t AND exam_code = :e ORDER BY question_version_id"
            ),
            c,
            params={"t": tenant_id, "e": exam_code},
        )


def active_pairs(engine: Engine) -> list[tuple[uuid.UUID, str, int]]:
    with engine.connect() as c:
        return [
            (r[0], r[1], r[2])
            for r in c.execute(
                text(
                    "SELECT tenant_id, exam_code, id FROM item_parameter_sets "
                    "WHERE status = 'active' ORDER BY 1, 2"
                )
            )
        ]
