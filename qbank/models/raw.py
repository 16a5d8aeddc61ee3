"""The `raw` schema: events landed from Kafka, dead letters, and the consumer's own offsets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, Integer, LargeBinary, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qbank.models.base import Base

RAW_SCHEMA = "raw"


class RawEvent(Base):
    """One validated event, exactly once (primary key event_id); type fields stay in `payload`."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_raw_events_type_load", "event_type", "load_id"),
        {"schema": RAW_SCHEMA},
    )

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Monotonic load order: the watermark for incremental dbt models.
    load_id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), unique=True)
    event_type: Mapped[str] = mapped_column(Text)
    schema_version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    user_id: Mapped[uuid.UUID] = mapped_column()
    quiz_id: Mapped[uuid.UUID] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    source_topic: Mapped[str] = mapped_column(Text)
    source_partition: Mapped[int] = mapped_column(Integer)
    source_offset: Mapped[int] = mapped_column(BigInteger)
    ingested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class DeadLetter(Base):
    """A message that failed validation, kept byte for byte with where it came from and why."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index("uq_dead_letters_source", "topic", "partition", "offset", unique=True),
        {"schema": RAW_SCHEMA},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[bytes | None] = mapped_column(LargeBinary)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class IngestionOffset(Base):
    """Next offset to read per partition, written in the same transaction as the rows."""

    __tablename__ = "ingestion_offsets"
    __table_args__ = {"schema": RAW_SCHEMA}

    consumer_group: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text, primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
