"""The nightly calibration, headless: ingest and marts once, then one run per exam code.

    python -m orchestration.nightly [--workers 2] [--partition acme/USMLE-1 ...] [--no-ingest]

`run_nightly` is what `make materialize`, `make demo` and `make season` call, and what the
`calibrate_nightly` schedule does under the daemon:

1. `nightly_marts_job` (Kafka → raw → dbt staging, snapshots, marts and their tests), one run;
2. the partitions: every (tenant, exam code) with published items (`exam_code_partitions_sensor`
   adds them as exam codes appear; this adds any it has not seen yet);
3. one run of `calibrate_nightly_job` per partition (a backfill of the partitions), at most
   `workers` at a time, each in a worker process of its own that runs the job with the
   multiprocess executor (each step a forked process);
4. per partition: published, blocked by a check (its previous set stays live), refused, or
   failed; nothing one partition does stops another.

Every run is recorded in the instance (PostgreSQL, `orchestration.instance`), so `make ui`
shows them; the values passed between steps are in PostgreSQL too (`orchestration.io_manager`),
so a run launcher on other machines could take the same runs (README, "Past one machine").
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.definitions.reconstruct import ReconstructableRepository

from orchestration.partitions import exam_partitions, sync_partitions
from qbank.settings import PROJECT_ROOT, Settings, get_settings

NIGHTLY_JOB = "calibrate_nightly_job"
PARTITION_TAG = "dagster/partition"
NIGHT_TAG = "qbank/night"
BLOCKING_FAILED = "blocked"


@dataclass(frozen=True)
class PartitionOutcome:
    """What one partition's run did. status: published | blocked | refused | nothing to
    publish | failed."""

    partition: str
    run_id: str
    status: str
    set_id: int | None = None
    failed_checks: tuple[str, ...] = ()
    seconds: float = 0.0
    error: str | None = None


@dataclass
class NightlyResult:
    night: str
    ingest_run_id: str | None
    added_partitions: list[str]
    partitions: dict[str, PartitionOutcome] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[PartitionOutcome]:
        """Partitions whose run broke (not a check doing its job: see `blocked`)."""
        return [o for o in self.partitions.values() if o.status == "failed"]

    @property
    def blocked(self) -> list[PartitionOutcome]:
        return [o for o in self.partitions.values() if o.status in (BLOCKING_FAILED, "refused")]

    def table(self) -> str:
        lines = [f"{'partition':<40} {'status':<18} {'set':>6} {'seconds':>8}  checks failed"]
        for o in self.partitions.values():
            lines.append(
                f"{o.partition:<40} {o.status:<18} {o.set_id or '':>6} {o.seconds:>8.1f}  "
                f"{', '.join(o.failed_checks) or ''}{' ' + o.error if o.error else ''}"
            )
        return "\n".join(lines)


def _recon_job() -> dg.ReconstructableJob:
    """The nightly job as every process (worker, forked step) rebuilds it: from `defs` of
    orchestration.definitions, the repository the UI loads, so the runs are its runs."""
    repo = ReconstructableRepository.for_module(
        "orchestration.definitions", "defs", working_directory=str(PROJECT_ROOT)
    )
    return repo.get_reconstructable_job(NIGHTLY_JOB)


def _init_worker(env: dict[str, str]) -> None:
    """A worker's settings are the caller's (the test's database, the demo's stack)."""
    os.environ.update(env)
    get_settings.cache_clear()


def outcome_of(result: dg.ExecuteInProcessResult | object, partition: str) -> PartitionOutcome:
    """Read a partition run's events: which checks failed, what publishing did."""
    events = result.all_events  # type: ignore[attr-defined]
    failed_checks = tuple(
        e.asset_check_evaluation_data.asset_check_key.name
        for e in events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and not e.asset_check_evaluation_data.passed
        and e.asset_check_evaluation_data.severity == dg.AssetCheckSeverity.ERROR
    )
    published = [
        e.event_specific_data.materialization.metadata
        for e in events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.asset_key == dg.AssetKey("published_item_parameters")
    ]
    step_failures = {e.step_key: e for e in events if e.event_type_value == "STEP_FAILURE"}
    run_id = result.run_id  # type: ignore[attr-defined]
    if published:
        meta = published[0]
        set_id = meta["set_id"].value if "set_id" in meta else None
        status = "published" if set_id is not None else "nothing to publish"
        return PartitionOutcome(partition, run_id, status, set_id)
    if "published_item_parameters" in step_failures:
        err = step_failures["published_item_parameters"].event_specific_data.error
        meta = step_failures["published_item_parameters"].event_specific_data.user_failure_data
        set_id = meta.metadata["set_id"].value if meta and "set_id" in meta.metadata else None
        status = "refused" if set_id is not None else "failed"
        return PartitionOutcome(
            partition, run_id, status, set_id, failed_checks, error=err.message.strip()[:300]
        )
    if failed_checks:
        return PartitionOutcome(partition, run_id, BLOCKING_FAILED, None, failed_checks)
    errors = [
        f"{k}: {e.event_specific_data.error.message.strip()[:200]}"
        for k, e in step_failures.items()
    ]
    return PartitionOutcome(partition, run_id, "failed", error="; ".join(errors) or "run failed")


