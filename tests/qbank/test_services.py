"""The real services answer: Redis PING and a produce/consume round trip through Kafka."""

from __future__ import annotations

import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition


def test_redis_ping(redis_client, settings):
    assert redis_client.ping() is True
    key = f"{settings.redis_namespace}:ping"
    assert redis_client.incr(key) == 1
    assert redis_client.incr(key) == 2


def test_kafka_round_trip(kafka_topic, settings):
    marker = uuid.uuid4().hex.encode()
    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    meta = producer.send(kafka_topic, key=b"quiz-1", value=marker).get(timeout=30)
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )
    tp = TopicPartition(kafka_topic, meta.partition)
    consumer.assign([tp])
    consumer.seek(tp, meta.offset)
    got = next(iter(consumer))
    consumer.close()
    assert (got.key, got.value, got.offset) == (b"quiz-1", marker, meta.offset)


def test_events_topic_has_configured_partitions(kafka_topic, settings):
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        assert len(consumer.partitions_for_topic(kafka_topic)) == settings.kafka_topic_partitions
    finally:
        consumer.close()
