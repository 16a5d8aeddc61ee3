"""Kafka messages → `raw.events` / `raw.dead_letters`, with the consumed offsets, in one transaction.

A batch is validated against the event contract (`ingestion.events.parse_event`) in Python, then
written in one PostgreSQL transaction:

1. valid events are COPY'd into a session temp table and moved into `raw.events` with
   `INSERT ... SELECT ... ON CONFLICT (event_id) DO NOTHING` (a relay that published an event twice,
   or a batch read again after a crash, lands once);
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

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from sqlalchemy.engine import make_url

from ingestion.events import EventEnvelope, InvalidEvent, parse_event

# pg_advisory_xact_lock key shared by every loader of raw.events ("qbank raw" in ASCII).
RAW_LOAD_LOCK = 0x7162616E6B726177 & 0x7FFFFFFFFFFFFFFF

ENVELOPE_FIELDS = frozenset(EventEnvelope.model_fields)
_COPY_COLUMNS = (
    "event_id, event_type, schema_version, occurred_at, tenant_id, user_id, quiz_id, payload, "
    "source_topic, source_partition, source_offset"
)
# Session-local staging table for COPY; emptied by every commit.
_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS raw_events_stage ("
    "event_id uuid NOT NULL, event_type text NOT NULL, schema_version integer NOT NULL, "
    "occurred_at timestamptz NOT NULL, tenant_id uuid NOT NULL, user_id uuid NOT NULL, "
    "quiz_id uuid NOT NULL, payload jsonb NOT NULL, source_topic text NOT NULL, "
    "source_partition integer NOT NULL, source_offset bigint NOT NULL"
    ") ON COMMIT DELETE ROWS"
)
_STAGE_TABLE = "pg_temp.raw_events_stage"


class KafkaMessage(Protocol):
    """What the loader needs of a message (kafka-python's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Message:
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

    copy_data: bytearray = field(default_factory=bytearray)
    valid: int = 0
    in_batch_duplicates: int = 0
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


def _copy_escape(text: str) -> str:
    # COPY text format: backslash is the escape character; JSON from pydantic never holds a raw
    # tab or newline (they are escaped inside strings), so doubling backslashes is enough.
    return text.replace("\\", "\\\\")


def prepare_batch(messages: Iterable[KafkaMessage]) -> PreparedBatch:
    """Validate each message and build the COPY payload; pure (no I/O)."""
    batch = PreparedBatch()
    seen: set[uuid.UUID] = set()
    rows: list[str] = []
    for msg in messages:
        batch.messages += 1
        tp = (msg.topic, msg.partition)
        if msg.offset + 1 > batch.next_offsets.get(tp, -1):
            batch.next_offsets[tp] = msg.offset + 1
        try:
            if msg.value is None:
                raise InvalidEvent("empty message (no value)")
            event = parse_event(msg.value)
        except InvalidEvent as exc:
            batch.dead_letters.append(
                DeadLetterRow(msg.topic, msg.partition, msg.offset, msg.key, msg.value, exc.reason)
            )
            continue
        if event.event_id in seen:
            batch.in_batch_duplicates += 1
            continue
        seen.add(event.event_id)
        payload = event.__pydantic_serializer__.to_json(event, exclude=ENVELOPE_FIELDS).decode()
        rows.append(
            f"{event.event_id}\t{event.event_type}\t{event.schema_version}\t"
            f"{event.occurred_at.isoformat()}\t{event.tenant_id}\t{event.user_id}\t"
            f"{event.quiz_id}\t{_copy_escape(payload)}\t{_copy_escape(msg.topic)}\t"
            f"{msg.partition}\t{msg.offset}\n"
        )
    batch.valid = len(rows)
    batch.copy_data = bytearray("".join(rows).encode())
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
                with cur.copy(f"COPY {_STAGE_TABLE} ({_COPY_COLUMNS}) FROM STDIN") as copy:
                    copy.write(batch.copy_data)
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (RAW_LOAD_LOCK,))
                cur.execute(
                    f"INSERT INTO raw.events ({_COPY_COLUMNS}) "
                    f"SELECT {_COPY_COLUMNS} FROM {_STAGE_TABLE} "
                    "ON CONFLICT (event_id) DO NOTHING"
                )
                loaded = cur.rowcount
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
            duplicates=batch.in_batch_duplicates + (batch.valid - loaded),
            dead_lettered=len(batch.dead_letters),
            next_offsets=dict(batch.next_offsets),
        )

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
