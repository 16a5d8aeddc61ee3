"""Item calibration per (tenant, exam code): responses from the marts, anchors from the live set.

Scale continuity (SPEC §6): the live items that are well measured — n ≥ 500 respondents and
SE(b) ≤ 0.15 in the active parameter set — are the anchors. They are held fixed, so the new and
re-estimated items land on the live scale. Drift is measured on a *free* re-estimation (nothing
fixed, N(0, 1) latent): the mean |b_free − b_live| over the anchors; above 0.3 it blocks publishing.

Persons are quizzes: local independence holds within a quiz, and a student's ability moves over
months of preparation. Responses are the last answer per quiz item (`marts.fact_responses`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from irt_models.calibration import calibrate_3pl

ANCHOR_MIN_N = 500
ANCHOR_MAX_SE_B = 0.15
DRIFT_LIMIT = 0.3

# Plausible ranges for a freshly estimated item (logistic metric, D = 1). The EM keeps estimates
# finite inside wider boxes (a ≤ 8, |b| ≤ 8, c ≤ 0.6); an item estimated out here (too few
# informative responses, or a miskeyed item) is screened out: it stays uncalibrated and keeps
# collecting responses in pretest slots, and a person can look at it.
A_RANGE = (0.1, 4.0)
B_RANGE = (-6.0, 6.0)
C_RANGE = (0.0, 0.5)
MAX_SE_B = 2.0


def plausible(items: pd.DataFrame) -> np.ndarray:
    """Rows whose a, b, c lie in range and whose standard errors are finite (SE(b) ≤ 2)."""
    a, b, c = (items[k].to_numpy(dtype=float) for k in ("a", "b", "c"))
    se = items[["se_a", "se_b", "se_c"]].to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return (
            (a >= A_RANGE[0]) & (a <= A_RANGE[1])
            & (b >= B_RANGE[0]) & (b <= B_RANGE[1])
            & (c >= C_RANGE[0]) & (c <= C_RANGE[1])
            & np.isfinite(se).all(axis=1)
            & (se[:, 1] <= MAX_SE_B)
        )  # fmt: skip


@dataclass
class PairCalibration:
    """Calibration of one (tenant, exam code): the live items with their new parameters."""

    tenant_id: uuid.UUID
    exam_code: str
    # One row per live item version: question_version_id, question_id, version, a, b, c,
    # se_a, se_b, se_c, n, calibrated, is_anchor, screened_out, reason, rmsd, infit, outfit,
    # p_value. `calibrated`: published with this set (anchors included, screened-out excluded).
    items: pd.DataFrame
    converged: bool
    iterations: int
    n_persons: int
    n_responses: int
    latent_mean: float
    latent_sd: float
    previous_set_id: int | None
    n_anchors: int
    # Free re-estimation of the anchors: question_version_id, b_live, b_free (empty: no anchors).
    drift_items: pd.DataFrame = field(default_factory=pd.DataFrame)
    free_converged: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.exam_code}"

    @property
    def drift(self) -> float | None:
        """Mean |Δb| of the anchors between the live set and a free re-estimation."""
        if self.drift_items.empty:
            return None
        return float((self.drift_items["b_free"] - self.drift_items["b_live"]).abs().mean())

    @property
    def calibrated(self) -> pd.DataFrame:
        return self.items[self.items["calibrated"]]

    def metrics(self) -> dict:
        return {
            "converged": self.converged,
            "iterations": self.iterations,
            "n_persons": self.n_persons,
            "n_responses": self.n_responses,
            "n_items_calibrated": int(self.items["calibrated"].sum()),
            "n_items_live": len(self.items),
            "n_anchors": self.n_anchors,
            "n_screened_out": int(self.items.get("screened_out", pd.Series(dtype=bool)).sum()),
            "latent_mean": self.latent_mean,
            "latent_sd": self.latent_sd,
            "drift_mean_abs_delta_b": self.drift,
            "previous_set_id": self.previous_set_id,
        }


def exam_pairs(engine: Engine) -> list[tuple[uuid.UUID, str]]:
    """Every (tenant, exam code) with responses in the marts."""
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT DISTINCT tenant_id, exam_code FROM marts.fact_responses ORDER BY 1, 2")
        ).all()
    return [(r[0], r[1]) for r in rows]


def load_responses(engine: Engine, tenant_id: uuid.UUID, exam_code: str) -> pd.DataFrame:
    """Long-format responses (person = quiz, item = question version, correct 0/1).

    A response to an earlier version of the same psychometric item (minor edits: wording, a
    typo) counts for the version live now: the author declared the item unchanged, so its
    earlier responses keep its estimate precise and an anchor stays an anchor instead of
    starting over at n = 0. A quiz never serves two versions of one question, so no person
    answers the pooled item twice. Responses to other versions keep their own id.
    """
    with engine.connect() as c:
        return pd.read_sql(
            text(
                "SELECT f.quiz_id AS person, coalesce(lv.id, f.question_version_id) AS item, "
                "f.is_correct::int AS correct FROM marts.fact_responses f "
                "JOIN question_versions rv ON rv.id = f.question_version_id "
                "LEFT JOIN question_publications p ON p.tenant_id = f.tenant_id "
                " AND p.exam_code = f.exam_code AND p.question_id = f.question_id "
                "LEFT JOIN question_versions lv ON lv.id = p.question_version_id "
                " AND coalesce(lv.item_root_version_id, lv.id) "
                "   = coalesce(rv.item_root_version_id, rv.id) "
                "WHERE f.tenant_id = :t AND f.exam_code = :e"
            ),
            c,
            params={"t": tenant_id, "e": exam_code},
        )


def load_live_items(engine: Engine, tenant_id: uuid.UUID, exam_code: str) -> pd.DataFrame:
    """The versions currently published for the exam code (what the API serves)."""
    with engine.connect() as c:
        return pd.read_sql(
            text(
                "SELECT p.question_version_id, p.question_id, v.version "
                "FROM question_publications p "
                "JOIN question_versions v ON v.id = p.question_version_id "
                "WHERE p.tenant_id = :t AND p.exam_code = :e"
            ),
            c,
            params={"t": tenant_id, "e": exam_code},
        )


def load_active_set(
    engine: Engine, tenant_id: uuid.UUID, exam_code: str
) -> tuple[int | None, pd.DataFrame]:
    """The active set's id and the live parameters of the live versions (the view
    `live_item_parameters`, the API's own definition: a minor edit appears with the parameters
    its item carries over). Empty when the exam code has no active set."""
    with engine.connect() as c:
        set_id = c.execute(
            text(
                "SELECT id FROM item_parameter_sets "
                "WHERE tenant_id = :t AND exam_code = :e AND status = 'active'"
            ),
            {"t": tenant_id, "e": exam_code},
        ).scalar()
        if set_id is None:
            return None, pd.DataFrame(
                columns=[
                    "question_version_id",
                    "a",
                    "b",
                    "c",
                    "se_a",
                    "se_b",
                    "se_c",
                    "n_respondents",
                ]
            )
        items = pd.read_sql(
            text(
                "SELECT question_version_id, a, b, c, se_a, se_b, se_c, k, n_respondents "
                "FROM live_item_parameters WHERE set_id = :s"
            ),
            c,
            params={"s": set_id},
        )
    return int(set_id), items


def select_anchors(active: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Live items of the active set with n ≥ 500 and SE(b) ≤ 0.15, as calibrate_3pl anchors."""
    ok = (
        active["question_version_id"].isin(live["question_version_id"])
        & (active["n_respondents"] >= ANCHOR_MIN_N)
        & (active["se_b"] <= ANCHOR_MAX_SE_B)
    )
    anchors = active[ok].rename(columns={"question_version_id": "item"})
    return anchors[["item", "a", "b", "c", "se_a", "se_b", "se_c"]].reset_index(drop=True)


