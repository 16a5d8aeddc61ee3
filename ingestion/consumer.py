"""Micro-batch Kafka consumer: `events.qbank` → raw tables, exactly-once in effect.

    python -m ingestion.consumer                  # run as a service (consumer group, scale out)
    python -m ingestion.consumer --until-caught-up  # read up to the current end, then exit

The raw tables live in the analytics database (`Settings.analytics_url`: ANALYTICS_DATABASE_URL
when set, else the serving database), like the offsets stored with them.

Positions come from PostgreSQL (`raw.ingestion_offsets`, written with the rows by
`ingestion.raw_loader`), never from Kafka's committed offsets: on start, and whenever the group
hands this process a partition, it seeks to the stored offset. Kafka's committed offsets are updated
after each batch only so the usual lag tooling sees progress.

Reading and writing overlap: the main thread polls Kafka and validates the next batch while a
writer thread loads the previous one (batches still commit one at a time, in order).
"""

from __future__ import annotations

import argparse
import json
import logging
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from itertools import chain

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from ingestion.raw_loader import BatchResult, PreparedBatch, RawLoader, prepare_batch
from qbank.logs import json_logging
from qbank.settings import Settings, get_settings

log = logging.getLogger("qbank.ingestion")

DEFAULT_BATCH_SIZE = 5000
# While a consumer runs, its main thread is CPU-bound (Kafka decoding, validation) and the writer
# thread makes a dozen short waits on PostgreSQL per batch; after each wait it needs the GIL back,
# which by default it gets only when the main thread is forced to yield it: up to 5 ms per wait,
# doubling the time a batch takes to load. A 0.2 ms switch interval bounds that; the process's
# own interval comes back when the last consumer running in it closes.
GIL_SWITCH_INTERVAL = 0.0002
_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


def _short_switch_interval(on: bool) -> None:
    global _switch_users, _switch_saved
    with _switch_lock:
        if on:
            if _switch_users == 0:
                _switch_saved = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_saved, GIL_SWITCH_INTERVAL))
            _switch_users += 1
        else:
            _switch_users -= 1
            if _switch_users == 0:
                sys.setswitchinterval(_switch_saved)


@dataclass
class IngestReport:
    """What one consumer run did (summed over its batches)."""

    messages: int = 0
    loaded: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    seconds: float = 0.0
    next_offsets: dict[int, int] = field(default_factory=dict)

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.messages += result.messages
        self.loaded += result.loaded
        self.duplicates += result.duplicates
        self.dead_lettered += result.dead_lettered
        for (_topic, partition), offset in result.next_offsets.items():
            self.next_offsets[partition] = max(offset, self.next_offsets.get(partition, 0))

    def as_dict(self) -> dict:
        return asdict(self)


