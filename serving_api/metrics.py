"""Prometheus metrics of the API (scraped at /metrics)."""

from __future__ import annotations

import functools
import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUEST_LATENCY = Histogram(
    "qbank_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
REQUESTS = Counter(
    "qbank_http_requests_total", "HTTP requests by route and status.", ["method", "route", "status"]
)
ITEMS_SERVED = Counter(
    "qbank_items_served_total", "Items served to students.", ["mode", "adaptive", "pretest"]
)
ANSWERS = Counter("qbank_answers_total", "Answers recorded.", ["mode", "changed"])


# The hot path's labelled counters, bound once per label set: `labels()` takes a lock and
# formats the label values on every call.
@functools.cache
def items_served(mode: str, adaptive: bool, pretest: bool) -> Counter:
    return ITEMS_SERVED.labels(mode, str(adaptive).lower(), str(pretest).lower())


@functools.cache
def answers(mode: str, changed: bool) -> Counter:
    return ANSWERS.labels(mode, str(changed).lower())


CAP_RELAXATIONS = Counter(
    "qbank_exposure_cap_relaxations_total",
    "Items served over their daily cap: every eligible item was capped, or the item was "
    "served anyway after repeated refusals.",
)
SCORED_UNCALIBRATED = Counter(
    "qbank_scored_uncalibrated_total",
    "Scored positions served with an uncalibrated item (cold-start defaults) because no "
    "calibrated item was eligible for them.",
)
CAP_REFUSALS = Counter(
    "qbank_exposure_cap_refusals_total",
    "Items refused at serve time because another server had just reached their daily cap.",
)
SH_REDRAWS = Counter(
    "qbank_sympson_hetter_redraws_total",
    "Sympson-Hetter lotteries drawn again because every candidate was rejected.",
)
POOL_EXHAUSTED = Counter(
    "qbank_quizzes_pool_exhausted_total", "Quizzes ended because nothing eligible was left."
)
QUIZ_STATE_READS = Counter(
    "qbank_quiz_state_reads_total",
    "Quiz states a delivery request worked from: this process's copy (cache) or a read (database).",
    ["source"],
)
QUIZ_STATE_FROM_CACHE = QUIZ_STATE_READS.labels("cache")
QUIZ_STATE_FROM_DATABASE = QUIZ_STATE_READS.labels("database")
QUIZ_STATE_STALE = Counter(
    "qbank_quiz_state_stale_total",
    "Delivery steps started again on a fresh read: the state they had was outdated or the "
    "outcome needed a fresh one.",
)
QUIZZES_STARTED = Counter("qbank_quizzes_started_total", "Quizzes started.", ["mode", "adaptive"])
QUIZZES_FINISHED = Counter("qbank_quizzes_finished_total", "Quizzes sealed.", ["status"])
POOL_LOADS = Counter(
    "qbank_item_pool_loads_total", "Live item pools loaded into memory.", ["reason"]
)
PARAMETER_SET_NOTIFICATIONS = Counter(
    "qbank_parameter_set_notifications_total", "NOTIFY messages received.", ["channel"]
)
LOGIN_REFUSALS = Counter(
    "qbank_login_refusals_total",
    "Logins refused unchecked after too many failures, by what was locked (account, address).",
    ["locked"],
)
REDIS_ERRORS = Counter(
    "qbank_redis_errors_total", "Redis calls that failed (the daily cap was not enforced)."
)
# With several workers (PROMETHEUS_MULTIPROC_DIR set), the freshest reading wins.
OUTBOX_BACKLOG = Gauge(
    "qbank_outbox_backlog",
    "Events in the outbox not yet relayed to Kafka.",
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_SECONDS = Gauge(
    "qbank_outbox_oldest_pending_seconds",
    "Age of the oldest event not yet relayed.",
    multiprocess_mode="mostrecent",
)


def exposition() -> bytes:
    """The metrics of this process, or of every worker when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