def calibrate_pair(
    engine: Engine,
    tenant_id: uuid.UUID,
    exam_code: str,
    *,
    min_respondents: int = 200,
) -> PairCalibration:
    """Fit the 3PL for one exam code with the live anchors fixed, and measure anchor drift."""
    responses = load_responses(engine, tenant_id, exam_code)
    live = load_live_items(engine, tenant_id, exam_code)
    previous_set_id, active = load_active_set(engine, tenant_id, exam_code)
    anchors = select_anchors(active, live)

    result = calibrate_3pl(
        responses, anchors=anchors if len(anchors) else None, min_respondents=min_respondents
    )
    fitted = result.items.rename(columns={"item": "question_version_id", "anchor": "is_anchor"})
    items = live.merge(fitted, on="question_version_id", how="left")
    items["n"] = items["n"].fillna(0).astype(int)
    # Items without responses have no row in `fitted`: NaN after the merge, i.e. False.
    items["calibrated"] = items["calibrated"].eq(True)
    items["is_anchor"] = items["is_anchor"].eq(True)
    items["reason"] = items["reason"].fillna("no responses yet")
    # Screening: an implausible estimate is not published; the item stays uncalibrated.
    estimated = (items["calibrated"] & ~items["is_anchor"]).to_numpy()
    screened = estimated & ~plausible(items)
    items["screened_out"] = screened
    if screened.any():
        rows = items.loc[screened]
        items.loc[screened, "reason"] = [
            f"implausible estimate (a={r.a:.2f}, b={r.b:.2f}, c={r.c:.2f}, SE(b)={r.se_b:.2f}, "
            f"n={r.n}): left uncalibrated, collects responses in pretest slots"
            for r in rows.itertuples()
        ]
        items.loc[screened, "calibrated"] = False

    drift_items = pd.DataFrame()
    free_converged = None
    if len(anchors):
        free = calibrate_3pl(
            responses, anchors=None, min_respondents=min_respondents, compute_se=False
        )
        free_b = free.items.set_index("item")["b"]
        drift_items = pd.DataFrame(
            {
                "question_version_id": anchors["item"],
                "b_live": anchors["b"].to_numpy(),
                "b_free": free_b.reindex(anchors["item"]).to_numpy(),
            }
        ).dropna()
        free_converged = bool(free.converged)

    return PairCalibration(
        tenant_id=tenant_id,
        exam_code=exam_code,
        items=items,
        converged=bool(result.converged),
        iterations=int(result.iterations),
        n_persons=int(result.n_persons),
        n_responses=int(result.n_responses),
        latent_mean=float(result.latent_mean),
        latent_sd=float(result.latent_sd),
        previous_set_id=previous_set_id,
        n_anchors=len(anchors),
        drift_items=drift_items,
        free_converged=free_converged,
    )


def bank_arrays(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b, c of the calibrated rows, in row order."""
    cal = items[items["calibrated"]]
    return (
        cal["a"].to_numpy(dtype=float),
        cal["b"].to_numpy(dtype=float),
        cal["c"].to_numpy(dtype=float),
    )