class _Writer:
    """The loading half of the pipeline: one thread, one connection, batches in order."""

    def __init__(self, loader: RawLoader, depth: int):
        self.loader = loader
        self.inbox: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=depth)
        self.done: queue.Queue[BatchResult | BaseException] = queue.Queue()
        self.pending = 0
        self.thread = threading.Thread(target=self._run, name="raw-loader", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (batch := self.inbox.get()) is not None:
            try:
                self.done.put(self.loader.load(batch))
            except BaseException as exc:  # handed to the main thread, which re-raises
                self.done.put(exc)
                return

    def submit(self, batch: PreparedBatch) -> None:
        self.pending += 1
        self.inbox.put(batch)

    def results(self, wait: bool = False) -> list[BatchResult]:
        """Results of finished batches; with wait=True, of every submitted batch."""
        out: list[BatchResult] = []
        while self.pending:
            try:
                item = self.done.get(block=wait)
            except queue.Empty:
                break
            self.pending -= 1
            if isinstance(item, BaseException):
                raise item
            out.append(item)
        return out

    def close(self) -> None:
        if self.thread.is_alive():
            self.inbox.put(None)
            self.thread.join()


class _SeekFromDatabase(ConsumerRebalanceListener):
    """Group mode: finish in-flight batches before giving partitions up; seek new ones from PG."""

    def __init__(self, consumer: EventConsumer):
        self.owner = consumer

    def on_partitions_revoked(self, revoked):
        self.owner._drain()

    def on_partitions_assigned(self, assigned):
        self.owner._seek_from_database(list(assigned))


class EventConsumer:
    """Reads the events topic in batches and loads each batch with its offsets atomically."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        pipeline_depth: int = 2,
        commit_to_kafka: bool = True,
        on_batch: Callable[[BatchResult], None] | None = None,
    ):
        self.settings = settings or get_settings()
        self.topic = self.settings.kafka_topic_events
        self.group = self.settings.kafka_consumer_group
        self.batch_size = batch_size
        self.pipeline_depth = pipeline_depth
        self.commit_to_kafka = commit_to_kafka
        self.on_batch = on_batch
        self.report = IngestReport()
        self._consumer: KafkaConsumer | None = None
        self._writer: _Writer | None = None
        self._loader: RawLoader | None = None
        self._committed: dict[TopicPartition, OffsetAndMetadata] = {}
        self._short_switch = False

    # -- lifecycle -------------------------------------------------------------------------
    def _open(self) -> None:
        _short_switch_interval(True)
        self._short_switch = True
        self._loader = RawLoader(self.settings.analytics_url, self.group)
        self._writer = _Writer(self._loader, self.pipeline_depth)
        self._consumer = KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=self.group,
            client_id=f"{self.group}-loader",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.batch_size,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            # kafka-python doubles its reconnect wait up to 30 s: after a broker outage the
            # service would sit idle that long once the broker is back. 1 s, as the Java client.
            reconnect_backoff_max_ms=1000,
        )

    def _close(self) -> None:
        try:
            if self._writer is not None:
                self._writer.close()
            if self.commit_to_kafka and self._consumer is not None and self._committed:
                # Flush the informational copy (pending async commits would be cancelled).
                try:
                    self._consumer.commit(dict(self._committed))
                except KafkaError as exc:
                    log.debug("final kafka offset commit (informational) failed: %s", exc)
        finally:
            try:
                if self._consumer is not None:
                    self._consumer.close(autocommit=False)
                if self._loader is not None:
                    self._loader.close()
            finally:
                if self._short_switch:
                    self._short_switch = False
                    _short_switch_interval(False)

    def _partitions(self, timeout: float = 30.0) -> list[TopicPartition]:
        assert self._consumer is not None
        deadline = time.monotonic() + timeout
        while True:
            parts = self._consumer.partitions_for_topic(self.topic)
            if parts:
                return [TopicPartition(self.topic, p) for p in sorted(parts)]
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"topic '{self.topic}' has no partitions on {self.settings.kafka_bootstrap}: "
                    "create it (make up does) or set KAFKA_TOPIC_EVENTS"
                )
            self._consumer.topics()  # refresh metadata
            time.sleep(0.2)

    def _seek_from_database(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Seek each partition to its stored next offset (or the beginning when none)."""
        assert self._consumer is not None and self._loader is not None
        stored = self._loader.stored_offsets(self.topic)
        start: dict[TopicPartition, int] = {}
        beginning = self._consumer.beginning_offsets(partitions)
        for tp in partitions:
            offset = stored.get(tp.partition)
            if offset is None or offset < beginning[tp]:
                if offset is not None:
                    log.warning(
                        "partition %s: stored offset %s is older than the log start %s "
                        "(retention removed messages before they were loaded)",
                        tp.partition,
                        offset,
                        beginning[tp],
                    )
                offset = beginning[tp]
            self._consumer.seek(tp, offset)
            start[tp] = offset
        return start

    def _drain(self) -> None:
        if self._writer is not None:
            self._finish(self._writer.results(wait=True))

    def _finish(self, results: list[BatchResult]) -> None:
        commit: dict[TopicPartition, OffsetAndMetadata] = {}
        for result in results:
            self.report.add(result)
            if self.on_batch is not None:
                self.on_batch(result)
            for (topic, partition), offset in result.next_offsets.items():
                commit[TopicPartition(topic, partition)] = OffsetAndMetadata(offset, "", -1)
        self._committed.update(commit)
        if commit and self.commit_to_kafka and self._consumer is not None:
            # Only a copy for lag dashboards: the offsets that count are in PostgreSQL.
            self._consumer.commit_async(commit, callback=self._log_commit)

    @staticmethod
    def _log_commit(offsets, response) -> None:
        if isinstance(response, Exception):
            log.debug("kafka offset commit (informational) failed: %s", response)

    def _submit(self, records: dict) -> dict[TopicPartition, int]:
        """Validate a poll's records, hand them to the writer; returns the next offsets read."""
        assert self._writer is not None
        if not records:
            return {}
        ordered = chain.from_iterable(records[tp] for tp in sorted(records))
        batch = prepare_batch(ordered)
        self._writer.submit(batch)
        return {TopicPartition(t, p): o for (t, p), o in batch.next_offsets.items()}

    # -- modes -------------------------------------------------------------------------------
    def run_until_caught_up(self, max_seconds: float | None = None) -> IngestReport:
        """Load everything up to the end offsets seen at start, then return (Dagster, tests)."""
        started = time.monotonic()
        try:
            self._open()  # a failure here still closes what it opened
            assert self._consumer is not None and self._writer is not None
            partitions = self._partitions()
            self._consumer.assign(partitions)
            read_to = self._seek_from_database(partitions)
            end = self._consumer.end_offsets(partitions)
            while any(read_to[tp] < end[tp] for tp in partitions):
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    log.warning("stopping after %.0fs before reaching the end offsets", max_seconds)
                    break
                records = self._consumer.poll(timeout_ms=500, max_records=self.batch_size)
                if records:
                    read_to.update(self._submit(records))
                else:
                    # Control records or compaction gaps are skipped by the position itself.
                    for tp in partitions:
                        read_to[tp] = max(read_to[tp], self._consumer.position(tp))
                self._finish(self._writer.results())
            self._drain()
        finally:
            self._close()
        self.report.seconds = time.monotonic() - started
        return self.report

    def run_forever(self, stop: threading.Event) -> IngestReport:
        """Service mode: join the consumer group and load until `stop` is set."""
        started = time.monotonic()
        try:
            self._open()  # a failure here still closes what it opened
            assert self._consumer is not None and self._writer is not None
            self._consumer.subscribe([self.topic], listener=_SeekFromDatabase(self))
            while not stop.is_set():
                records = self._consumer.poll(timeout_ms=500, max_records=self.batch_size)
                self._submit(records)
                self._finish(self._writer.results())
            self._drain()
        finally:
            self._close()
        self.report.seconds = time.monotonic() - started
        return self.report


def consumer_lag(settings: Settings | None = None) -> dict[int, int]:
    """Messages in Kafka not yet loaded, per partition: end offset − stored next offset."""
    settings = settings or get_settings()
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(settings.kafka_topic_events) or set()
        tps = [TopicPartition(settings.kafka_topic_events, p) for p in sorted(parts)]
        if not tps:
            return {}
        end = consumer.end_offsets(tps)
        beginning = consumer.beginning_offsets(tps)
    finally:
        consumer.close(autocommit=False)
    with RawLoader(settings.analytics_url, settings.kafka_consumer_group) as loader:
        stored = loader.stored_offsets(settings.kafka_topic_events)
    return {
        tp.partition: max(0, end[tp] - max(stored.get(tp.partition, 0), beginning[tp]))
        for tp in tps
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--until-caught-up", action="store_true", help="exit at the end offsets")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--max-seconds", type=float, default=None)
    args = parser.parse_args(argv)
    json_logging("INFO")

    consumer = EventConsumer(batch_size=args.batch_size)
    if args.until_caught_up:
        report = consumer.run_until_caught_up(max_seconds=args.max_seconds)
    else:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        report = consumer.run_forever(stop)
    print(json.dumps({"ingest": report.as_dict()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
