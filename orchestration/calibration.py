"""Item calibration per (tenant, exam code): responses from the marts, anchors from the live set.

Scale continuity (SPEC §6): the live items that are well measured — n ≥ 500 respondents and
SE(b) ≤ 0.15 in the active parameter set — are the candidate anchors. Drift is judged per anchor
after linking (`fit_pair`): a free re-estimation (nothing fixed, N(0, 1) latent) of the responses
since the live set went live (`drift_sample`) is put on the live scale by Stocking-Lord through
the anchors, robustly (`irt_models.linking.link_anchors`), and an anchor whose linked b (or a) moved beyond its standard errors is dropped from the anchor set
and calibrated as a free item, with its reason. The remaining anchors are held fixed in the final
calibration, which estimates the cohort's latent N(μ, σ²) on the live scale: a cohort of other
ability moves μ, σ (and the linking constants), not the anchors. Publishing is blocked only when
the link itself is unsafe (`LinkingReport.problems`).

Persons are quizzes: local independence holds within a quiz, and a student's ability moves over
months of preparation. Responses are the last answer per quiz item (`marts.fact_responses`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from irt_models.calibration import CalibrationResult, calibrate_3pl
from irt_models.linking import AnchorLink, link_anchors
from qbank.parameter_sets import active_set_id

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
#   anchors are a clear majority. With half of them moved the link settles on either half
#   (tests/irt_models/test_linking.py); at 40% the stable ones still outnumber the movers 3 to
#   2. Measured on the season: 10 leaked of 26 anchors (38%) were all found, with no false
#   flag and linking constants matching the cohort (A 1.23, B −0.35 for N(−0.3, 1.2)); at a
#   third, that exam code was blocked two nights running, and with it every new item waiting
#   to be promoted. Beyond 40% a person looks: a broken scale or bad data upstream;
# - A outside A_PLAUSIBLE: the ratio of the cohort's ability SD to the live scale's; halving or
#   doubling overnight is a failed link, not a cohort.
MIN_ANCHORS = 5
MAX_DRIFT_SHARE = 0.4
A_PLAUSIBLE = (0.5, 2.0)
# Holding the scale. The anchors kept hold it when there are at least MIN_SCALE_ANCHORS: the
# scale then moves by the mean error of their b, about SE(b)/√10 ≤ 0.05 for anchors with
# SE(b) ≤ 0.15. With fewer (a young bank, or a night that dropped many), the latent N(μ, σ²)
# of the responses is first estimated against every calibrated item of the live set held fixed
# (`scale_items`: many items of SE(b) ≤ SCALE_ITEM_MAX_SE_B, whose errors average out), and the
# final calibration holds the latent there. Measured on a season: a scale held by one anchor
# followed that anchor's error and the cohort (night 4: mean b error −0.69, RMSE 0.88), and a
# free N(0, 1) calibration follows the pooled cohort's mean.
MIN_SCALE_ANCHORS = 10
SCALE_ITEM_MAX_SE_B = 0.5
# The a prior floats to the bank's own discrimination (`calibrate_3pl(float_a_prior=True)`).
# Items held fixed carry their estimates into the next night, where the cohort's σ is
# estimated against them; with the prior's mode near a = 0.8 a bank of a ≈ 1.6 came out 17%
# flat at n ≈ 420, so σ came out 1.22 for a cohort of 1.0, the items re-estimated on that σ
# flatter still: measured on the season, σ 1.19 on night 2, 1.40 on night 3, b RMSE 0.29.
# Floating, the same data gave a within 4–10% and σ 0.99–1.06.
FLOAT_A_PRIOR = True
# Which responses judge drift: the shortest recent window (since the live set, else since the
# set before it, …) in which at least JUDGED_SHARE of the candidate anchors (and MIN_ANCHORS)
# have the respondents a free calibration needs. Anchors below that are not judged at all, so a
# window that measures only a few of them would miss most leaks; a window longer than needed
# dilutes a recent leak with the responses before it.
JUDGED_SHARE = 0.75

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
    scale: dict = field(default_factory=dict)  # `hold_scale`: what held the scale

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
            "scale_held_by": self.scale.get("held_by"),
            "scale_n_items": self.scale.get("n_items"),
        }


@dataclass
class LinkingReport:
    """The link of a free re-estimation onto the live scale, and the verdict on each anchor."""

    anchor_link: AnchorLink
    problems: list[str]
    # Which responses the free re-estimation used (`drift_sample`).
    window: str = "all responses"

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
            "window": self.window,
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
    # What held the scale (`hold_scale`): held_by (anchors | live set | N(0, 1)), n_items.
    scale: dict


def drift_sample(
    responses: pd.DataFrame,
    anchors: pd.DataFrame,
    live_since: datetime | Sequence[datetime] | None,
    *,
    min_respondents: int = 200,
) -> tuple[pd.DataFrame, str]:
    """The responses the drift re-estimation uses, and which ones (for the report).

    ``live_since``: when the live set went live, or when each set went live, most recent first.
    The responses since the live set went live are the evidence on whether the published
    parameters still hold, independent of the responses those were estimated from (so the SE
    of Δb is right), and a leak is not diluted by the months before it (measured: 10 of 62
    anchors easier by 1.0 from day 4 of 6, 4,000 quizzes a day — linked on all responses, 0, 0
    and 2 flagged on nights 4, 5, 6; on the last day's, 6, 4 and 5, one false flag in all).
    When that window measures too few anchors (fewer than JUDGED_SHARE of them, or fewer than
    MIN_ANCHORS of a larger set, with ``min_respondents``: a quiet day), it reaches back to when the set before
    went live, and so on; every response when no window does.
    """
    if live_since is None or "ts" not in responses.columns:
        return responses, "all responses"
    starts = [live_since] if isinstance(live_since, datetime) else list(live_since)
    need = max(min(MIN_ANCHORS, len(anchors)), int(np.ceil(JUDGED_SHARE * len(anchors))))
    best = 0
    for back, start in enumerate(starts):
        recent = responses[responses["ts"] > start]
        counts = recent["item"].value_counts()
        enough = int((counts.reindex(anchors["item"]).fillna(0) >= min_respondents).sum())
        best = max(best, enough)
        if enough >= need:
            since = "the live set" if back == 0 else f"the set {back} before the live one"
            return recent, (
                f"responses since {since} went live ({len(recent)}; {enough} of "
                f"{len(anchors)} anchors with {min_respondents}+)"
            )
    return responses, (
        f"all responses (at most {best} of {len(anchors)} anchors have {min_respondents}+ "
        f"responses since a set went live; {need} needed)"
    )


def fit_pair(
    responses: pd.DataFrame,
    anchors: pd.DataFrame,
    *,
    min_respondents: int = 200,
    drift_responses: pd.DataFrame | None = None,
    drift_window: str = "all responses",
    scale_items: pd.DataFrame | None = None,
) -> PairFit:
    """Drift after linking, then the final calibration (one exam code; no I/O).

    ``responses``: person, item, correct. ``anchors``: candidate anchors (item, a, b, c, se_a,
    se_b, se_c) from the live set. With candidates, a free calibration (N(0, 1) latent, standard
    errors on) of ``drift_responses`` (default: ``responses``; see `drift_sample`) is linked
    onto the live scale by `link_anchors`; the flagged anchors are dropped and the rest held
    fixed in the final calibration of every response (which estimates the latent N(μ, σ²)).
    With fewer than MIN_SCALE_ANCHORS anchors kept, ``scale_items`` (the live set's calibrated
    items, `select_scale_items`) hold the scale instead: the latent N(μ, σ²) is estimated with
    them fixed, then held in the final calibration.
    """
    linking = None
    free_converged = None
    kept = anchors
    if len(anchors):
        sample = responses if drift_responses is None else drift_responses
        free = calibrate_3pl(
            sample, anchors=None, min_respondents=min_respondents, float_a_prior=FLOAT_A_PRIOR
        )
        free_converged = bool(free.converged)
        anchor_link = link_anchors(
            free.items[free.items["calibrated"]],
            anchors,
            min_shift=DRIFT_MIN_SHIFT,
            z_limit=DRIFT_Z,
            a_ratio=DRIFT_A_RATIO,
        )
        linking = LinkingReport(anchor_link, linking_problems(anchor_link), drift_window)
        kept = anchors[~anchors["item"].isin(anchor_link.flagged["item"])]
    scale, latent = hold_scale(responses, kept, scale_items, linking, min_respondents)
    result = calibrate_3pl(
        responses,
        anchors=kept if len(kept) else None,
        min_respondents=min_respondents,
        latent=latent,
        float_a_prior=FLOAT_A_PRIOR,
    )
    return PairFit(result, linking, free_converged, kept.reset_index(drop=True), scale)


def hold_scale(
    responses: pd.DataFrame,
    kept: pd.DataFrame,
    scale_items: pd.DataFrame | None,
    linking: LinkingReport | None,
    min_respondents: int,
) -> tuple[dict, tuple[float, float] | None]:
    """What holds the scale of the final calibration (see MIN_SCALE_ANCHORS), and the latent
    (μ, σ) to hold when the live set's items do (None: the anchors, or N(0, 1) without any)."""
    if len(kept) >= MIN_SCALE_ANCHORS:
        return {"held_by": "anchors", "n_items": len(kept)}, None
    held = pd.DataFrame() if scale_items is None else scale_items
    if len(held) and linking is not None:
        held = held[~held["item"].isin(linking.dropped_ids())]
    if len(held) < MIN_SCALE_ANCHORS:
        held_by = "anchors" if len(kept) else "N(0, 1): no live set to hold the scale"
        return {"held_by": held_by, "n_items": len(kept)}, None
    step = calibrate_3pl(responses, anchors=held, min_respondents=min_respondents, compute_se=False)
    latent = (float(step.latent_mean), float(step.latent_sd))
    return {"held_by": "live set", "n_items": len(held), "latent": latent}, latent


def exam_pairs(engine: Engine) -> list[tuple[uuid.UUID, str]]:
    """Every (tenant, exam code) with responses in the marts."""
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT DISTINCT tenant_id, exam_code FROM marts.fact_responses ORDER BY 1, 2")
        ).all()
    return [(r[0], r[1]) for r in rows]


