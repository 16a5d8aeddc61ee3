"""What the season measures after each night, the must-show judgments, the table and the plots.

Everything is read back from the database the pipeline wrote (parameter sets and their metrics,
quiz_items, marts.fact_responses) and set against the truth the simulation kept aside. A figure
the build does not provide (say, no linking constants in the set's metrics) is reported as not
measured, never filled in.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import text

from demo.season_bank import ExamCode
from demo.simulator import QuizOutcome

ANCHOR_N = 500  # items this well measured are judged on the scale (SPEC §6: anchors)
PRETEST_N = 200  # pretest responses after which a new item must be calibrated by the night
R_MAX_DEFAULT = 0.25
EXPOSURE_MARGIN = 0.03


@dataclass
class Row:
    day: int
    exam: str
    cohort_mean: float
    cohort_sd: float
    quizzes: int
    adaptive_quizzes: int
    refused: int
    refusals: list[str]
    few_calibrated_notices: int | None
    new_items: int | None
    edits: int | None
    retired: int | None
    set_id: int | None
    status: str  # published / blocked / none
    blocked_because: str | None
    failed_checks: list[str]
    latent_mean: float | None
    latent_sd: float | None
    link_A: float | None
    link_B: float | None
    linking_method: str | None
    n_anchors: int | None
    dropped: list[dict] | None  # [{question_id, version, reason, compromised}] or None
    dropped_true: int | None
    precision: float | None
    recall: float | None  # cumulative over the nights since the compromise
    compromised_anchors: int | None  # compromised items that were anchors of the live set
    items_scale: int
    b_rmse: float | None
    b_mean_error: float | None
    b_corr: float | None
    r_max: float
    exposure_max: float | None
    exposure_max_ci: tuple[float, float] | None
    exposure_mean: float | None
    exposure_item: int | None
    pretest_promoted: int
    pretest_due: int  # new versions with ≥ 200 pretest responses
    pretest_missed: list[dict]
    theta_rmse: float | None
    lineage_rows: int | None  # this day's fact_responses rows carrying parameter_set_id
    lineage_total: int | None
    # not printed: per-item arrays for the plots and the pooled figures
    exposure_counts: dict[int, int] = field(default_factory=dict, repr=False)
    scale_points: list[tuple[int, float, float, bool]] = field(default_factory=list, repr=False)


@dataclass
class Season:
    plan_days: int
    compromise_day: int
    rows: list[Row] = field(default_factory=list)
    flagged: dict[str, set[int]] = field(default_factory=dict)  # exam → question ids dropped
    previous_calibrated: dict[str, set[tuple[int, int]]] = field(default_factory=dict)


def _metric(metrics: dict, *paths: str):
    """The first of `paths` (dotted) present in a set's metrics, else None."""
    for path in paths:
        node = metrics
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None:
            return node
    return None


def _dropped_anchors(metrics: dict) -> list[dict] | None:
    """Anchors the calibration dropped as drifting, with their reasons, from the set's metrics:
    a list of {question_version_id, reason, ...}; None when the build reports none at all."""
    found = _metric(metrics, "anchors_dropped", "dropped_anchors", "linking.dropped_anchors")
    if found is None:
        return None
    reasons = _metric(metrics, "anchors_dropped_reasons", "anchor_drop_reasons") or {}
    if isinstance(found, dict):  # {version_id: reason}
        reasons, found = found, list(found)
    return [
        d if isinstance(d, dict)
        else {"question_version_id": int(d), "reason": reasons.get(str(d), reasons.get(d))}
        for d in found
    ]  # fmt: skip


def _ci(p: float, n: int) -> tuple[float, float]:
    half = 1.96 * math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")
    return (p - half, p + half)


def _has_columns(conn, schema: str, table: str, cols: tuple[str, ...]) -> bool:
    found = conn.execute(
        text(
            "SELECT count(*) FROM information_schema.columns WHERE table_schema=:s "
            "AND table_name=:t AND column_name = ANY(:c)"
        ),
        {"s": schema, "t": table, "c": list(cols)},
    ).scalar_one()
    return found == len(cols)


