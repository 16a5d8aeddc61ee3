"""Events into the transactional outbox: the SQL fragments the delivery statements embed.

Each state change and its event are written by one statement (a data-modifying CTE) in one
transaction: the event exists if and only if the change was stored. `ingestion.outbox_relay`
publishes the rows to Kafka later, so Kafka being down never touches a student request.
"""

from __future__ import annotations

from ingestion.events import EventEnvelope

# Appended to a CTE whose row set `src` decides whether the event is written.
OUTBOX_FROM = """
INSERT INTO event_outbox (event_id, event_type, tenant_id, partition_key, payload)
SELECT %(ev_id)s, %(ev_type)s, %(ev_tenant)s, %(ev_key)s, %(ev_payload)s::jsonb FROM {src}
"""


def event_params(event: EventEnvelope) -> dict:
    return {
        "ev_id": event.event_id,
        "ev_type": event.event_type,
        "ev_tenant": event.tenant_id,
        "ev_key": str(event.quiz_id),
        # The JSON text pydantic writes (in Rust: a third of the time of a dict through
        # psycopg's json.dumps on every step); the same document as `to_dict`.
        "ev_payload": event.model_dump_json(),
    }


def outbox_from(src: str) -> str:
    return OUTBOX_FROM.format(src=src)
