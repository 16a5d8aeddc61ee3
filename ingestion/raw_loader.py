"""Kafka messages → `raw.events` / `raw.dead_letters`, with the consumed offsets, in one transaction.

A batch is validated against the event contract (`ingestion.events.parse_event`) in Python, then
written in one PostgreSQL transaction:

1. valid events are COPY'd into `raw.events`, idempotent on event_id: straight in when every
   event is new (the common case, as fast as a plain COPY), else — a relay that published an event
   twice, a duplicate inside the batch — through a session temp table and
   `INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING`, so each event lands once;
2. invalid messages go to `raw.dead_letters` byte for byte with topic, partition, offset and reason;
3. the next offset of every partition in the batch is stored in `raw.ingestion_offsets`.

Because the offsets commit with the rows, a consumer that dies anywhere in a batch restarts from
the last committed offsets: nothing is loaded twice and nothing is lost (exactly-once effect). Kafka's
own committed offsets are only a copy for lag dashboards.

Loads are serialised by a transaction-scoped advisory lock, so `raw.events.load_id` (drawn inside the
transaction) becomes visible in increasing order: the incremental dbt models can use
`load_id > max(seen)` as a watermark without skipping a row committed late by a parallel consumer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson
import psycopg
from sqlalchemy.engine import make_url

from ingestion.events import EventEnvelope, InvalidEvent, parse_event

# pg_advisory_xact_lock key shared by every loader of raw.events ("qbank raw" in ASCII).
RAW_LOAD_LOCK = 0x7162616E6B726177 & 0x7FFFFFFFFFFFFFFF

ENVELOPE_FIELDS = tuple(EventEnvelope.model_fields)
_COLUMNS = (
    "event_id, event_type, schema_version, occurred_at, tenant_id, user_id, quiz_id, payload, "
    "source_topic, source_partition, source_offset"
)
# Session-local staging table for the duplicate path; emptied by every commit.
_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS raw_events_stage ("
    "event_id uuid NOT NULL, event_type text NOT NULL, schema_version integer NOT NULL, "
    "occurred_at timestamptz NOT NULL, tenant_id uuid NOT NULL, user_id uuid NOT NULL, "
    "quiz_id uuid NOT NULL, payload jsonb NOT NULL, source_topic text NOT NULL, "
    "source_partition integer NOT NULL, source_offset bigint NOT NULL"
    ") ON COMMIT DELETE ROWS"
)
_STAGE_TABLE = "pg_temp.raw_events_stage"
_COPY_DIRECT = f"COPY raw.events ({_COLUMNS}) FROM STDIN"
_COPY_STAGE = f"COPY {_STAGE_TABLE} ({_COLUMNS}) FROM STDIN"
# Stage rows are in Kafka order: the first copy of an event_id wins, later ones are skipped.
_INSERT_NEW = (
    f"INSERT INTO raw.events ({_COLUMNS}) SELECT {_COLUMNS} FROM {_STAGE_TABLE} "
    "ON CONFLICT (event_id) DO NOTHING"
)


class KafkaMessage(Protocol):
    """What the loader needs of a message (kafka-python's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Message(NamedTuple):
    """A message reduced to what the loader needs (cheap to pickle to a validator process)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class DeadLetterRow:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    reason: str


@dataclass
class PreparedBatch:
    """A validated batch: COPY text of the valid rows, the dead letters and the next offsets."""

    copy_data: bytes = b""
    valid: int = 0
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    messages: int = 0


@dataclass(frozen=True)
class BatchResult:
    messages: int
    loaded: int
    duplicates: int
    dead_lettered: int
    next_offsets: dict[tuple[str, int], int]


_ENVELOPE = frozenset(ENVELOPE_FIELDS)
_ROW = "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n"


def prepare_batch(messages: Iterable[KafkaMessage]) -> PreparedBatch:
    """Validate each message against the contract and build the COPY payload; pure (no I/O).

    A valid event's row is built from pydantic's JSON form of the validated model (canonical UUIDs,
    UTC timestamps), so the database never sees a form the contract did not accept.
    """
    batch = PreparedBatch()
    rows: list[str] = []
    next_offsets = batch.next_offsets
    for msg in messages:
        batch.messages += 1
        tp = (msg.topic, msg.partition)
        if msg.offset >= next_offsets.get(tp, -1):
            next_offsets[tp] = msg.offset + 1
        try:
            if msg.value is None:
                raise InvalidEvent("empty message (no value)")
            event = parse_event(msg.value)
        except InvalidEvent as exc:
            batch.dead_letters.append(
                DeadLetterRow(msg.topic, msg.partition, msg.offset, msg.key, msg.value, exc.reason)
            )
            continue
        doc = event.__pydantic_serializer__.to_python(event, mode="json")
        payload = orjson.dumps({k: v for k, v in doc.items() if k not in _ENVELOPE})
        rows.append(
            _ROW
            % (
                doc["event_id"],
                doc["event_type"],
                doc["schema_version"],
                doc["occurred_at"],
                doc["tenant_id"],
                doc["user_id"],
                doc["quiz_id"],
                # COPY text format: backslash escapes; JSON holds no raw tab or newline.
                payload.decode().replace("\\", "\\\\"),
                msg.topic,
                msg.partition,
                msg.offset,
            )
        )
    batch.valid = len(rows)
    batch.copy_data = "".join(rows).encode()
    return batch


def libpq_conninfo(database_url: str) -> str:
    """A SQLAlchemy URL (any PostgreSQL driver) as a libpq connection string for psycopg."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def application_name(consumer_group: str) -> str:
    """How a loader's connection shows in pg_stat_activity (at most 63 bytes)."""
    return f"qbank-loader {consumer_group}"[:63]


class RawLoader:
    """Writes prepared batches for one consumer group over one dedicated connection."""

    def __init__(self, database_url: str, consumer_group: str):
        self.consumer_group = consumer_group
        self.conn = psycopg.connect(
            libpq_conninfo(database_url),
            autocommit=False,
            application_name=application_name(consumer_group),
        )
        with self.conn.transaction():
            self.conn.execute(_STAGE_DDL)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> RawLoader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def stored_offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition, as last committed with the rows."""
        with self.conn.transaction():
            rows = self.conn.execute(
                "SELECT partition, next_offset FROM raw.ingestion_offsets "
                "WHERE consumer_group = %s AND topic = %s",
                (self.consumer_group, topic),
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def load(self, batch: PreparedBatch) -> BatchResult:
        """Write one prepared batch and its offsets atomically; returns what landed."""
        loaded = 0
        with self.conn.transaction():
            cur = self.conn.cursor()
            if batch.valid:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (RAW_LOAD_LOCK,))
                loaded = self._insert_events(cur, batch)
            if batch.dead_letters:
                cur.executemany(
                    'INSERT INTO raw.dead_letters (topic, partition, "offset", key, value, reason) '
                    "VALUES (%s, %s, %s, %s, %s, %s) "
                    'ON CONFLICT (topic, partition, "offset") DO NOTHING',
                    [
                        (d.topic, d.partition, d.offset, d.key, d.value, d.reason)
                        for d in batch.dead_letters
                    ],
                )
            if batch.next_offsets:
                self._store_offsets(cur, batch.next_offsets)
        return BatchResult(
            messages=batch.messages,
            loaded=loaded,
            duplicates=batch.valid - loaded,
            dead_lettered=len(batch.dead_letters),
            next_offsets=dict(batch.next_offsets),
        )

    def _insert_events(self, cur: psycopg.Cursor, batch: PreparedBatch) -> int:
        """COPY straight into raw.events (every event new: the common case, as fast as a plain
        COPY); if an event_id is already there or twice in the batch, the COPY fails as a whole
        (savepoint) and the batch goes through the stage table with ON CONFLICT DO NOTHING."""
        try:
            with self.conn.transaction(), cur.copy(_COPY_DIRECT) as copy:
                copy.write(batch.copy_data)
            return batch.valid
        except psycopg.errors.UniqueViolation:
            pass
        with cur.copy(_COPY_STAGE) as copy:
            copy.write(batch.copy_data)
        cur.execute(_INSERT_NEW)
        return cur.rowcount

    def _store_offsets(self, cur: psycopg.Cursor, next_offsets: dict[tuple[str, int], int]) -> None:
        # GREATEST: a slower parallel reader of the same partition never moves the offset back.
        cur.executemany(
            "INSERT INTO raw.ingestion_offsets (consumer_group, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET "
            "next_offset = GREATEST(raw.ingestion_offsets.next_offset, EXCLUDED.next_offset), "
            "updated_at = now()",
            [(self.consumer_group, t, p, o) for (t, p), o in sorted(next_offsets.items())],
        )


def load_messages(loader: RawLoader, messages: Sequence[KafkaMessage]) -> BatchResult:
    """Validate and load one batch (convenience for callers without a pipeline)."""
    return loader.load(prepare_batch(messages))
