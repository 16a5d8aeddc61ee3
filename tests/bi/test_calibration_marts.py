"""The calibration marts against the pipeline's tables they read, recomputed in pandas: one row
per (set, item), Δb against the previous live set of the tenant and exam code, and the live
parameters exactly as `live_item_parameters` defines them."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from tests.bi.seed import BiSeed
from tests.support.dbt import DbtDatabase


def _read(db: DbtDatabase, sql: str) -> pd.DataFrame:
    with db.engine.connect() as c:
        return pd.read_sql(text(sql), c)


def _expected_delta_b(sets: pd.DataFrame, params: pd.DataFrame) -> pd.Series:
    """(set, version) → b minus b of the same item (same root) in the previous live set."""
    out = {}
    for s in sets.itertuples():
        earlier = sets[
            (sets.tenant_id == s.tenant_id)
            & (sets.exam_code == s.exam_code)
            & sets.activated_at.notna()
            & (
                (sets.created_at < s.created_at)
                | ((sets.created_at == s.created_at) & (sets.id < s.id))
            )
        ].sort_values(["created_at", "id"])
        prev = params[params.set_id == earlier.id.iloc[-1]] if len(earlier) else params.iloc[:0]
        for p in params[params.set_id == s.id].itertuples():
            same = prev[(prev.root == p.root) & (prev.version <= p.version)]
            b_prev = same.sort_values("version").b.iloc[-1] if len(same) else None
            out[(s.id, p.question_version_id)] = None if b_prev is None else p.b - b_prev
    return pd.Series(out, dtype=float)


def test_item_calibrations_has_every_set_item_and_its_delta_b(
    marts_db: DbtDatabase, seeded: BiSeed
) -> None:
    sets = _read(marts_db, "SELECT * FROM item_parameter_sets")
    params = _read(
        marts_db,
        "SELECT p.*, coalesce(v.item_root_version_id, v.id) AS root FROM item_parameters p "
        "JOIN question_versions v ON v.id = p.question_version_id",
    )
    mart = _read(marts_db, "SELECT * FROM marts.item_calibrations")
    assert len(mart) == len(params) > 0
    mart = mart.set_index(["set_id", "question_version_id"]).sort_index()
    expected = _expected_delta_b(sets, params).sort_index()
    got = mart.delta_b.reindex(expected.index)
    assert got.isna().equals(expected.isna())
    assert got.dropna().to_numpy() == pytest.approx(expected.dropna().to_numpy())

    by_status = {(r.tenant_id, r.set_status): r.set_id for r in mart.reset_index().itertuples()}
    main = seeded.main.tenant_id
    previous = mart.groupby(level="set_id").previous_set_id.first()
    assert pd.isna(previous[by_status[(main, "superseded")]])  # the first set
    assert previous[by_status[(main, "active")]] == by_status[(main, "superseded")]
    assert previous[by_status[(main, "rejected")]] == by_status[(main, "active")]
    assert pd.isna(previous[by_status[(seeded.other.tenant_id, "active")]])  # per tenant
    # Set-level numbers come from the set's metrics; is_live follows the status.
    assert (mart.is_live == (mart.set_status == "active")).all()
    rejected = mart.xs(by_status[(main, "rejected")], level="set_id")
    assert rejected.set_anchor_drift.to_list() == pytest.approx([0.41] * len(rejected))
    assert not rejected.checks_passed.any() and not rejected.set_drift_passed.any()


def test_item_calibration_current_is_the_live_view(marts_db: DbtDatabase) -> None:
    live = _read(
        marts_db,
        "SELECT tenant_id, exam_code, question_id, question_version_id, set_id, "
        "parameters_version_id, a, b, c, k AS exposure_k FROM live_item_parameters",
    )
    current = _read(marts_db, "SELECT * FROM marts.item_calibration_current")
    key = ["tenant_id", "exam_code", "question_id"]
    assert len(current) == len(live) > 0
    pd.testing.assert_frame_equal(
        current[live.columns].sort_values(key).reset_index(drop=True),
        live.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    active = _read(marts_db, "SELECT id FROM item_parameter_sets WHERE status = 'active'")
    assert set(current.set_id) == set(active.id)
    # Δb of the live rows is the mart's (the revised item is new in the active set: none).
    assert current.delta_b.notna().sum() == len(current) - 1 - current.exam_code.eq("BOARDS").sum()