def _run_partition(
    partition: str, run_config: dict, tags: dict[str, str], instance_ref
) -> PartitionOutcome:
    """In a worker process: one partition's run, recorded in the shared instance."""
    started = time.monotonic()
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        result = dg.execute_job(
            _recon_job(),
            instance=instance,
            run_config=run_config,
            tags={**tags, PARTITION_TAG: partition},
        )
        outcome = outcome_of(result, partition)
    return PartitionOutcome(**{**outcome.__dict__, "seconds": time.monotonic() - started})


# What the definitions are built from in this process's environment when its first run here
# started the multiprocess executor's forkserver. The forkserver keeps that environment, and
# every step it forks resolves its resources' EnvVars (the database URLs) from it; a later run
# from this process with other settings (a test on another database) would have its steps
# write to the first one's database.
_forkserver_env: dict[str, str] | None = None
_ENV_PREFIXES = ("QBANK_", "DAGSTER_", "DBT_")


def definitions_env() -> dict[str, str]:
    """The variables the definitions read: every settings field's name or alias, and the
    QBANK_* / DAGSTER_* / DBT_* ones the resources, dbt and the instance read."""
    names = {(f.alias or name).upper() for name, f in Settings.model_fields.items()}
    return {
        k: v for k, v in os.environ.items() if k.upper() in names or k.startswith(_ENV_PREFIXES)
    }


def _steps_can_fork_from_here(env: dict[str, str]) -> bool:
    """Whether a run in this process would give its steps the caller's environment: `env` is
    this process's, and its forkserver (if a run here started it) was started with the same."""
    global _forkserver_env
    if any(os.environ.get(k) != v for k, v in env.items()):
        return False
    current = definitions_env()
    if _forkserver_env is None:
        _forkserver_env = current
    return _forkserver_env == current


def _partition_run_config(ops: dict | None) -> dict:
    # The executor is the job's own (automation.nightly_executor: multiprocess, forkserver).
    return {"ops": {name: {"config": cfg} for name, cfg in (ops or {}).items()}}


def run_partitions(
    instance: dg.DagsterInstance,
    partitions: list[str],
    *,
    workers: int = 2,
    ops: dict | None = None,
    tags: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, PartitionOutcome]:
    """A backfill of `partitions`: one run each, at most `workers` at once, each in a worker
    process (spawned: no state of this process leaks into it), its steps through the
    multiprocess executor. Waits for all of them."""
    if not partitions:
        return {}
    known = set(instance.get_dynamic_partitions(exam_partitions.name))
    unknown = [p for p in partitions if p not in known]
    if unknown:
        raise ValueError(f"not partitions of {exam_partitions.name}: {unknown}")
    run_config = _partition_run_config(ops)
    if len(partitions) == 1 and _steps_can_fork_from_here(env or {}):
        # One exam code (a demo, a rerun): its run in this process, which has the definitions
        # loaded already; a worker would import them once more (10 s, a minute on a busy box).
        (key,) = partitions
        return {key: _run_partition(key, run_config, tags or {}, instance.get_ref())}
    ctx = multiprocessing.get_context("spawn")
    worker_env = {**os.environ, **(env or {})}
    with ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(partitions))),
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(worker_env,),
    ) as pool:
        futures = {
            p: pool.submit(_run_partition, p, run_config, tags or {}, instance.get_ref())
            for p in partitions
        }
        outcomes = {}
        for p, fut in futures.items():
            try:
                outcomes[p] = fut.result()
            except Exception as exc:  # the worker itself broke: report, keep the others
                outcomes[p] = PartitionOutcome(p, "", "failed", error=repr(exc)[:300])
    return outcomes


