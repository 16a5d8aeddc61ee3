"""Fixtures of the ingestion tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from qbank.settings import Settings


@pytest.fixture
def topic_settings(settings: Settings, migrated_db: str) -> Iterator[Settings]:
    """Settings pointing at a new 3-partition topic and consumer group of this test alone."""
    name = f"{settings.kafka_topic_events}.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(name, 3, 1)])
    yield settings.model_copy(
        update={"kafka_topic_events": name, "kafka_consumer_group": f"group.{name}"}
    )
    try:
        admin.delete_topics([name])
    finally:
        admin.close()
