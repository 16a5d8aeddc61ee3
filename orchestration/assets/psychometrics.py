"""Calibration → exposure control → publishing → simulation report, one partition per
(tenant, exam code) (`orchestration.partitions`).

Each asset reads its inputs, calls a library function (`orchestration.calibration`,
`orchestration.simulation`, `orchestration.publishing`, which call `irt_models`), and reports
what a psychometrician looks at: parameter tables, ICCs, test information, exposure. The
checks of a calibration are evaluated once, in `item_calibration`, per partition; the blocking
ones stop that partition's exposure control and publishing only, and travel with the
calibration (`CheckedCalibration`, stored by the PostgreSQL I/O manager), so a later run that
publishes the stored calibration alone refuses it too, without evaluating anything again.
"""

from dataclasses import dataclass
from datetime import timedelta

import dagster as dg
import numpy as np
from pydantic import Field
from sqlalchemy import text

from orchestration import plots
from orchestration.calibration import PairCalibration, calibrate_pair
from orchestration.checks import BLOCKING, CHECK_NAMES, CheckOutcome, evaluate
from orchestration.partitions import ExamPartition, exam_partitions, resolve_partition
from orchestration.publishing import live_bank, publish_calibration
from orchestration.resources import QBankSettingsResource
from orchestration.simulation import (
    PairExposure,
    correct_with_live_exposure,
    exposure_for_pair,
    simulate_live_bank,
)
from orchestration.traffic import (
    EXPOSURE_TOLERANCE,
    api_randomesque_k,
    first_activation,
    live_set_exposure,
    quota_membership,
    realised_exposure,
    realised_summary,
    traffic_profile,
)

GROUP = "psychometrics"
# Calibration runs carry this tag: DAGSTER_HOME/dagster.yaml runs two of them at a time.
CALIBRATION_TAG = {"qbank/calibration": "exam"}


@dataclass
class CheckedCalibration:
    """One partition's calibration with the outcomes of its checks (None: no responses yet)."""

    partition: str
    pair: PairCalibration | None
    checks: list[CheckOutcome]


class CalibrationConfig(dg.Config):
    min_respondents: int = Field(200, description="Items with fewer respondents stay uncalibrated.")
    drift_since_live_set: bool = Field(
        True,
        description=(
            "Judge anchor drift on the responses since the live set went live (all responses "
            "when too few anchors have enough of them); False: on every response."
        ),
    )


class ExposureConfig(dg.Config):
    r_max: float = Field(0.25, gt=0, le=1, description="Target maximum exposure rate.")
    window_days: float = Field(
        14.0,
        gt=0,
        description="Recent window of traffic the simulation follows and the check reads.",
    )
    randomesque_k: int | None = Field(
        None,
        ge=1,
        le=20,
        description="The API's randomesque k; unset: read QBANK_API_RANDOMESQUE_K as the API does.",
    )
    test_length: int = Field(
        20, ge=1, description="Items per simulated quiz when no adaptive quiz was observed yet."
    )
    n_simulees: int = Field(2000, ge=10)
    n_iter: int = Field(8, ge=1, description="Sympson-Hetter iterations.")
    seed: int = 2026


class SimulationConfig(dg.Config):
    n_simulees: int = Field(1000, ge=10)
    max_length: int = Field(40, ge=1)
    min_length: int = Field(5, ge=1)
    se_stop: float = Field(0.3, gt=0, description="Stop once SE(θ) is at most this.")
    seed: int = 7


def _parameter_table(pair: PairCalibration, limit: int = 200) -> dg.MetadataValue:
    cols = ["question_version_id", "question_id", "version", "a", "b", "c", "se_a", "se_b",
            "se_c", "n", "is_anchor", "rmsd", "outfit"]  # fmt: skip
    df = pair.calibrated[cols].head(limit).round(3)
    return dg.MetadataValue.md(df.to_markdown(index=False))


def _anchor_table(pair: PairCalibration, limit: int = 200) -> dg.MetadataValue:
    cols = ["question_version_id", "b_ref", "b_linked", "delta_b", "z", "a_ref", "a_linked",
            "delta_a", "flagged", "reason"]  # fmt: skip
    df = pair.linking.items.sort_values("flagged", ascending=False)[cols].head(limit)
    return dg.MetadataValue.md(df.round(3).to_markdown(index=False))


def _responses_exist(qbank: QBankSettingsResource, exam: ExamPartition) -> bool:
    with qbank.analytics_engine.connect() as c:
        return bool(
            c.execute(
                text(
                    "SELECT EXISTS (SELECT 1 FROM marts.fact_responses "
                    "WHERE tenant_id = :t AND exam_code = :e)"
                ),
                {"t": exam.tenant_id, "e": exam.exam_code},
            ).scalar()
        )