def run_nightly(
    settings: Settings | None = None,
    *,
    workers: int = 2,
    ops: dict | None = None,
    partitions: list[str] | None = None,
    ingest: bool = True,
    instance: dg.DagsterInstance | None = None,
) -> NightlyResult:
    """Ingest and build the marts once, then calibrate every partition (or `partitions`) in
    runs of their own; returns each partition's outcome. `ops`: config per asset, e.g.
    {"item_calibration": {"min_respondents": 50}}. `instance`: default, the instance of
    DAGSTER_HOME (installed and pointed at PostgreSQL here)."""
    from orchestration.definitions import build_definitions
    from orchestration.instance import export_dagster_env
    from orchestration.prepare import install_dagster_home
    from qbank.db import make_engine

    settings = settings or get_settings()
    started = time.monotonic()
    night = f"{time.strftime('%Y-%m-%dT%H:%M:%S')}-{uuid.uuid4().hex[:6]}"
    owned = instance is None
    if owned:
        install_dagster_home(settings)
        export_dagster_env(settings)
        instance = dg.DagsterInstance.get()
    try:
        defs = build_definitions(settings)
        ingest_run = None
        if ingest:
            job = defs.resolve_job_def("nightly_marts_job")
            ingest_ops = {k: v for k, v in (ops or {}).items() if k in ("raw_events",)}
            result = job.execute_in_process(
                instance=instance,
                run_config={"ops": {k: {"config": v} for k, v in ingest_ops.items()}},
                tags={NIGHT_TAG: night},
                raise_on_error=False,
            )
            ingest_run = result.run_id
            if not result.success:
                raise RuntimeError(
                    f"the ingest run {result.run_id} failed (Kafka → raw → marts): no "
                    "calibration tonight; see the run in the Dagster UI"
                )
        engine = make_engine(settings)
        try:
            added = sync_partitions(instance, engine)
        finally:
            engine.dispose()
        keys = partitions or list(instance.get_dynamic_partitions(exam_partitions.name))
        cal_ops = {k: v for k, v in (ops or {}).items() if k != "raw_events"}
        env = {
            "DATABASE_URL": settings.database_url,
            "DAGSTER_HOME": str(settings.dagster_home),
        }
        outcomes = run_partitions(
            instance, keys, workers=workers, ops=cal_ops, tags={NIGHT_TAG: night}, env=env
        )
        return NightlyResult(night, ingest_run, added, outcomes, time.monotonic() - started)
    finally:
        if owned:
            instance.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="partition runs at once (default 2)")
    ap.add_argument("--partition", action="append", help="only these partitions (repeatable)")
    ap.add_argument("--no-ingest", action="store_true", help="skip ingest and dbt")
    ap.add_argument("--ops-json", default=None, help='e.g. {"item_calibration": {...}}')
    args = ap.parse_args(argv)
    result = run_nightly(
        workers=args.workers,
        ops=json.loads(args.ops_json) if args.ops_json else None,
        partitions=args.partition,
        ingest=not args.no_ingest,
    )
    if result.added_partitions:
        print(f"new partitions: {', '.join(result.added_partitions)}")
    print(result.table())
    print(f"night {result.night}: {len(result.partitions)} partition(s) in {result.seconds:.0f}s")
    if result.blocked:
        print(
            f"{len(result.blocked)} partition(s) kept their previous set: a blocking check "
            "failed (see the runs in the Dagster UI)"
        )
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
