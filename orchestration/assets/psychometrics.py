"""Calibration → exposure control → publishing → simulation report, per (tenant, exam code).

Each asset reads its inputs, calls a library function (`orchestration.calibration`,
`orchestration.simulation`, `orchestration.publishing`, which call `irt_models`), and reports
what a psychometrician looks at: parameter tables, ICCs, test information, exposure.
"""

from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd
from pydantic import Field

from orchestration import plots
from orchestration.calibration import PairCalibration, calibrate_pair, exam_pairs
from orchestration.checks import BLOCKING, CHECK_NAMES, evaluate
from orchestration.publishing import active_pairs, live_bank, publish_calibration
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


@dg.asset(
    deps=[dg.AssetKey(["marts", "fact_responses"])],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description=(
        "3PL parameters by EM (irt_models) per tenant and exam code from marts.fact_responses; "
        "live items with n ≥ 500 and SE(b) ≤ 0.15 are candidate anchors; a free re-estimation is "
        "linked onto the live scale (Stocking-Lord), anchors that drifted after linking are "
        "dropped and re-estimated, the rest held fixed; the cohort's latent mean/SD is estimated."
    ),
    # Not blocking: one exam code's failure must not hold back every other tenant's set.
    # Publishing evaluates the same checks per exam code and refuses exactly the failing sets.
    check_specs=[
        dg.AssetCheckSpec(name, asset="item_calibration", blocking=False) for name in CHECK_NAMES
    ],
)
def item_calibration(
    context: dg.AssetExecutionContext, config: CalibrationConfig, qbank: QBankSettingsResource
):
    # The live sets it links to were written on the serving side: read them once replicated.
    qbank.wait_for_replica()
    pairs: dict[str, PairCalibration] = {}
    for tenant_id, exam_code in exam_pairs(qbank.analytics_engine):
        pair = calibrate_pair(
            qbank.analytics_engine,
            tenant_id,
            exam_code,
            min_respondents=config.min_respondents,
            drift_since_live_set=config.drift_since_live_set,
        )
        pairs[pair.key] = pair
        context.log.info(f"{pair.key}: {pair.metrics()}")

    summary = pd.DataFrame([{"exam": k, **p.metrics()} for k, p in pairs.items()])
    metadata: dict = {
        "exam_codes": len(pairs),
        "items_calibrated": int(sum(p.items["calibrated"].sum() for p in pairs.values())),
        "summary": dg.MetadataValue.md(summary.round(4).to_markdown(index=False))
        if len(summary)
        else "no responses yet",
    }
    links = [
        {"exam": k, **{n: v for n, v in p.linking.summary().items() if n != "problems"}}
        for k, p in pairs.items()
        if p.linking is not None
    ]
    if links:
        metadata["linking"] = dg.MetadataValue.md(
            pd.DataFrame(links).round(4).to_markdown(index=False)
        )
    curves = {}
    # Plots for the six largest calibrations: the metadata stays readable with many tenants.
    largest = sorted(pairs.items(), key=lambda kv: kv[1].n_responses, reverse=True)[:6]
    for key, pair in largest:
        cal = pair.calibrated
        if cal.empty:
            continue
        metadata[f"parameters {key}"] = _parameter_table(pair)
        if pair.linking is not None and pair.linking.n_candidates:
            metadata[f"anchors {key}"] = _anchor_table(pair)
        metadata[f"ICC {key}"] = plots.as_markdown(
            plots.item_characteristic_curves(
                cal["a"], cal["b"], cal["c"], cal["question_version_id"].tolist(), key
            ),
            f"item characteristic curves {key}",
        )
        curves[pair.exam_code if len(pairs) == 1 else key[-24:]] = (
            cal["a"].to_numpy(), cal["b"].to_numpy(), cal["c"].to_numpy(),
        )  # fmt: skip
    if curves:
        metadata["test information"] = plots.as_markdown(
            plots.information_curves(curves, "test information of the calibrated banks"),
            "test information",
        )
    yield dg.Output(pairs, metadata=metadata)

    outcomes = {key: evaluate(pair) for key, pair in pairs.items()}
    for i, name in enumerate(CHECK_NAMES):
        per_pair = {key: results[i] for key, results in outcomes.items()}
        failed = {k: o.description for k, o in per_pair.items() if not o.passed}
        yield dg.AssetCheckResult(
            check_name=name,
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR if BLOCKING[name] else dg.AssetCheckSeverity.WARN,
            description=(
                "; ".join(f"{k}: {d}" for k, d in failed.items())
                if failed
                else f"passed for {len(per_pair)} exam code(s)"
            ),
            metadata={
                "results": dg.MetadataValue.json(
                    {
                        k: {"passed": o.passed, "description": o.description, **o.details}
                        for k, o in per_pair.items()
                    }  # fmt: skip
                )
            },
        )