def _calibration_metadata(pair: PairCalibration) -> dict:
    metrics = pair.metrics()
    metadata: dict = {
        "items_calibrated": int(pair.items["calibrated"].sum()),
        "n_responses": pair.n_responses,
        "summary": dg.MetadataValue.json(
            {k: v for k, v in metrics.items() if k != "anchors_dropped"}
        ),
    }
    if pair.linking is not None:
        metadata["linking"] = dg.MetadataValue.json(pair.linking.summary())
    cal = pair.calibrated
    if cal.empty:
        return metadata
    metadata["parameters"] = _parameter_table(pair)
    if pair.linking is not None and pair.linking.n_candidates:
        metadata["anchors"] = _anchor_table(pair)
    metadata["ICC"] = plots.as_markdown(
        plots.item_characteristic_curves(
            cal["a"], cal["b"], cal["c"], cal["question_version_id"].tolist(), pair.exam_code
        ),
        f"item characteristic curves {pair.exam_code}",
    )
    metadata["test information"] = plots.as_markdown(
        plots.information_curves(
            {pair.exam_code: (cal["a"].to_numpy(), cal["b"].to_numpy(), cal["c"].to_numpy())},
            f"test information of {pair.exam_code}",
        ),
        "test information",
    )
    return metadata


@dg.asset(
    deps=[dg.AssetKey(["marts", "fact_responses"])],
    partitions_def=exam_partitions,
    group_name=GROUP,
    kinds={"python", "postgres"},
    tags={"qbank/calibration": "exam"},
    description=(
        "3PL parameters by EM (irt_models) of one tenant's exam code from marts.fact_responses; "
        "live items with n ≥ 500 and SE(b) ≤ 0.15 are candidate anchors; a free re-estimation is "
        "linked onto the live scale (Stocking-Lord), anchors that drifted after linking are "
        "dropped and re-estimated, the rest held fixed; the cohort's latent mean/SD is estimated."
    ),
    # Blocking per partition: a failed bounds, convergence or linking check stops this exam
    # code's exposure control and publishing; other partitions are other runs.
    check_specs=[
        # partitioned like the asset: the UI shows each exam code's check history
        dg.AssetCheckSpec(
            name, asset="item_calibration", blocking=BLOCKING[name], partitions_def=exam_partitions
        )
        for name in CHECK_NAMES
    ],
)
def item_calibration(
    context: dg.AssetExecutionContext, config: CalibrationConfig, qbank: QBankSettingsResource
):
    exam = resolve_partition(qbank.serving_engine, context.partition_key)
    # The live sets it links to were written on the serving side: read them once replicated.
    qbank.wait_for_replica()
    if not _responses_exist(qbank, exam):
        context.log.info(f"{exam.key}: no responses in the marts yet, nothing to calibrate")
        yield dg.Output(CheckedCalibration(exam.key, None, []), metadata={"items_calibrated": 0})
        for name in CHECK_NAMES:
            yield dg.AssetCheckResult(
                check_name=name, passed=True, description="no responses yet: nothing calibrated"
            )
        return
    pair = calibrate_pair(
        qbank.analytics_engine,
        exam.tenant_id,
        exam.exam_code,
        min_respondents=config.min_respondents,
        drift_since_live_set=config.drift_since_live_set,
    )
    context.log.info(f"{exam.key}: {pair.metrics()}")
    checks = evaluate(pair)
    yield dg.Output(
        CheckedCalibration(exam.key, pair, checks), metadata=_calibration_metadata(pair)
    )
    for outcome in checks:
        yield dg.AssetCheckResult(
            check_name=outcome.name,
            passed=outcome.passed,
            severity=dg.AssetCheckSeverity.ERROR
            if BLOCKING[outcome.name]
            else dg.AssetCheckSeverity.WARN,
            description=outcome.description,
            metadata={"details": dg.MetadataValue.json(outcome.details)},
        )


