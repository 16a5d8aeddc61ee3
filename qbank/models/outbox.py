"""The transactional outbox: events written with the state change, relayed to Kafka later."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from qbank.models.base import Base, timestamp_now


class OutboxEvent(Base):
    __tablename__ = "event_outbox"
    __table_args__ = (
        # The relay scans only what is still to send, in commit order.
        Index("ix_event_outbox_pending", "id", postgresql_where=text("published_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    event_type: Mapped[str] = mapped_column(Text)
    # No foreign key: the tenant of the row the same statement wrote (migration 0008).
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    # The Kafka key: all events of a quiz go to one partition, in order.
    partition_key: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = timestamp_now()
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