def measure_night(
    engine,
    exam: ExamCode,
    day: int,
    night_start,
    outcomes: list[QuizOutcome],
    *,
    cohort: tuple[float, float],
    authoring: tuple[int, int, int] | None,
    season: Season,
) -> Row:
    t, e = exam.tenant_id, exam.exam_code
    with engine.connect() as c:
        made = c.execute(
            text(
                "SELECT id, status, metrics FROM item_parameter_sets WHERE tenant_id=:t "
                "AND exam_code=:e AND created_at >= :since ORDER BY id DESC LIMIT 1"
            ),
            {"t": t, "e": e, "since": night_start},
        ).one_or_none()
        active_id = c.execute(
            text(
                "SELECT id FROM item_parameter_sets WHERE tenant_id=:t AND exam_code=:e "
                "AND status='active'"
            ),
            {"t": t, "e": e},
        ).scalar()
        params = pd.read_sql(
            text(
                "SELECT question_id, version, question_version_id, a, b, c, se_b, n_respondents, "
                "is_anchor, k FROM item_parameters WHERE set_id = :s"
            ),
            c,
            params={"s": active_id or -1},
        )
        versions = {
            int(r[0]): (int(r[1]), int(r[2]))
            for r in c.execute(
                text(
                    "SELECT v.id, v.question_id, v.version FROM question_versions v "
                    "JOIN questions q ON q.id = v.question_id WHERE q.tenant_id = :t"
                ),
                {"t": t},
            )
        }
        quiz_ids = [o.quiz_id for o in outcomes if o.adaptive and o.quiz_id]
        counts = dict(
            c.execute(
                text(
                    "SELECT question_id, count(*) FROM quiz_items WHERE quiz_id = ANY(CAST(:q AS "
                    "uuid[])) GROUP BY question_id"
                ),
                {"q": quiz_ids},
            ).all()
        )
        pretest = pd.read_sql(
            text(
                "SELECT question_id, version, count(*) FILTER (WHERE is_pretest) AS n_pretest "
                "FROM marts.fact_responses WHERE tenant_id=:t AND exam_code=:e "
                "GROUP BY question_id, version"
            ),
            c,
            params={"t": t, "e": e},
        )
        lineage_rows = lineage_total = None
        if _has_columns(c, "marts", "fact_responses", ("parameter_set_id", "a_used")):
            day_quizzes = [o.quiz_id for o in outcomes if o.quiz_id]
            # Complete lineage: the a, b, c used equal what the quiz kept, and a calibrated item
            # names its set (an uncalibrated one, scored with cold-start defaults, has none).
            lineage_total, lineage_rows = c.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE f.a_used = i.a AND f.b_used = i.b "
                    "AND f.c_used = i.c AND (f.parameter_set_id IS NOT NULL) = i.calibrated) "
                    "FROM marts.fact_responses f JOIN quiz_items i ON i.quiz_id = f.quiz_id "
                    "AND i.position = f.position WHERE f.quiz_id = ANY(CAST(:q AS uuid[]))"
                ),
                {"q": day_quizzes},
            ).one()
    metrics = dict(made.metrics or {}) if made else {}
    status = "none"
    blocked_because = None
    failed: list[str] = []
    if made is not None:
        status = "published" if made.status == "active" else "blocked"
        checks = metrics.get("checks") or {}
        failed = [name for name, v in checks.items() if not v.get("passed", True)]
        if status == "blocked":
            blocked_because = (
                "; ".join(f"{n}: {checks[n].get('description', '')}" for n in failed)
                or f"set status {made.status}"
            )

    # Anchors dropped by this night's calibration, against the compromised items.
    dropped_raw = _dropped_anchors(metrics) if made else None
    dropped = None
    dropped_true = precision = None
    if dropped_raw is not None:
        dropped = []
        for d in dropped_raw:
            qv = int(d["question_version_id"])
            qid, ver = versions.get(qv, (None, None))
            dropped.append(
                {"question_id": qid, "version": ver, "reason": d.get("reason"),
                 "delta_b": d.get("delta_b"), "z": d.get("z"),
                 "compromised": qid in exam.compromised}
            )  # fmt: skip
        flagged = {d["question_id"] for d in dropped if d["question_id"] is not None}
        season.flagged.setdefault(exam.name, set()).update(flagged)
        dropped_true = sum(d["compromised"] for d in dropped)
        precision = dropped_true / len(dropped) if dropped else None
    recall = None
    if exam.compromised and exam.name in season.flagged:
        recall = len(season.flagged[exam.name] & exam.compromised) / len(exam.compromised)
    anchors_prev = None
    if exam.compromised and len(params):
        anchor_q = set(params.loc[params["is_anchor"], "question_id"].astype(int))
        anchors_prev = len(anchor_q & exam.compromised)

    # b on day 1's scale: the truth untransformed, items with ≥ 500 responses, compromised
    # items left out once compromised (their truth changed in the middle of their data).
    pts = []
    for r in params.itertuples():
        key = (int(r.question_id), int(r.version))
        if r.n_respondents < ANCHOR_N or key not in exam.truth:
            continue
        if int(r.question_id) in exam.compromised:
            continue
        pts.append((int(r.question_version_id), float(r.b), exam.truth[key].b, bool(r.is_anchor)))
    b_rmse = b_me = b_corr = None
    if pts:
        est = np.array([p[1] for p in pts])
        true = np.array([p[2] for p in pts])
        b_rmse = float(np.sqrt(np.mean((est - true) ** 2)))
        b_me = float(np.mean(est - true))
        b_corr = float(np.corrcoef(est, true)[0, 1]) if len(pts) > 2 else None

    # Realised exposure in the day's adaptive quizzes.
    n_ada = len(quiz_ids)
    r_max = float(metrics.get("r_max") or R_MAX_DEFAULT)
    exp_max = exp_mean = exp_item = None
    exp_ci = None
    if n_ada and counts:
        rates = {q: n / n_ada for q, n in counts.items()}
        exp_item, exp_max = max(rates.items(), key=lambda kv: kv[1])
        exp_ci = _ci(exp_max, n_ada)
        live_n = len(exam.live)
        exp_mean = float(sum(counts.values()) / n_ada / live_n) if live_n else None

    # Pretest: new versions with ≥ 200 pretest responses must be calibrated after this night.
    calibrated = {(int(r.question_id), int(r.version)) for r in params.itertuples()}
    pre = {(int(r.question_id), int(r.version)): int(r.n_pretest) for r in pretest.itertuples()}
    due, missed, promoted = 0, [], 0
    before = season.previous_calibrated.get(exam.name, set())
    for key, added in exam.new_versions.items():
        qid, ver = key
        live_now = exam.live.get(qid) == ver
        if key in calibrated and key not in before:
            promoted += 1
        if live_now and pre.get(key, 0) >= PRETEST_N:
            due += 1
            if key not in calibrated:
                missed.append({"question_id": qid, "version": ver, "pretest_n": pre[key],
                               "added_day": added})  # fmt: skip
    season.previous_calibrated[exam.name] = calibrated

    adaptive = [o for o in outcomes if o.adaptive and o.theta_hat is not None]
    theta_rmse = (
        float(np.sqrt(np.mean([(o.theta_hat - o.true_theta) ** 2 for o in adaptive])))
        if adaptive
        else None
    )
    refused = [o for o in outcomes if o.status.startswith("refused")]
    notices = None
    starts = [o.start for o in outcomes if o.start]
    if starts and any(_few_calibrated_key(s) is not None for s in starts):
        notices = sum(bool(s.get(_few_calibrated_key(s))) for s in starts)
    link_a = _metric(metrics, "linking.A", "linking_A", "link_A")
    link_b = _metric(metrics, "linking.B", "linking_B", "link_B")
    return Row(
        day=day,
        exam=exam.name,
        cohort_mean=cohort[0],
        cohort_sd=cohort[1],
        quizzes=len(outcomes),
        adaptive_quizzes=n_ada,
        refused=len(refused),
        refusals=[o.status[:200] for o in refused[:5]],
        few_calibrated_notices=notices,
        new_items=authoring[0] if authoring else None,
        edits=authoring[1] if authoring else None,
        retired=authoring[2] if authoring else None,
        set_id=made.id if made else None,
        status=status,
        blocked_because=blocked_because,
        failed_checks=failed,
        latent_mean=_metric(metrics, "latent_mean"),
        latent_sd=_metric(metrics, "latent_sd"),
        link_A=float(link_a) if link_a is not None else None,
        link_B=float(link_b) if link_b is not None else None,
        linking_method=_metric(metrics, "linking.method", "linking_method"),
        n_anchors=_metric(metrics, "n_anchors"),
        dropped=dropped,
        dropped_true=dropped_true,
        precision=precision,
        recall=recall,
        compromised_anchors=anchors_prev,
        items_scale=len(pts),
        b_rmse=b_rmse,
        b_mean_error=b_me,
        b_corr=b_corr,
        r_max=r_max,
        exposure_max=exp_max,
        exposure_max_ci=exp_ci,
        exposure_mean=exp_mean,
        exposure_item=exp_item,
        pretest_promoted=promoted,
        pretest_due=due,
        pretest_missed=missed,
        theta_rmse=theta_rmse,
        lineage_rows=lineage_rows,
        lineage_total=lineage_total,
        exposure_counts={int(q): int(n) for q, n in counts.items()},
        scale_points=pts,
    )


