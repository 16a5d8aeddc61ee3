"""The outbox relay: `event_outbox` rows → Kafka, in order per quiz, then marked sent.

    python -m ingestion.outbox_relay            # run as a service (make up starts it)
    python -m ingestion.outbox_relay --drain    # publish what is pending, then exit

The API writes each event to `event_outbox` in the transaction of its state change; this process
publishes the pending rows in id order (commit order for one quiz, whose requests are sequential),
keyed by quiz id so a quiz stays on one partition, and marks them `published_at` only after Kafka
acknowledged them (acks=all, idempotent producer, one request in flight: no reordering by retries).
A crash between the acknowledgement and the mark publishes those rows again: ingestion drops the
duplicates by event_id. Kafka being down only grows the backlog (`attempts`, `last_error` record
why); nothing is lost and no student request waits for it.

Only one relay publishes at a time (a PostgreSQL advisory lock): a second one waits as a standby,
which keeps the per-quiz order even when two are started.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass

import orjson
import psycopg
from kafka import KafkaProducer
from kafka.errors import KafkaError

from qbank.logs import json_logging
from qbank.settings import Settings, get_settings

log = logging.getLogger("qbank.outbox_relay")

LOCK_KEY = 0x0B0C_5E1A  # pg_advisory_lock key of the publishing relay
PENDING_SQL = """
SELECT id, partition_key, payload FROM event_outbox
WHERE published_at IS NULL ORDER BY id LIMIT %s
"""
MARK_SQL = (
    "UPDATE event_outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY(%s)"
)
FAIL_SQL = "UPDATE event_outbox SET attempts = attempts + 1, last_error = %s WHERE id = ANY(%s)"
PURGE_SQL = (
    "DELETE FROM event_outbox WHERE published_at IS NOT NULL "
    "AND published_at < now() - make_interval(hours => %s)"
)


@dataclass
class BatchOutcome:
    sent: int = 0
    failed: int = 0
    error: str | None = None


class OutboxRelay:
    def __init__(
        self,
        settings: Settings,
        batch_size: int = 500,
        poll_interval: float = 0.2,
        retain_hours: int = 24 * 7,
        kafka_timeout_s: float = 10.0,
    ):
        self.settings = settings
        self.topic = settings.kafka_topic_events
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retain_hours = retain_hours
        self.kafka_timeout_s = kafka_timeout_s
        self.stop = threading.Event()
        self._producer: KafkaProducer | None = None
        self._last_purge = 0.0

    # -------------------------------------------------------------- Kafka
    def producer(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                acks="all",
                enable_idempotence=True,
                max_in_flight_requests_per_connection=1,
                retries=5,
                linger_ms=5,
                max_block_ms=int(self.kafka_timeout_s * 1000),
                request_timeout_ms=int(self.kafka_timeout_s * 1000),
                client_id="qbank-outbox-relay",
            )
        return self._producer

    def drop_producer(self) -> None:
        if self._producer is not None:
            # Closing a broken producer must not stop the relay.
            with contextlib.suppress(Exception):
                self._producer.close(timeout=1)
            self._producer = None

    # -------------------------------------------------------------- one batch
    def publish_batch(self, conn: psycopg.Connection) -> BatchOutcome:
        rows = conn.execute(PENDING_SQL, (self.batch_size,)).fetchall()
        conn.commit()
        if not rows:
            return BatchOutcome()
        futures = []
        error: str | None = None
        try:
            producer = self.producer()
            for row_id, key, payload in rows:
                value = orjson.dumps(payload)
                futures.append(
                    (row_id, key, producer.send(self.topic, key=key.encode(), value=value))
                )
            producer.flush(timeout=self.kafka_timeout_s)
        except (KafkaError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        sent, failed, broken_keys = [], [], set()
        for row_id, key, fut in futures:
            ok = fut.is_done and fut.succeeded()
            if not ok and error is None:
                exc = fut.exception if fut.is_done else "not acknowledged in time"
                error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, str) else exc
            # After a failure in a quiz, its later events stay pending too (sent again later),
            # so the earliest unsent event of a quiz is always published before its successors.
            if ok and key not in broken_keys:
                sent.append(row_id)
            else:
                broken_keys.add(key)
                failed.append(row_id)
        failed.extend(row_id for row_id, _k, _p in rows[len(futures) :])
        if sent:
            conn.execute(MARK_SQL, (sent,))
        if failed:
            conn.execute(FAIL_SQL, ((error or "unknown")[:1000], failed))
        conn.commit()
        if failed:
            self.drop_producer()
        return BatchOutcome(len(sent), len(failed), error)

    def purge(self, conn: psycopg.Connection) -> None:
        if time.monotonic() - self._last_purge < 600:
            return
        self._last_purge = time.monotonic()
        n = conn.execute(PURGE_SQL, (self.retain_hours,)).rowcount
        conn.commit()
        if n:
            log.info("purged relayed events", extra={"rows": n})

    # -------------------------------------------------------------- loops
    def run(self, drain: bool = False) -> int:
        """Publish until stopped (or, with `drain`, until nothing is pending). Returns rows sent."""
        total = 0
        backoff = 0.5
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.settings.libpq_url) as conn:
                    conn.autocommit = False
                    if not self._lead(conn, drain):
                        return total
                    backoff = 0.5
                    while not self.stop.is_set():
                        outcome = self.publish_batch(conn)
                        total += outcome.sent
                        if outcome.sent or outcome.failed:
                            log.info(
                                "relayed",
                                extra={
                                    "sent": outcome.sent,
                                    "failed": outcome.failed,
                                    "error": outcome.error,
                                },
                            )
                        if outcome.failed:
                            if drain:
                                return total
                            self.stop.wait(backoff)
                            backoff = min(backoff * 2, 30.0)
                            continue
                        backoff = 0.5
                        if outcome.sent == 0:
                            if drain:
                                return total
                            self.purge(conn)
                            self.stop.wait(self.poll_interval)
            except psycopg.OperationalError as exc:
                log.warning("database unavailable", extra={"error": str(exc)})
                if drain:
                    raise
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
        self.drop_producer()
        return total

    def _lead(self, conn: psycopg.Connection, drain: bool) -> bool:
        """Hold the advisory lock (session level) before publishing; wait as a standby."""
        while not self.stop.is_set():
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]
            conn.commit()
            if got:
                log.info("publishing", extra={"topic": self.topic})
                return True
            if drain:
                log.warning("another relay is publishing; nothing to do")
                return False
            self.stop.wait(1.0)
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m ingestion.outbox_relay", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--drain", action="store_true", help="publish what is pending, then exit")
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--poll-interval", type=float, default=0.2, help="seconds between idle polls")
    ap.add_argument("--retain-hours", type=int, default=24 * 7, help="keep relayed rows this long")
    ap.add_argument("--kafka-timeout", type=float, default=10.0, help="seconds to wait for Kafka")
    args = ap.parse_args(argv)
    json_logging("INFO")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    relay = OutboxRelay(
        get_settings(), args.batch_size, args.poll_interval, args.retain_hours, args.kafka_timeout
    )
    signal.signal(signal.SIGTERM, lambda *_: relay.stop.set())
    signal.signal(signal.SIGINT, lambda *_: relay.stop.set())
    sent = relay.run(drain=args.drain)
    log.info("relay stopped", extra={"sent": sent})
    return 0


if __name__ == "__main__":
    sys.exit(main())