def load_responses(engine: Engine, tenant_id: uuid.UUID, exam_code: str) -> pd.DataFrame:
    """Long-format responses (person = quiz, item = question version, correct 0/1, ts).

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
                "f.is_correct::int AS correct, f.ts FROM marts.fact_responses f "
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
        set_id = active_set_id(c, tenant_id, exam_code)
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


def activations(engine: Engine, tenant_id: uuid.UUID, exam_code: str) -> list[datetime]:
    """When each of the exam code's sets went live, most recent first (for `drift_sample`)."""
    with engine.connect() as c:
        return list(
            c.execute(
                text(
                    "SELECT activated_at FROM item_parameter_sets WHERE tenant_id = :t "
                    "AND exam_code = :e AND activated_at IS NOT NULL ORDER BY activated_at DESC"
                ),
                {"t": tenant_id, "e": exam_code},
            ).scalars()
        )


def select_anchors(active: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Live items of the active set with n ≥ 500 and SE(b) ≤ 0.15, as calibrate_3pl anchors."""
    ok = (
        active["question_version_id"].isin(live["question_version_id"])
        & (active["n_respondents"] >= ANCHOR_MIN_N)
        & (active["se_b"] <= ANCHOR_MAX_SE_B)
    )
    anchors = active[ok].rename(columns={"question_version_id": "item"})
    return anchors[["item", "a", "b", "c", "se_a", "se_b", "se_c"]].reset_index(drop=True)


def select_scale_items(active: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """Live calibrated items of the active set with SE(b) ≤ SCALE_ITEM_MAX_SE_B: what holds the
    scale when the anchors are too few (`hold_scale`)."""
    ok = (
        active["question_version_id"].isin(live["question_version_id"])
        & active[["a", "b", "c"]].notna().all(axis=1)
        & (active["se_b"] <= SCALE_ITEM_MAX_SE_B)
    )
    items = active[ok].rename(columns={"question_version_id": "item"})
    return items[["item", "a", "b", "c", "se_a", "se_b", "se_c"]].reset_index(drop=True)


def calibrate_pair(
    engine: Engine,
    tenant_id: uuid.UUID,
    exam_code: str,
    *,
    min_respondents: int = 200,
    drift_since_live_set: bool = True,
) -> PairCalibration:
    """Fit the 3PL for one exam code: drift after linking, drifted anchors dropped, the rest
    held fixed (`fit_pair`); items of the live versions with their new parameters. Drift is
    judged on the responses since the live set went live (`drift_sample`) unless
    ``drift_since_live_set`` is False."""
    responses = load_responses(engine, tenant_id, exam_code)
    live = load_live_items(engine, tenant_id, exam_code)
    previous_set_id, active = load_active_set(engine, tenant_id, exam_code)
    anchors = select_anchors(active, live)
    since = (
        activations(engine, tenant_id, exam_code)
        if drift_since_live_set and previous_set_id is not None
        else None
    )
    sample, window = drift_sample(responses, anchors, since, min_respondents=min_respondents)

    fit = fit_pair(
        responses,
        anchors,
        min_respondents=min_respondents,
        drift_responses=sample,
        drift_window=window,
        scale_items=select_scale_items(active, live),
    )
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
        scale=fit.scale,
    )