@dg.asset(
    # The traffic to simulate and the realised exposure come from these (orchestration.traffic).
    deps=[
        dg.AssetKey(["marts", "fact_responses"]),
        dg.AssetKey(["staging", "stg_events__quiz_started"]),
    ],
    group_name=GROUP,
    kinds={"python", "postgres"},
    description=(
        "Sympson-Hetter exposure parameters K_i by the iterative simulation procedure over each "
        "calibrated bank, target maximum exposure r_max (default 0.25), simulating the adaptive "
        "traffic of the recent window (marts): observed quiz lengths and quotas, the API's "
        "randomesque k, simulees from the calibration's latent N(μ, σ²). Checks the realised "
        "exposure."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "realised_exposure",
            asset="exposure_control",
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
    item_calibration: dict[str, PairCalibration],
):
    k_rand = config.randomesque_k or api_randomesque_k()
    result: dict[str, PairExposure] = {}
    realised: dict[str, dict] = {}
    for key, pair in item_calibration.items():
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
                qbank.analytics_engine,
                pair.tenant_id,
                pair.calibrated["question_version_id"],
                topics,
            )
            if topics
            else None
        )
        result[key] = exposure_for_pair(
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
        result[key], lowered = correct_with_live_exposure(result[key], live, n_live)
        context.log.info(
            f"{key}: traffic {profile.summary()}; max exposure by iteration "
            f"{np.round(result[key].max_exposure_by_iteration, 3)}, with the final K "
            f"{result[key].final_max_exposure}; K lowered for {lowered} item(s) realised above "
            f"r_max over {n_live} adaptive quizzes under the live set"
        )
        # The realised exposure K answer for: adaptive quizzes since a set first went live (in
        # the window). Cold-start quizzes had no K and would warn every new exam code's first night.
        first = first_activation(qbank.analytics_engine, pair.tenant_id, pair.exam_code)
        if first is None:
            realised[key] = {"window": "no parameter set live yet: exposure control not in force",
                             "adaptive_quizzes": 0, "max_exposure": None, "n_over": 0}  # fmt: skip
        else:
            since = max(first, profile.until - timedelta(days=config.window_days))
            items, n_quizzes = realised_exposure(
                qbank.analytics_engine, pair.tenant_id, pair.exam_code, since, profile.until
            )
            realised[key] = realised_summary(
                items, n_quizzes, config.r_max, f"since {since.isoformat()}"
            )
    rows = [
        {
            "exam": key,
            "items": len(e.items),
            "adaptive_quizzes": e.traffic.get("adaptive_quizzes"),
            "scored_length_mean": e.traffic.get("scored_length_mean", e.traffic.get("scored_length")),
            "pretest_share": e.traffic.get("pretest_share"),
            "randomesque_k": e.traffic.get("randomesque_k"),
            "latent_mean": e.traffic.get("latent_mean"),
            "latent_sd": e.traffic.get("latent_sd"),
            "iterations": e.iterations,
            "max_exposure_first": e.max_exposure_by_iteration[0] if e.max_exposure_by_iteration else None,
            "max_exposure_last": e.max_exposure_by_iteration[-1] if e.max_exposure_by_iteration else None,
            "max_exposure_final_k": e.final_max_exposure,
            "items_with_k_below_1": int((e.items["k"] < 1).sum()) if len(e.items) else 0,
            "realised_max": realised[key]["max_exposure"],
            "realised_quizzes": realised[key]["adaptive_quizzes"],
        }
        for key, e in result.items()
    ]  # fmt: skip
    metadata: dict = {
        "r_max": config.r_max,
        "randomesque_k": k_rand,
        "summary": dg.MetadataValue.md(pd.DataFrame(rows).round(4).to_markdown(index=False))
        if rows
        else "nothing calibrated",
        "traffic": dg.MetadataValue.json({k: e.traffic for k, e in result.items()}),
    }
    exposures = {k[-24:]: e.items["exposure"].to_numpy() for k, e in result.items() if len(e.items)}
    if exposures:
        metadata["exposure histogram"] = plots.as_markdown(
            plots.exposure_histogram(exposures, config.r_max, "exposure with Sympson-Hetter K"),
            "exposure histogram",
        )
    yield dg.Output(result, metadata=metadata)

    over = {k: r for k, r in realised.items() if r["n_over"]}
    yield dg.AssetCheckResult(
        check_name="realised_exposure",
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "; ".join(
                f"{k}: {r['n_over']} item(s) above {config.r_max + EXPOSURE_TOLERANCE:.2f}, "
                f"max {r['max_exposure']:.3f} over {r['adaptive_quizzes']} adaptive quizzes"
                for k, r in over.items()
            )
            if over
            else f"every item at most r_max + {EXPOSURE_TOLERANCE} in {len(realised)} exam code(s)"
        ),
        metadata={"results": dg.MetadataValue.json(realised)},
    )


