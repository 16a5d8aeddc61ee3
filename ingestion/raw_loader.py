"""Kafka messages → `raw.events` / `raw.dead_letters`, with the consumed offsets, in one transaction.

A batch is validated against the event contract (`ingestion.events.event_fields`) in Python, then
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

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import orjson
import psycopg

from ingestion.events import EventEnvelope, InvalidEvent, event_fields
from qbank.settings import libpq_url

# pg_advisory_xact_lock key shared by every loader of raw.events ("qbank raw" in ASCII).
RAW_LOAD_LOCK = 0x7162616E6B726177 & 0x7FFFFFFFFFFFFFFF

ENVELOPE_FIELDS = tuple(EventEnvelope.model_fields)
if set(ENVELOPE_FIELDS) != {
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "tenant_id",
    "user_id",
    "quiz_id",
}:  # prepare_batch pops exactly these into their columns; the rest is the payload
    raise TypeError(f"raw.events columns do not match the event envelope {ENVELOPE_FIELDS}")
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


_ROW = "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\n"


def prepare_batch(messages: Iterable[KafkaMessage]) -> PreparedBatch:
    """Validate each message against the contract and build the COPY payload; pure (no I/O).

    A valid event's row is built from the fields the contract validated (`event_fields`:
    canonical UUIDs, UTC timestamps, defaults filled), so the database never sees a form the
    contract did not accept; the payload column is the JSON of every field outside the envelope.
    """
    batch = PreparedBatch()
    rows: list[str] = []
    append = rows.append
    dead_letters = batch.dead_letters
    next_offsets = batch.next_offsets
    n = 0
    for msg in messages:
        n += 1
        topic, partition, offset, value = msg.topic, msg.partition, msg.offset, msg.value
        tp = (topic, partition)
        if offset >= next_offsets.get(tp, -1):
            next_offsets[tp] = offset + 1
        try:
            if value is None:
                raise InvalidEvent("empty message (no value)")
            doc = event_fields(value)
        except InvalidEvent as exc:
            dead_letters.append(DeadLetterRow(topic, partition, offset, msg.key, value, exc.reason))
            continue
        pop = doc.pop
        envelope = (
            pop("event_id"),
            pop("event_type"),
            pop("schema_version"),
            # ISO 8601 with its UTC offset (orjson: 5x faster than str(datetime))
            orjson.dumps(pop("occurred_at"))[1:-1].decode(),
            pop("tenant_id"),
            pop("user_id"),
            pop("quiz_id"),
        )
        payload = orjson.dumps(doc).decode()
        if "\\" in payload:  # COPY text format: backslash escapes; JSON holds no raw tab/newline
            payload = payload.replace("\\", "\\\\")
        append(_ROW % (*envelope, payload, topic, partition, offset))
    batch.messages = n
    batch.valid = len(rows)
    batch.copy_data = "".join(rows).encode()
    return batch


def application_name(consumer_group: str) -> str:
    """How a loader's connection shows in pg_stat_activity (at most 63 bytes)."""
    return f"qbank-loader {consumer_group}"[:63]


class RawLoader:
    """Writes prepared batches for one consumer group over one dedicated connection."""

    def __init__(self, database_url: str, consumer_group: str):
        self.consumer_group = consumer_group
        self.conn = psycopg.connect(
            libpq_url(database_url),
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
        """Write one prepared batch and its offsets atomically; returns what landed.

        New events are COPY'd straight into raw.events (the common case, as fast as a plain
        COPY). If an event_id is already there or twice in the batch, that COPY fails as a whole,
        the transaction is rolled back (nothing of the batch was written) and the batch is
        written again through the stage table with ON CONFLICT DO NOTHING.
        """
        try:
            loaded = self._write(batch, direct=True)
        except psycopg.errors.UniqueViolation:
            loaded = self._write(batch, direct=False)
        return BatchResult(
            messages=batch.messages,
            loaded=loaded,
            duplicates=batch.valid - loaded,
            dead_lettered=len(batch.dead_letters),
            next_offsets=dict(batch.next_offsets),
        )

    def _write(self, batch: PreparedBatch, *, direct: bool) -> int:
        """One transaction in four round trips: BEGIN + lock, COPY (start, data + end), then the
        dead letters, the offsets and COMMIT together (pipeline mode). Rolled back on any error."""
        conn = self.conn
        cur = conn.cursor()
        loaded = 0
        try:
            if batch.valid:
                with conn.pipeline():  # BEGIN is implicit (autocommit off)
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (RAW_LOAD_LOCK,))
                with cur.copy(_COPY_DIRECT if direct else _COPY_STAGE) as copy:
                    copy.write(batch.copy_data)
                if direct:
                    loaded = batch.valid
                else:
                    cur.execute(_INSERT_NEW)
                    loaded = cur.rowcount
            with conn.pipeline():
                if batch.dead_letters:
                    cur.executemany(
                        "INSERT INTO raw.dead_letters "
                        '(topic, partition, "offset", key, value, reason) '
                        "VALUES (%s, %s, %s, %s, %s, %s) "
                        'ON CONFLICT (topic, partition, "offset") DO NOTHING',
                        [
                            (d.topic, d.partition, d.offset, d.key, d.value, d.reason)
                            for d in batch.dead_letters
                        ],
                    )
                if batch.next_offsets:
                    self._store_offsets(cur, batch.next_offsets)
                conn.commit()
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
        return loaded

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