@dg.asset(
    # The traffic to simulate and the realised exposure come from these (orchestration.traffic).
    deps=[
        dg.AssetKey(["marts", "fact_responses"]),
        dg.AssetKey(["staging", "stg_events__quiz_started"]),
    ],
    partitions_def=exam_partitions,
    group_name=GROUP,
    kinds={"python", "postgres"},
    tags={"qbank/calibration": "exam"},
    description=(
        "Sympson-Hetter exposure parameters K_i by the iterative simulation procedure over the "
        "calibrated bank, target maximum exposure r_max (default 0.25), simulating the adaptive "
        "traffic of the recent window (marts): observed quiz lengths and quotas, the API's "
        "randomesque k, simulees from the calibration's latent N(μ, σ²). Checks the realised "
        "exposure."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "realised_exposure",
            asset="exposure_control",
            partitions_def=exam_partitions,
            description=(
                "Each item's share of the window's adaptive quizzes that served it (marts) is at "
                f"most r_max + {EXPOSURE_TOLERANCE} (WARN)."
            ),
        )
    ],
)
def exposure_control(
    context: dg.AssetExecutionContext,
    config: ExposureConfig,
    qbank: QBankSettingsResource,
    item_calibration: CheckedCalibration,
):
    pair = item_calibration.pair
    if pair is None or pair.calibrated.empty:
        yield dg.Output(None, metadata={"items": 0})
        yield dg.AssetCheckResult(
            check_name="realised_exposure", passed=True, description="nothing calibrated yet"
        )
        return
    k_rand = config.randomesque_k or api_randomesque_k()
    profile = traffic_profile(
        qbank.analytics_engine,
        pair.tenant_id,
        pair.exam_code,
        window_days=config.window_days,
        randomesque_k=k_rand,
        latent_mean=pair.latent_mean,
        latent_sd=pair.latent_sd,
    )
    topics = profile.quota_topics()
    membership = (
        quota_membership(
            qbank.analytics_engine, pair.tenant_id, pair.calibrated["question_version_id"], topics
        )
        if topics
        else None
    )
    result = exposure_for_pair(
        pair,
        membership=membership,
        r_max=config.r_max,
        n_simulees=config.n_simulees,
        n_iter=config.n_iter,
        seed=config.seed,
        profile=profile,
        test_length=config.test_length,
        randomesque_k=k_rand,
    )
    live, n_live = live_set_exposure(
        qbank.analytics_engine, pair.tenant_id, pair.exam_code, pair.previous_set_id,
        profile.until,
    )  # fmt: skip
    result, lowered = correct_with_live_exposure(result, live, n_live)
    context.log.info(
        f"{item_calibration.partition}: traffic {profile.summary()}; max exposure by iteration "
        f"{np.round(result.max_exposure_by_iteration, 3)}, with the final K "
        f"{result.final_max_exposure}; K lowered for {lowered} item(s) realised above r_max "
        f"over {n_live} adaptive quizzes under the live set"
    )
    # The realised exposure K answer for: adaptive quizzes since a set first went live (in
    # the window). Cold-start quizzes had no K and would warn every new exam code's first night.
    first = first_activation(qbank.analytics_engine, pair.tenant_id, pair.exam_code)
    if first is None:
        realised = {"window": "no parameter set live yet: exposure control not in force",
                    "adaptive_quizzes": 0, "max_exposure": None, "n_over": 0}  # fmt: skip
    else:
        since = max(first, profile.until - timedelta(days=config.window_days))
        items, n_quizzes = realised_exposure(
            qbank.analytics_engine, pair.tenant_id, pair.exam_code, since, profile.until
        )
        realised = realised_summary(items, n_quizzes, config.r_max, f"since {since.isoformat()}")
    last = result.max_exposure_by_iteration
    metadata: dict = {
        "r_max": config.r_max,
        "randomesque_k": k_rand,
        "items": len(result.items),
        "iterations": result.iterations,
        "max_exposure_first": last[0] if last else None,
        "max_exposure_last": last[-1] if last else None,
        "max_exposure_final_k": result.final_max_exposure,
        "items_with_k_below_1": int((result.items["k"] < 1).sum()) if len(result.items) else 0,
        "realised_max": realised["max_exposure"],
        "realised_quizzes": realised["adaptive_quizzes"],
        "traffic": dg.MetadataValue.json(result.traffic),
    }
    if len(result.items):
        metadata["exposure histogram"] = plots.as_markdown(
            plots.exposure_histogram(
                {pair.exam_code: result.items["exposure"].to_numpy()},
                config.r_max,
                "exposure with Sympson-Hetter K",
            ),
            "exposure histogram",
        )
    yield dg.Output(result, metadata=metadata)
    yield dg.AssetCheckResult(
        check_name="realised_exposure",
        passed=not realised["n_over"],
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{realised['n_over']} item(s) above {config.r_max + EXPOSURE_TOLERANCE:.2f}, "
            f"max {realised['max_exposure']:.3f} over {realised['adaptive_quizzes']} adaptive "
            "quizzes"
            if realised["n_over"]
            else f"every item at most r_max + {EXPOSURE_TOLERANCE}"
        ),
        metadata={"result": dg.MetadataValue.json(realised)},
    )


