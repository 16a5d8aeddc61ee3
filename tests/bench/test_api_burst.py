"""The pure parts of `python -m bench.api --burst`: percentiles per window, the server's
windows from the sampler's rows, the collector pauses read from the API's log, CPU accounting."""

from __future__ import annotations

import math
import os

import numpy as np
import orjson
import pytest

from bench.api import cpu_seconds, cpu_used, gc_pauses, percentile, server_windows, window_stats


def test_percentile_interpolates_and_needs_two_values():
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0
    assert percentile(list(range(1, 1001)), 99.9) == pytest.approx(999.001)
    assert math.isnan(percentile([7.0], 99)) and math.isnan(percentile([], 50))


def test_windows_by_send_time_with_the_tail_of_each():
    rng = np.random.default_rng(1)
    samples = [(float(t), 10.0) for t in rng.uniform(0, 30, 3000)]
    samples += [(12.5, 400.0), (15.0, 900.0)]  # two slow requests sent in the second window
    samples += [(30.2, 5.0)]  # sent as the run ended: counted in the last window
    rows = window_stats(samples, 10.0, 30.0)
    assert [r["window"] for r in rows] == ["0-10s", "10-20s", "20-30s"]
    assert sum(r["n"] for r in rows) == len(samples)
    first, second, third = rows
    assert first["p99"] == first["p99.9"] == 10.0 and first["max"] == 10.0
    assert second["max"] == 900.0 and second["p99.9"] > 400.0 and second["p50"] == 10.0
    assert third["max"] == 10.0 and third["n"] == sum(1 for t, _ in samples if t >= 20)


def test_an_empty_window_is_reported_not_skipped():
    rows = window_stats([(1.0, 3.0), (2.0, 4.0)], 10.0, 20.0)
    assert rows[1]["n"] == 0 and math.isnan(rows[1]["p99"]) and math.isnan(rows[1]["max"])


def _row(t, ckpts, buf_ckpt, buf_backend, wal, ckpt_wait, vacuums, waits):
    return (t, ckpts, buf_ckpt, buf_backend, wal, ckpt_wait, vacuums, waits)


def test_server_windows_difference_the_counters_and_name_the_busy_parts():
    rows = [
        _row(0.1, 5, 100, 10, 0, "CheckpointerMain", [], []),
        _row(5.0, 5, 100, 12, 2**20, "CheckpointerMain", [], ["IO:WALSync"]),
        _row(9.9, 5, 100, 15, 2 * 2**20, "CheckpointerMain", [], ["IO:WALSync", "LWLock:WALWrite"]),
        _row(
            10.1, 6, 100, 15, 3 * 2**20, "CheckpointWriteDelay", ["VACUUM public.event_outbox"], []
        ),
        _row(19.9, 6, 900, 20, 7 * 2**20, "", ["VACUUM public.event_outbox"], ["IO:WALSync"]),
    ]
    first, second = server_windows(rows, 10.0, 20.0)
    assert first["ckpt_started"] == 0 and first["ckpt_busy"] == "0%"
    assert first["buf_backend"] == 5 and first["wal_MB"] == 2.0
    assert first["waits"] == "IO:WALSync×2,LWLock:WALWrite×1" and first["autovacuum"] == "-"
    assert second["ckpt_started"] == 0 and second["ckpt_busy"] == "100%"  # on CPU counts too
    assert second["buf_ckpt"] == 800 and second["autovacuum"] == "VACUUM public.event_outbox"
    unprivileged = server_windows(rows, 10.0, 20.0, privileged=False)
    assert unprivileged[1]["ckpt_busy"] == "n/a" and unprivileged[1]["autovacuum"] == "n/a"
    assert server_windows(rows[:1], 10.0, 10.0) == [{"window": "0-10s"}]  # too few samples


def test_gc_pauses_since_a_time(tmp_path):
    log = tmp_path / "api.log"
    lines = [
        {
            "ts": "2026-12-07T04:00:00.000+00:00",
            "msg": "gc pause",
            "generation": 2,
            "pause_ms": 80.0,
        },
        {"ts": "2026-12-07T04:01:00.000+00:00", "msg": "request", "status": 200},
        {
            "ts": "2026-12-07T04:02:00.000+00:00",
            "msg": "gc pause",
            "generation": 0,
            "pause_ms": 1.5,
        },
    ]
    log.write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b'\nnot json "gc pause"\n')
    got = gc_pauses(log, "2026-12-07T04:01:00")
    assert [(p["generation"], p["pause_ms"]) for p in got] == [(0, 1.5)]


def test_cpu_accounting_counts_new_processes_whole_and_this_one_grows():
    assert cpu_used({1: 2.0, 2: 1.0}, {1: 2.5, 3: 0.25}) == pytest.approx(0.75)
    before = cpu_seconds([os.getpid()])
    sum(i * i for i in range(2_000_000))  # burn some CPU
    after = cpu_seconds([os.getpid(), 2**22 + 1])  # a pid that does not exist is skipped
    assert list(after) == [os.getpid()] and cpu_used(before, after) > 0
