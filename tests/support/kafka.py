"""A Kafka topic and consumer group of a test's own.

Tests that run processes against databases of their own (two throwaway clusters) must not publish
into the run's topic: the run's other tests ingest it into the run's database, where those events'
tenants and users do not exist (dbt's relationship tests then fail every later pipeline run).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from qbank.settings import get_settings


@contextmanager
def own_topic(label: str) -> Iterator[tuple[str, str]]:
    """Create a topic, point KAFKA_TOPIC_EVENTS and KAFKA_CONSUMER_GROUP at it (for the
    processes the test starts and for get_settings), and restore and delete on exit."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    settings = get_settings()
    suffix = f"{label}-{uuid.uuid4().hex[:8]}"
    topic, group = (
        f"{settings.kafka_topic_events}.{suffix}",
        f"{settings.kafka_consumer_group}-{suffix}",
    )
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(topic, settings.kafka_topic_partitions, 1)])
    admin.close()
    saved = {k: os.environ.get(k) for k in ("KAFKA_TOPIC_EVENTS", "KAFKA_CONSUMER_GROUP")}
    os.environ.update({"KAFKA_TOPIC_EVENTS": topic, "KAFKA_CONSUMER_GROUP": group})
    get_settings.cache_clear()
    try:
        yield topic, group
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