@dg.asset(
    partitions_def=exam_partitions,
    group_name=GROUP,
    kinds={"postgres"},
    tags={"qbank/calibration": "exam"},
    description=(
        "Writes the calibration + exposure set of the exam code to item_parameter_sets/"
        "item_parameters and activates it atomically with NOTIFY. It refuses by itself a "
        "calibration whose blocking checks failed (the outcomes stored with it): the set is "
        "stored as rejected, never activated, the previous set stays live, and the step fails."
    ),
)
def published_item_parameters(
    context: dg.AssetExecutionContext,
    qbank: QBankSettingsResource,
    item_calibration: CheckedCalibration,
    exposure_control: PairExposure | None,
) -> dg.MaterializeResult:
    pair = item_calibration.pair
    if pair is None or pair.calibrated.empty:
        context.log.info(
            f"{item_calibration.partition}: nothing calibrated yet, nothing to publish"
        )
        return dg.MaterializeResult(metadata={"status": "nothing to publish"})
    if exposure_control is None or exposure_control.key != pair.key:
        raise dg.Failure(
            f"no exposure control for {item_calibration.partition}: materialize "
            "exposure_control of this partition first"
        )
    outcome = publish_calibration(
        qbank.serving_engine,
        pair,
        exposure_control.k,
        item_calibration.checks,
        run_id=context.run.run_id,
        extra_metrics={
            "r_max": exposure_control.r_max,
            "max_exposure": exposure_control.max_exposure_by_iteration[-1]
            if exposure_control.max_exposure_by_iteration
            else None,
            "max_exposure_final_k": exposure_control.final_max_exposure,
            "sympson_hetter_iterations": exposure_control.iterations,
            "traffic": exposure_control.traffic,
            "dagster_partition": item_calibration.partition,
        },
    )
    metadata = {
        "set_id": outcome.set_id,
        "status": outcome.status,
        "superseded": outcome.superseded_set_id,
        "items": outcome.n_items,
        "failed_checks": ", ".join(outcome.failed_checks),
    }
    if outcome.status != "active":
        # The asset is not materialized: what is live did not change.
        raise dg.Failure(
            description=(
                f"{item_calibration.partition}: set {outcome.set_id} refused, failed checks "
                f"{list(outcome.failed_checks)}; the previous set stays live"
            ),
            metadata=metadata,
        )
    context.log.info(
        f"{item_calibration.partition}: set {outcome.set_id} active "
        f"(superseded {outcome.superseded_set_id})"
    )
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(
    deps=[published_item_parameters],
    partitions_def=exam_partitions,
    group_name=GROUP,
    kinds={"python"},
    tags={"qbank/calibration": "exam"},
    description=(
        "Simulated adaptive tests over the exam code's live bank with the live policy: bias and "
        "RMSE of θ, mean test length to SE ≤ 0.3, maximum and mean exposure, test overlap rate."
    ),
)
def cat_simulation_report(
    context: dg.AssetExecutionContext, config: SimulationConfig, qbank: QBankSettingsResource
) -> dg.MaterializeResult:
    exam = resolve_partition(qbank.serving_engine, context.partition_key)
    bank = live_bank(qbank.serving_engine, exam.tenant_id, exam.exam_code)
    if bank.empty:
        context.log.info(f"{exam.key}: no live parameter set yet")
        return dg.MaterializeResult(metadata={"live_items": 0, "summary": "no live parameter set"})
    report = simulate_live_bank(
        bank,
        n_simulees=config.n_simulees,
        max_length=config.max_length,
        min_length=config.min_length,
        se_stop=config.se_stop,
        seed=config.seed,
    )
    summary = {
        k: (v if not isinstance(v, float) else round(v, 5)) for k, v in report.summary().items()
    }
    set_id = int(bank["set_id"].max())
    context.log.info(f"{exam.key}: set {set_id}, {summary}")
    return dg.MaterializeResult(
        metadata={
            "set_id": set_id,
            "live_items": len(bank),
            "report": dg.MetadataValue.json(summary),
            "recovery": plots.as_markdown(
                plots.theta_recovery(report.theta, report.theta_hat, report.lengths, exam.key),
                "θ recovery and test length",
            ),
        }
    )


PSYCHOMETRIC_ASSETS = [
    item_calibration,
    exposure_control,
    published_item_parameters,
    cat_simulation_report,
]
