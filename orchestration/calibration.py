"""Item calibration per (tenant, exam code): responses from the marts, anchors from the live set.

Scale continuity (SPEC §6): the live items that are well measured — n ≥ 500 respondents and
SE(b) ≤ 0.15 in the active parameter set — are the candidate anchors. Drift is judged per anchor
after linking (`fit_pair`): a free re-estimation (nothing fixed, N(0, 1) latent) is put on the
live scale by Stocking-Lord through the anchors, robustly (`irt_models.linking.link_anchors`), and
an anchor whose linked b (or a) moved beyond its standard errors is dropped from the anchor set
and calibrated as a free item, with its reason. The remaining anchors are held fixed in the final
calibration, which estimates the cohort's latent N(μ, σ²) on the live scale: a cohort of other
ability moves μ, σ (and the linking constants), not the anchors. Publishing is blocked only when
the link itself is unsafe (`LinkingReport.problems`).

Persons are quizzes: local independence holds within a quiz, and a student's ability moves over
months of preparation. Responses are the last answer per quiz item (`marts.fact_responses`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from irt_models.calibration import CalibrationResult, calibrate_3pl
from irt_models.linking import AnchorLink, link_anchors

ANCHOR_MIN_N = 500
ANCHOR_MAX_SE_B = 0.15
# Per-anchor drift: linked |Δb| beyond max(DRIFT_MIN_SHIFT, DRIFT_Z·SE of the difference), or a
# changed by more than a factor DRIFT_A_RATIO (and beyond DRIFT_Z SEs). 0.3 logits is the smallest
# shift that matters for scoring (a tenth of the usual b range of a bank); 3 SEs keep false flags
# near 0.3% per anchor when the two estimates are independent, fewer when they share responses.
DRIFT_MIN_SHIFT = 0.3
DRIFT_Z = 3.0
DRIFT_A_RATIO = 1.5
# When is the link itself unsafe (publishing blocked)?
# - fewer than MIN_ANCHORS anchors left, out of at least MIN_ANCHORS: a scale held by a handful
#   of items moves with each one's error (a young bank with fewer candidates is not blocked:
#   its few anchors are still better than an unlinked N(0, 1) scale);
# - more than MAX_DRIFT_SHARE of the judged anchors drifted: the purification assumes the stable
#   anchors are a clear majority. When a third or more move, the subset that looks stable may be
#   the one that moved (with half the anchors shifted by +1 the link settles on either half,
#   tests/irt_models/test_linking.py); a third leaves room below one half for misses and
#   noise. Realistic leaks touch a few percent of a bank; a third signals a broken scale or bad
#   data upstream, for a person to look at;
# - A outside A_PLAUSIBLE: the ratio of the cohort's ability SD to the live scale's; halving or
#   doubling overnight is a failed link, not a cohort.
MIN_ANCHORS = 5
MAX_DRIFT_SHARE = 1 / 3
A_PLAUSIBLE = (0.5, 2.0)

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
    # se_a, se_b, se_c, n, calibrated, is_anchor, anchor_dropped, screened_out, reason, rmsd,
    # infit, outfit, p_value. `calibrated`: published with this set (anchors included,
    # screened-out excluded); `anchor_dropped`: a candidate anchor that drifted, re-estimated.
    items: pd.DataFrame
    converged: bool
    iterations: int
    n_persons: int
    n_responses: int
    latent_mean: float
    latent_sd: float
    previous_set_id: int | None
    # Anchors held fixed in the final calibration (candidates minus the dropped ones).
    n_anchors: int
    linking: LinkingReport | None = None
    free_converged: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.exam_code}"

    @property
    def drift(self) -> float | None:
        """Mean linked |Δb| of the anchors kept (None without a link)."""
        if self.linking is None or self.linking.link is None:
            return None
        kept = self.linking.items[~self.linking.items["flagged"] & self.linking.items["judged"]]
        return float(kept["delta_b"].abs().mean()) if len(kept) else None

    @property
    def calibrated(self) -> pd.DataFrame:
        return self.items[self.items["calibrated"]]

    def metrics(self) -> dict:
        link = self.linking.link if self.linking is not None else None
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
            "linking_method": link.method if link else None,
            "linking_A": link.A if link else None,
            "linking_B": link.B if link else None,
            "linking_safe": self.linking.safe if self.linking is not None else None,
            "n_anchor_candidates": self.linking.n_candidates if self.linking is not None else 0,
            "n_anchors_dropped": self.linking.n_flagged if self.linking is not None else 0,
            "anchors_dropped": self.linking.dropped() if self.linking is not None else [],
            "drift_mean_abs_delta_b": self.drift,
            "previous_set_id": self.previous_set_id,
        }


@dataclass
class LinkingReport:
    """The link of a free re-estimation onto the live scale, and the verdict on each anchor."""

    anchor_link: AnchorLink
    problems: list[str]

    @property
    def link(self):
        return self.anchor_link.link

    @property
    def items(self) -> pd.DataFrame:
        """Per anchor (question_version_id): live and linked a, b, Δa, Δb, z, flagged, reason."""
        return self.anchor_link.items.rename(columns={"item": "question_version_id"})

    @property
    def safe(self) -> bool:
        return not self.problems

    @property
    def n_candidates(self) -> int:
        return len(self.anchor_link.items)

    @property
    def n_flagged(self) -> int:
        return int(self.anchor_link.items["flagged"].sum())

    def dropped_ids(self) -> list[int]:
        return self.anchor_link.flagged["item"].astype(int).tolist()

    def dropped(self) -> list[dict]:
        """The dropped anchors with their linked Δb, Δa, z and reason (for the set's metrics)."""
        return [
            {"question_version_id": int(r.item), "delta_b": round(float(r.delta_b), 4),
             "delta_a": round(float(r.delta_a), 4), "z": round(float(r.z), 2),
             "reason": r.reason}
            for r in self.anchor_link.flagged.itertuples()
        ]  # fmt: skip

    def summary(self) -> dict:
        link = self.link
        return {
            "method": link.method if link else None,
            "A": link.A if link else None,
            "B": link.B if link else None,
            "rounds": self.anchor_link.rounds,
            "candidates": self.n_candidates,
            "judged": int(self.anchor_link.items["judged"].sum()),
            "dropped": self.n_flagged,
            "safe": self.safe,
            "problems": self.problems,
        }


def linking_problems(anchor_link: AnchorLink) -> list[str]:
    """Why the link cannot be trusted for this calibration (empty: it can). See MIN_ANCHORS,
    MAX_DRIFT_SHARE, A_PLAUSIBLE for the rules and their reasons."""
    items = anchor_link.items
    n_cand = len(items)
    judged = int(items["judged"].sum())
    flagged = int(items["flagged"].sum())
    kept = n_cand - flagged
    problems = []
    if n_cand >= MIN_ANCHORS and kept < MIN_ANCHORS:
        problems.append(f"only {kept} anchors left of {n_cand} (at least {MIN_ANCHORS} needed)")
    if judged and flagged / judged > MAX_DRIFT_SHARE:
        problems.append(
            f"{flagged} of {judged} anchors drifted ({flagged / judged:.0%} > "
            f"{MAX_DRIFT_SHARE:.0%}): too many to tell drift from a broken scale"
        )
    if anchor_link.exhausted:
        problems.append("anchors still drifting after the purification gave up")
    link = anchor_link.link
    if link is not None and not A_PLAUSIBLE[0] <= link.A <= A_PLAUSIBLE[1]:
        problems.append(
            f"linking slope A = {link.A:.2f} outside {A_PLAUSIBLE} ({link.method}): the "
            "cohort's ability SD cannot have changed that much; the link failed"
        )
    return problems


@dataclass
class PairFit:
    """`fit_pair`'s outcome: the final calibration and the link that chose its anchors."""

    result: CalibrationResult
    linking: LinkingReport | None
    free_converged: bool | None
    anchors: pd.DataFrame


def fit_pair(
    responses: pd.DataFrame, anchors: pd.DataFrame, *, min_respondents: int = 200
) -> PairFit:
    """Drift after linking, then the final calibration (one exam code; no I/O).

    ``responses``: person, item, correct. ``anchors``: candidate anchors (item, a, b, c, se_a,
    se_b, se_c) from the live set. With candidates, a free calibration (N(0, 1) latent, standard
    errors on) is linked onto the live scale by `link_anchors`; the flagged anchors are dropped
    and the rest held fixed in the final calibration (which estimates the latent N(μ, σ²)).
    """
    linking = None
    free_converged = None
    kept = anchors
    if len(anchors):
        free = calibrate_3pl(responses, anchors=None, min_respondents=min_respondents)
        free_converged = bool(free.converged)
        anchor_link = link_anchors(
            free.items[free.items["calibrated"]],
            anchors,
            min_shift=DRIFT_MIN_SHIFT,
            z_limit=DRIFT_Z,
            a_ratio=DRIFT_A_RATIO,
        )
        linking = LinkingReport(anchor_link, linking_problems(anchor_link))
        kept = anchors[~anchors["item"].isin(anchor_link.flagged["item"])]
    result = calibrate_3pl(
        responses, anchors=kept if len(kept) else None, min_respondents=min_respondents
    )
    return PairFit(result, linking, free_converged, kept.reset_index(drop=True))


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
    """Fit the 3PL for one exam code: drift after linking, drifted anchors dropped, the rest
    held fixed (`fit_pair`); items of the live versions with their new parameters."""
    responses = load_responses(engine, tenant_id, exam_code)
    live = load_live_items(engine, tenant_id, exam_code)
    previous_set_id, active = load_active_set(engine, tenant_id, exam_code)
    anchors = select_anchors(active, live)

    fit = fit_pair(responses, anchors, min_respondents=min_respondents)
    result = fit.result
    fitted = result.items.rename(columns={"item": "question_version_id", "anchor": "is_anchor"})
    items = live.merge(fitted, on="question_version_id", how="left")
    items["n"] = items["n"].fillna(0).astype(int)
    # Items without responses have no row in `fitted`: NaN after the merge, i.e. False.
    items["calibrated"] = items["calibrated"].eq(True)
    items["is_anchor"] = items["is_anchor"].eq(True)
    items["reason"] = items["reason"].fillna("no responses yet")
    items["anchor_dropped"] = False
    if fit.linking is not None and fit.linking.n_flagged:
        why = fit.linking.items.set_index("question_version_id")["reason"]
        dropped = items["question_version_id"].isin(fit.linking.dropped_ids()).to_numpy()
        items.loc[dropped, "anchor_dropped"] = True
        items.loc[dropped, "reason"] = [
            f"anchor dropped ({why[v]}); re-estimated as a free item"
            for v in items.loc[dropped, "question_version_id"]
        ]
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
        n_anchors=len(fit.anchors),
        linking=fit.linking,
        free_converged=fit.free_converged,
    )


def bank_arrays(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b, c of the calibrated rows, in row order."""
    cal = items[items["calibrated"]]
    return (
        cal["a"].to_numpy(dtype=float),
        cal["b"].to_numpy(dtype=float),
        cal["c"].to_numpy(dtype=float),
    )
