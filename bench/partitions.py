"""Partition runs through the multiprocess executor: 12 exam codes with 1 and with 2 workers.

    flock /tmp/qbank-bench.lock python -m bench.partitions [--partitions 12] [--skip-one]

On the configured PostgreSQL and Kafka, in a database and topic of its own (dropped after):
12 synthetic exam codes (30 items, 600 quizzes × 10 answers each) go through Kafka, ingestion
and dbt once (not timed); then the 12 partitions are calibrated (calibration, Sympson-Hetter,
publishing, simulation report) by `orchestration.nightly.run_partitions` with 1 worker and
with 2, each pass from the same state (no live set), and the ratio of wall times is printed.

Then one partition of 300 items × 100,000 responses (5,000 quizzes × 20 answers): the
`item_calibration` step alone in a fresh process, its wall time and peak RSS (the figure the
README's "Past one machine" sizes a pod by).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.synthetic import as_messages, create_bank, produce, quiz_events
from qbank.db_admin import drop_database, recreate_database
from qbank.settings import PROJECT_ROOT, Settings, get_settings, normalise_pg_url

FAST_OPS = {
    "exposure_control": {"r_max": 0.25, "test_length": 10, "n_simulees": 400, "n_iter": 4},
    "cat_simulation_report": {"n_simulees": 300, "max_length": 20},
}


def _admin(settings: Settings):
    url = make_url(normalise_pg_url(settings.database_url)).set(database="postgres")
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)


def _bench_settings(base: Settings, name: str) -> Settings:
    url = make_url(normalise_pg_url(base.database_url)).set(database=name)
    return base.model_copy(
        update={
            "database_url": url.render_as_string(hide_password=False),
            "kafka_topic_events": f"events.qbank.{name}",
            "kafka_consumer_group": f"{name}.loader",
            "dagster_home": PROJECT_ROOT / ".local" / name / "dagster",
        }
    )


def _export(settings: Settings) -> None:
    """Worker and step processes read the settings from the environment."""
    os.environ.update(
        {
            "DATABASE_URL": settings.database_url,
            "KAFKA_TOPIC_EVENTS": settings.kafka_topic_events,
            "KAFKA_CONSUMER_GROUP": settings.kafka_consumer_group,
            "DAGSTER_HOME": str(settings.dagster_home),
        }
    )
    get_settings.cache_clear()


def one_partition(key: str) -> dict:
    """In a fresh process: item_calibration of one partition, in-process; wall and peak RSS."""
    import dagster as dg

    from orchestration.assets.dbt import content_tables
    from orchestration.definitions import ASSETS, build_definitions

    defs = build_definitions(get_settings())
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # Loading the definitions (dbt manifest, LookML) peaks above the calibration itself: reset
    # the kernel's high-water mark so VmHWM below is the calibration run's own peak.
    Path("/proc/self/clear_refs").write_text("5")
    start = time.perf_counter()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("exam_codes", [key])
        result = dg.materialize(
            [*content_tables, *ASSETS],
            selection=["item_calibration"],
            partition_key=key,
            resources=defs.resources,
            instance=instance,
            run_config={"ops": {"item_calibration": {"config": {"min_respondents": 200}}}},
        )
    seconds = time.perf_counter() - start
    status = Path("/proc/self/status").read_text().splitlines()
    run_peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    meta = result.asset_materializations_for_node("item_calibration")[0].metadata
    return {
        "partition": key,
        "seconds": round(seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "rss_after_loading_definitions_mib": round(rss_before),
        "peak_rss_during_run_mib": round(run_peak),
        "n_responses": meta["n_responses"].value,
        "items_calibrated": meta["items_calibrated"].value,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--skip-one", action="store_true", help="skip the 300 × 100k partition")
    ap.add_argument("--keep", action="store_true", help="keep the bench database and topic")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: the one-partition process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one_partition(args.one)))
        return

    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.nightly import run_partitions
    from orchestration.partitions import sync_partitions
    from orchestration.prepare import install_dagster_home
    from orchestration.project import prepare_dbt_project
    from qbank import migrations
    from qbank.db import make_engine

    base = get_settings()
    name = f"qbank_bench_partitions_{os.getpid()}"
    settings = _bench_settings(base, name)
    with _admin(base).connect() as c:
        recreate_database(c, name)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(settings.kafka_topic_events, 3, 1)])
    try:
        _export(settings)
        migrations.upgrade(settings.database_url)
        prepare_dbt_project(settings)
        install_dagster_home(settings)
        from orchestration.instance import export_dagster_env

        export_dagster_env(settings)
        engine = make_engine(settings)
        t0 = time.perf_counter()
        messages, keys = [], []
        for i in range(args.partitions):
            bank = create_bank(engine, n_items=30, n_users=60, seed=100 + i, slug=f"bench-{i:02d}")
            keys.append(f"bench-{i:02d}/{bank.exam_code}")
            messages += list(as_messages(quiz_events(bank, n_quizzes=600, items_per_quiz=10)))
        big_key = None
        if not args.skip_one:
            big = create_bank(engine, n_items=300, n_users=500, seed=7, slug="bench-big")
            big_key = f"bench-big/{big.exam_code}"
            events = quiz_events(big, n_quizzes=5000, items_per_quiz=20, seed=8)
            messages += list(as_messages(events))
        produce(settings.kafka_bootstrap, settings.kafka_topic_events, messages)
        defs = build_definitions(settings)
        with dg.DagsterInstance.get() as instance:
            marts = defs.resolve_job_def("nightly_marts_job").execute_in_process(instance=instance)
            assert marts.success, "the marts run failed"
            sync_partitions(instance, engine)
            print(
                f"setup: {len(messages)} events, {args.partitions} partitions"
                f"{' + 300 × 100k' if big_key else ''}, marts built in "
                f"{time.perf_counter() - t0:.0f}s",
                flush=True,
            )
            times = {}
            for workers in (1, 2):
                with engine.begin() as c:  # the same starting point: no live set anywhere
                    c.execute(text("DELETE FROM item_parameters"))
                    c.execute(text("DELETE FROM item_parameter_sets"))
                start = time.perf_counter()
                outcomes = run_partitions(instance, keys, workers=workers, ops=FAST_OPS)
                times[workers] = time.perf_counter() - start
                bad = [o for o in outcomes.values() if o.status != "published"]
                assert not bad, f"partitions not published: {bad}"
                per = sorted(o.seconds for o in outcomes.values())
                print(
                    f"{workers} worker(s): {len(keys)} partitions in {times[workers]:.1f}s "
                    f"(per partition run: median {per[len(per) // 2]:.1f}s)",
                    flush=True,
                )
        print(f"ratio 2 workers / 1 worker (wall time): {times[2] / times[1]:.2f} "
              f"(speed-up {times[1] / times[2]:.2f}×, cores: {os.cpu_count()}, "
              f"load average before: {os.getloadavg()[0]:.1f})")  # fmt: skip
        if big_key:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.partitions", "--one", big_key],
                cwd=PROJECT_ROOT,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                check=True,
            )
            one = json.loads(proc.stdout.strip().splitlines()[-1])
            print(
                f"one partition, 300 items × {one['n_responses']} responses: item_calibration "
                f"{one['seconds']}s wall, peak RSS during the run {one['peak_rss_during_run_mib']} "
                f"MiB (process peak {one['peak_rss_mib']} MiB, set by loading the definitions), "
                f"{one['items_calibrated']} items calibrated"
            )
        engine.dispose()
    finally:
        admin.close()
        if not args.keep:
            with _admin(base).connect() as c:
                drop_database(c, name)
            # A fresh client: the broker drops connections idle for 10 minutes.
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
            try:
                admin.delete_topics([settings.kafka_topic_events])
            finally:
                admin.close()


if __name__ == "__main__":
    main()