def _few_calibrated_key(start: dict) -> str | None:
    """The field of the quiz-start response that says too few calibrated items were left (the
    lifecycle contract); None when this API has no such field."""
    for key in ("calibrated_short", "few_calibrated", "too_few_calibrated"):
        if key in start:
            return key
    return None


# --- the table ---------------------------------------------------------------------------------

COLUMNS = [
    ("day", 3), ("exam", 7), ("cohort", 11), ("set", 5), ("status", 9), ("A", 6), ("B", 6),
    ("latent", 11), ("anch", 4), ("dropped (comp.)", 15), ("prec", 5), ("recall", 6),
    ("n≥500", 5), ("b RMSE", 6), ("b ME", 6), ("b r", 5), ("exp max [95% CI]", 19),
    ("mean", 5), ("pre ≥200/prom", 13), ("θ RMSE", 6), ("refused", 7), ("lineage", 7),
]  # fmt: skip


def _f(x, nd=3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def row_cells(r: Row) -> list[str]:
    dropped = "n/a" if r.dropped is None else f"{len(r.dropped)} ({r.dropped_true})"
    ci = (
        f"{r.exposure_max:.3f} [{r.exposure_max_ci[0]:.3f},{r.exposure_max_ci[1]:.3f}]"
        if r.exposure_max is not None and r.exposure_max_ci
        else "–"
    )
    latent = (
        f"{r.latent_mean:+.2f}/{r.latent_sd:.2f}"
        if r.latent_mean is not None and r.latent_sd is not None
        else "–"
    )
    return [
        str(r.day), r.exam, f"N({r.cohort_mean:+.1f},{r.cohort_sd:.1f})", str(r.set_id or "–"),
        r.status, _f(r.link_A), _f(r.link_B), latent,
        str(r.n_anchors if r.n_anchors is not None else "–"), dropped, _f(r.precision, 2),
        _f(r.recall, 2), str(r.items_scale), _f(r.b_rmse), _f(r.b_mean_error), _f(r.b_corr),
        ci, _f(r.exposure_mean), f"{r.pretest_due - len(r.pretest_missed)}/{r.pretest_due} "
        f"+{r.pretest_promoted}", _f(r.theta_rmse), str(r.refused),
        f"{r.lineage_rows / r.lineage_total:.0%}" if r.lineage_total else "–",
    ]  # fmt: skip


def header() -> str:
    return " | ".join(name.ljust(w) for name, w in COLUMNS)


def format_row(r: Row) -> str:
    cells = " | ".join(c.ljust(w) for c, (_, w) in zip(row_cells(r), COLUMNS, strict=True))
    extra = []
    if r.blocked_because:
        extra.append(f"  blocked: {r.blocked_because}")
    for d in (r.dropped or [])[:12]:
        tag = "COMPROMISED" if d["compromised"] else "not compromised"
        extra.append(f"  dropped q{d['question_id']} v{d['version']} ({tag}): {d['reason']}")
    for m in r.pretest_missed[:5]:
        extra.append(f"  pretest not calibrated: {m}")
    for s in r.refusals:
        extra.append(f"  refused: {s}")
    return "\n".join([header(), cells, *extra])


def format_table(season: Season) -> str:
    lines = ["", "=== QBank season ===", header(), "-" * len(header())]
    lines += [
        " | ".join(c.ljust(w) for c, (_, w) in zip(row_cells(r), COLUMNS, strict=True))
        for r in season.rows
    ]
    return "\n".join(lines)


def markdown_table(season: Season) -> str:
    names = [n for n, _ in COLUMNS]
    out = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    out += ["| " + " | ".join(row_cells(r)) + " |" for r in season.rows]
    return "\n".join(out)


# --- pooled figures and judgments --------------------------------------------------------------


def pooled_exposure(season: Season, exam: str) -> tuple[float, tuple[float, float], int] | None:
    """Max exposure over the days after the first calibration (days whose quizzes were served
    with a published set), pooled: per-item counts summed over the quizzes of those days."""
    first = next((r.day for r in season.rows if r.exam == exam and r.status == "published"), None)
    if first is None:
        return None
    rows = [r for r in season.rows if r.exam == exam and r.day > first]
    n = sum(r.adaptive_quizzes for r in rows)
    if not n:
        return None
    total: dict[int, int] = {}
    for r in rows:
        for q, k in r.exposure_counts.items():
            total[q] = total.get(q, 0) + k
    p = max(total.values()) / n
    return p, _ci(p, n), n


@dataclass(frozen=True)
class Judgment:
    name: str
    passed: bool
    detail: str


def judge(season: Season, exams: list[ExamCode]) -> list[Judgment]:
    out = []
    rows = season.rows
    if not rows:
        return [Judgment("nights measured", False, "no night ran")]
    # A block before the leak, or after it without a single compromised item among the
    # anchors the night flagged, has nothing but the cohort's shift to blame.
    blocked = [r for r in rows if r.status == "blocked"]
    by_shift = [
        r for r in blocked
        if r.day < season.compromise_day or not any(d["compromised"] for d in r.dropped or [])
    ]  # fmt: skip
    by_leak = [r for r in blocked if r not in by_shift]
    detail = (
        "every night's set published for every exam code"
        if not blocked
        else "; ".join(
            f"day {r.day} {r.exam} blocked{' with leaked anchors flagged' if r in by_leak else ''}"
            f": {r.blocked_because}"
            for r in blocked
        )
    )
    out.append(Judgment("no exam code blocked by an ability shift alone", not by_shift, detail))
    for exam in exams:
        n = len(exam.compromised)
        if not n:
            continue
        flagged = season.flagged.get(exam.name)
        reported = any(r.dropped is not None for r in rows if r.exam == exam.name)
        if not reported:
            out.append(Judgment(f"{exam.name}: compromised items flagged", False,
                                "not measured: the sets' metrics report no dropped anchors"))  # fmt: skip
            continue
        hits = len((flagged or set()) & exam.compromised)
        false = len((flagged or set()) - exam.compromised)
        need = math.ceil(0.8 * n)
        out.append(
            Judgment(
                f"{exam.name}: ≥{need} of {n} compromised items flagged, ≤3 false flags",
                hits >= need and false <= 3,
                f"{hits} of {n} flagged by the last night, {false} false flag(s) over the season "
                f"(not flagged: {sorted(exam.compromised - (flagged or set()))})",
            )
        )
    bad_scale = [
        r for r in rows
        if r.items_scale and (abs(r.b_mean_error) > 0.10 or r.b_rmse > 0.25)
    ]  # fmt: skip
    measured = [r for r in rows if r.items_scale]
    out.append(
        Judgment(
            "scale holds (items with ≥500 responses: |mean error| ≤ 0.10, RMSE ≤ 0.25)",
            bool(measured) and not bad_scale,
            (
                "no night had items with ≥500 responses"
                if not measured
                else "; ".join(
                    f"day {r.day} {r.exam}: ME {r.b_mean_error:+.3f}, RMSE {r.b_rmse:.3f} "
                    f"({r.items_scale} items)"
                    for r in (bad_scale or measured[-len(exams) :])
                )
            ),
        )  # fmt: skip
    )
    for exam in exams:
        pooled = pooled_exposure(season, exam.name)
        r_max = max((r.r_max for r in rows if r.exam == exam.name), default=R_MAX_DEFAULT)
        if pooled is None:
            out.append(Judgment(f"{exam.name}: pooled adaptive max exposure", False,
                                "not measured: no adaptive quiz after a published set"))  # fmt: skip
            continue
        p, ci, n = pooled
        out.append(
            Judgment(
                f"{exam.name}: pooled adaptive max exposure ≤ r_max + {EXPOSURE_MARGIN}",
                p <= r_max + EXPOSURE_MARGIN,
                f"{p:.3f} [95% CI {ci[0]:.3f}, {ci[1]:.3f}] over {n} adaptive quizzes "
                f"(r_max {r_max})",
            )
        )
    refused = sum(r.refused for r in rows)
    out.append(
        Judgment(
            "0 quizzes refused",
            refused == 0,
            f"{refused} of {sum(r.quizzes for r in rows)} quiz starts refused",
        )
    )
    due = sum(r.pretest_due for r in rows if r.day == max(x.day for x in rows))
    missed = [(r.day, r.exam, m) for r in rows for m in r.pretest_missed]
    ever_due = sum(r.pretest_due for r in rows)
    out.append(
        Judgment(
            "every new item with ≥200 pretest responses calibrated and scored by the next night",
            not missed and ever_due > 0,
            (
                "no new item reached 200 pretest responses"
                if not ever_due
                else f"{len(missed)} misses"
                + (f", e.g. {missed[:3]}" if missed else "")
                + f"; {due} new versions past 200 pretest responses on the last night, "
                f"{sum(r.pretest_promoted for r in rows)} promoted over the season"
            ),
        )  # fmt: skip
    )
    return out


# --- plots and files ---------------------------------------------------------------------------


def plot_night(out_dir: Path, exam: ExamCode, row: Row, season: Season) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    if row.scale_points:
        est = np.array([p[1] for p in row.scale_points])
        true = np.array([p[2] for p in row.scale_points])
        anchor = np.array([p[3] for p in row.scale_points])
        ax1.scatter(true[~anchor], est[~anchor], s=10, label="re-estimated")
        ax1.scatter(true[anchor], est[anchor], s=10, label="anchor")
        lo, hi = min(true.min(), est.min()), max(true.max(), est.max())
        ax1.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    ax1.set_xlabel("true b (day 1 scale)")
    ax1.set_ylabel("published b")
    ax1.set_title(
        f"{exam.name} day {row.day}: b RMSE {_f(row.b_rmse)}, ME {_f(row.b_mean_error)} "
        f"({row.items_scale} items ≥{ANCHOR_N})",
        fontsize=9,
    )
    if row.scale_points:
        ax1.legend(fontsize=8)
    if row.exposure_counts and row.adaptive_quizzes:
        rates = np.sort(np.array(list(row.exposure_counts.values())) / row.adaptive_quizzes)[::-1]
        ax2.bar(np.arange(len(rates)), rates, width=1.0)
        ax2.axhline(row.r_max, color="k", ls="--", lw=0.8, label=f"r_max {row.r_max}")
        ax2.axhline(row.r_max + EXPOSURE_MARGIN, color="r", ls=":", lw=0.8, label="r_max + 0.03")
        if row.exposure_max_ci:
            ax2.axhspan(*row.exposure_max_ci, color="orange", alpha=0.25, label="95% CI of max")
        ax2.legend(fontsize=8)
    ax2.set_xlabel("items, by exposure")
    ax2.set_ylabel("exposure rate (adaptive quizzes)")
    ax2.set_title(f"{row.adaptive_quizzes} adaptive quizzes", fontsize=9)
    fig.tight_layout()
    path = out_dir / f"day{row.day}-{exam.exam_code}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_season(out_dir: Path, season: Season) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for exam in sorted({r.exam for r in season.rows}):
        rows = [r for r in season.rows if r.exam == exam]
        days = [r.day for r in rows]
        axes[0].plot(days, [r.b_rmse if r.b_rmse is not None else np.nan for r in rows], "o-",
                     label=f"{exam} RMSE")  # fmt: skip
        axes[0].plot(days, [r.b_mean_error if r.b_mean_error is not None else np.nan
                            for r in rows], "s--", label=f"{exam} mean error")  # fmt: skip
        mx = [r.exposure_max if r.exposure_max is not None else np.nan for r in rows]
        err = [(r.exposure_max - r.exposure_max_ci[0]) if r.exposure_max_ci else 0 for r in rows]
        axes[1].errorbar(days, mx, yerr=err, fmt="o-", capsize=3, label=exam)
        axes[2].plot(days, [r.theta_rmse if r.theta_rmse is not None else np.nan for r in rows],
                     "o-", label=exam)  # fmt: skip
    r_max = max((r.r_max for r in season.rows), default=R_MAX_DEFAULT)
    axes[0].axhline(0.25, color="k", ls=":", lw=0.8)
    axes[0].axhline(0.10, color="gray", ls=":", lw=0.8)
    axes[0].axhline(-0.10, color="gray", ls=":", lw=0.8)
    axes[0].set_title("b against the truth (day 1 scale)", fontsize=9)
    axes[1].axhline(r_max, color="k", ls="--", lw=0.8)
    axes[1].axhline(r_max + EXPOSURE_MARGIN, color="r", ls=":", lw=0.8)
    axes[1].set_title("realised adaptive max exposure, 95% CI", fontsize=9)
    axes[2].set_title("θ RMSE of adaptive quizzes", fontsize=9)
    for ax in axes:
        ax.set_xlabel("day")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out_dir / "season.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set):
        return [_jsonable(v) for v in x]
    if isinstance(x, float | np.floating):
        return None if not math.isfinite(float(x)) else round(float(x), 5)
    if isinstance(x, np.integer):
        return int(x)
    return x


def write(out_dir: Path, run: str, plan, season: Season, judgments: list[Judgment], exams,
          phases: dict[str, float], minutes: float) -> dict:  # fmt: skip
    plot_season(out_dir, season)
    rows = []
    for r in season.rows:
        d = asdict(r)
        d.pop("exposure_counts")
        d.pop("scale_points")
        rows.append(d)
    pooled = {
        e.name: (lambda p: None if p is None else {"max": p[0], "ci": p[1], "quizzes": p[2]})(
            pooled_exposure(season, e.name)
        )
        for e in exams
    }
    result = _jsonable(
        {
            "run": run,
            "minutes": minutes,
            "plan": asdict(plan),
            "phases_seconds": phases,
            "rows": rows,
            "pooled_exposure": pooled,
            "compromised": {e.name: sorted(e.compromised) for e in exams},
            "flagged": {k: sorted(v) for k, v in season.flagged.items()},
            "edits": {e.name: e.edits for e in exams},
            "edit_kind_sent": exams[0].edit_kind_supported if exams else None,
            "judgments": [asdict(j) for j in judgments],
        }
    )
    (out_dir / "season.json").write_text(json.dumps(result, indent=1))
    md = [f"# QBank season {run}", "", f"{minutes:.1f} minutes.", "", markdown_table(season), ""]
    md += [f"- **{'PASS' if j.passed else 'FAIL'}** {j.name}: {j.detail}" for j in judgments]
    (out_dir / "season.md").write_text("\n".join(md) + "\n")
    return result