@dg.asset(
    group_name=GROUP,
    kinds={"postgres"},
    description=(
        "Writes each calibration + exposure set to item_parameter_sets/item_parameters and, when "
        "its checks pass, activates it atomically with NOTIFY; a set that failed its checks is "
        "stored as rejected and never activated (the previous set stays live)."
    ),
    check_specs=[
        dg.AssetCheckSpec(
            "every_candidate_published",
            asset="published_item_parameters",
            description="Fails when a set was refused (it stays rejected; the previous one is live).",
        )
    ],
)
def published_item_parameters(
    context: dg.AssetExecutionContext,
    qbank: QBankSettingsResource,
    item_calibration: dict[str, PairCalibration],
    exposure_control: dict[str, PairExposure],
):
    outcomes = []
    for key, pair in item_calibration.items():
        if pair.calibrated.empty:
            context.log.info(f"{key}: nothing calibrated yet, nothing to publish")
            continue
        checks = evaluate(pair)  # again, here: publishing refuses by itself
        exposure = exposure_control.get(key)
        if exposure is None:
            raise dg.Failure(f"no exposure control for {key}: materialize exposure_control first")
        outcome = publish_calibration(
            qbank.serving_engine,
            pair,
            exposure.k,
            checks,
            run_id=context.run.run_id,
            extra_metrics={
                "r_max": exposure.r_max,
                "max_exposure": exposure.max_exposure_by_iteration[-1]
                if exposure.max_exposure_by_iteration
                else None,
                "max_exposure_final_k": exposure.final_max_exposure,
                "sympson_hetter_iterations": exposure.iterations,
                "traffic": exposure.traffic,
            },
        )
        outcomes.append(outcome)
        log = context.log.info if outcome.status == "active" else context.log.error
        log(f"{key}: set {outcome.set_id} {outcome.status} {outcome.failed_checks or ''}")

    table = pd.DataFrame(
        [
            {
                "tenant_id": str(o.tenant_id),
                "exam_code": o.exam_code,
                "set_id": o.set_id,
                "status": o.status,
                "superseded": o.superseded_set_id,
                "items": o.n_items,
                "failed_checks": ", ".join(o.failed_checks),
            }
            for o in outcomes
        ]  # fmt: skip
    )
    refused = [o for o in outcomes if o.status != "active"]
    if outcomes and len(refused) == len(outcomes):
        raise dg.Failure(
            description="every candidate set failed its checks; the previous sets stay live",
            metadata={"sets": dg.MetadataValue.md(table.to_markdown(index=False))},
        )
    yield dg.MaterializeResult(
        metadata={
            "published": sum(o.status == "active" for o in outcomes),
            "refused": len(refused),
            "sets": dg.MetadataValue.md(table.to_markdown(index=False))
            if len(table)
            else "nothing to publish",
        }
    )
    yield dg.AssetCheckResult(
        check_name="every_candidate_published",
        passed=not refused,
        description=", ".join(f"set {o.set_id} refused: {o.failed_checks}" for o in refused)
        or "every candidate passed its checks",
    )


@dg.asset(
    deps=[published_item_parameters],
    group_name=GROUP,
    kinds={"python"},
    description=(
        "Simulated adaptive tests over each live bank with the live policy: bias and RMSE of θ, "
        "mean test length to SE ≤ 0.3, maximum and mean exposure, test overlap rate."
    ),
)
def cat_simulation_report(
    context: dg.AssetExecutionContext, config: SimulationConfig, qbank: QBankSettingsResource
) -> dg.MaterializeResult:
    rows, metadata = [], {}
    for tenant_id, exam_code, set_id in active_pairs(qbank.serving_engine):
        bank = live_bank(qbank.serving_engine, tenant_id, exam_code)
        if bank.empty:
            continue
        report = simulate_live_bank(
            bank,
            n_simulees=config.n_simulees,
            max_length=config.max_length,
            min_length=config.min_length,
            se_stop=config.se_stop,
            seed=config.seed,
        )
        key = f"{tenant_id}/{exam_code}"
        rows.append({"exam": key, "set_id": set_id, "items": len(bank), **report.summary()})
        if len(metadata) < 6:
            metadata[f"recovery {key}"] = plots.as_markdown(
                plots.theta_recovery(report.theta, report.theta_hat, report.lengths, key),
                "θ recovery and test length",
            )
    summary = pd.DataFrame(rows)
    context.log.info(summary.to_string() if len(summary) else "no live parameter set yet")
    return dg.MaterializeResult(
        metadata={
            "live_banks": len(rows),
            "summary": dg.MetadataValue.md(summary.round(4).to_markdown(index=False))
            if len(summary)
            else "no live parameter set yet",
            "report": dg.MetadataValue.json(
                [
                    {k: (v if not isinstance(v, float) else round(v, 5)) for k, v in r.items()}
                    for r in rows
                ]  # fmt: skip
            ),
            **metadata,
        }
    )
