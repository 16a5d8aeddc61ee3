"""The event contract: every type round-trips; malformed payloads are rejected with a reason."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from ingestion.events import (
    EVENT_TYPES,
    AnswerSubmitted,
    InvalidEvent,
    QuestionMarked,
    QuestionServed,
    QuestionServedV1,
    QuizFinished,
    QuizStarted,
    parse_event,
    serialize_event,
    to_dict,
)
from serving_api.services.outbox import event_params

ENVELOPE = dict(tenant_id=uuid.uuid4(), user_id=uuid.uuid4(), quiz_id=uuid.uuid4())
SAMPLES = [
    QuizStarted(
        **ENVELOPE,
        mode="exam",
        adaptive=True,
        exam_code="STEP1",
        num_questions=40,
        num_pretest=4,
        filters={"topics": [3], "only_unseen": True},
        quota={"3": 10},
    ),
    QuestionServed(
        **ENVELOPE,
        question_id=7,
        question_version_id=12,
        version=2,
        position=1,
        topic_id=3,
        is_pretest=False,
        parameter_set_id=5,
        a_used=1.3,
        b_used=-0.4,
        c_used=0.2,
    ),
    AnswerSubmitted(
        **ENVELOPE,
        question_id=7,
        question_version_id=12,
        version=2,
        position=1,
        selected="C",
        is_correct=True,
        time_taken_ms=31_250,
        revision=2,
    ),
    QuestionMarked(**ENVELOPE, question_id=7, position=1, marked=True),
    QuizFinished(**ENVELOPE, score=31, num_scored=36, theta=0.42, se=0.31, scaled_score=542),
    QuestionServed(  # cold start: no set, the defaults
        **ENVELOPE,
        question_id=8,
        question_version_id=13,
        version=1,
        position=2,
        topic_id=3,
        is_pretest=True,
        parameter_set_id=None,
        a_used=1.0,
        b_used=0.0,
        c_used=0.25,
    ),
    QuestionServedV1(  # written before lineage: still accepted
        **ENVELOPE,
        question_id=7,
        question_version_id=12,
        version=2,
        position=1,
        topic_id=3,
        is_pretest=False,
    ),
]


def test_every_event_type_has_a_sample():
    assert {e.event_type for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_round_trip_bytes(event):
    assert parse_event(serialize_event(event)) == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_round_trip_dict(event):
    back = parse_event(to_dict(event))
    assert type(back) is type(event) and back == event


def test_envelope_defaults_and_key():
    e = SAMPLES[0]
    assert isinstance(e.event_id, uuid.UUID) and e.schema_version == 1
    assert e.occurred_at.tzinfo is not None
    assert e.key == str(e.quiz_id).encode()


def test_occurred_at_normalised_to_utc():
    local = datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=5)))
    e = QuestionMarked(**ENVELOPE, occurred_at=local, question_id=1, position=1, marked=False)
    assert e.occurred_at == local and e.occurred_at.utcoffset() == timedelta(0)
    assert to_dict(e)["occurred_at"].endswith("Z")


def good() -> dict:
    return to_dict(SAMPLES[2])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (orjson.dumps(good() | {"event_type": "quiz_paused"}), "unknown event_type 'quiz_paused'"),
        (
            orjson.dumps({k: v for k, v in good().items() if k != "event_type"}),
            "unknown event_type None",
        ),
        (orjson.dumps(good() | {"schema_version": 2}), "unsupported schema_version 2"),
        (
            orjson.dumps({k: v for k, v in good().items() if k != "selected"}),
            "selected: Field required",
        ),
        (orjson.dumps(good() | {"is_correct": "maybe"}), "is_correct"),
        (orjson.dumps(good() | {"selected": "Z"}), "selected"),
        (orjson.dumps(good() | {"time_taken_ms": -1}), "time_taken_ms"),
        (orjson.dumps(good() | {"quiz_id": "not-a-uuid"}), "quiz_id"),
        (orjson.dumps(good() | {"occurred_at": "2026-01-01T00:00:00"}), "occurred_at"),
        (orjson.dumps(good() | {"surprise": 1}), "surprise: Extra inputs are not permitted"),
        (
            orjson.dumps({k: v for k, v in good().items() if k != "event_id"}),
            "event_id: Field required",
        ),
        (
            orjson.dumps({k: v for k, v in good().items() if k != "occurred_at"}),
            "occurred_at: Field required",
        ),
    ],
    ids=[
        "bad-json",
        "not-object",
        "unknown-type",
        "missing-type",
        "schema-v2",
        "missing-field",
        "wrong-type",
        "bad-label",
        "negative-time",
        "bad-uuid",
        "naive-time",
        "extra-field",
        "missing-event-id",
        "missing-time",
    ],
)
def test_malformed_payloads_rejected_with_reason(raw, reason):
    with pytest.raises(InvalidEvent) as err:
        parse_event(raw)
    assert reason in err.value.reason


def test_quiz_length_bounds_enforced():
    with pytest.raises(ValueError):
        QuizStarted(**ENVELOPE, mode="tutor", adaptive=False, exam_code="X", num_questions=121)


def test_occurred_at_is_utc_now_by_default():
    e = QuestionMarked(**ENVELOPE, question_id=1, position=1, marked=True)
    assert abs((datetime.now(UTC) - e.occurred_at).total_seconds()) < 5


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_outbox_payload_is_the_event_document(event):
    """The API writes the outbox payload as pydantic's JSON text: the document `to_dict` gives."""
    assert orjson.loads(event_params(event)["ev_payload"]) == to_dict(event)
