"""The event contract: versioned pydantic models shared by the API's outbox and by ingestion.

Every event has the envelope (event_id, event_type, occurred_at in UTC, tenant_id, user_id,
quiz_id, schema_version) followed by the fields of its type. On Kafka an event is the UTF-8 JSON
of its model, keyed by quiz_id so one quiz stays on one partition, in order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})

Label = Annotated[str, Field(pattern=r"^[A-J]$")]
PositiveInt = Annotated[int, Field(ge=1)]


class EventEnvelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    event_type: str
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    quiz_id: uuid.UUID
    schema_version: Literal[1] = SCHEMA_VERSION

    @field_validator("occurred_at")
    @classmethod
    def _to_utc(cls, v: datetime) -> datetime:
        return v.astimezone(UTC)

    @property
    def key(self) -> bytes:
        """Kafka message key: the quiz, so a quiz's events keep their order."""
        return str(self.quiz_id).encode()


class QuizStarted(EventEnvelope):
    event_type: Literal["quiz_started"] = "quiz_started"
    mode: Literal["tutor", "exam"]
    adaptive: bool
    exam_code: Annotated[str, Field(min_length=1, max_length=64)]
    num_questions: Annotated[int, Field(ge=1, le=120)]
    num_pretest: Annotated[int, Field(ge=0)] = 0
    filters: dict[str, Any] = Field(default_factory=dict)
    # Blueprint quota resolved to topic ids: {"<topic_id>": count}.
    quota: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict)


class QuestionServed(EventEnvelope):
    event_type: Literal["question_served"] = "question_served"
    question_id: PositiveInt
    question_version_id: PositiveInt
    version: PositiveInt
    position: PositiveInt
    topic_id: PositiveInt
    is_pretest: bool


class AnswerSubmitted(EventEnvelope):
    event_type: Literal["answer_submitted"] = "answer_submitted"
    question_id: PositiveInt
    question_version_id: PositiveInt
    version: PositiveInt
    position: PositiveInt
    selected: Label
    is_correct: bool
    time_taken_ms: Annotated[int, Field(ge=0)]
    # A changed answer (linear exam, marked item) is a new event with a higher revision; the
    # marts keep the last one per quiz item.
    revision: PositiveInt = 1


class QuestionMarked(EventEnvelope):
    event_type: Literal["question_marked"] = "question_marked"
    question_id: PositiveInt
    position: PositiveInt
    marked: bool


class QuizFinished(EventEnvelope):
    event_type: Literal["quiz_finished"] = "quiz_finished"
    status: Literal["finished", "expired", "pool_exhausted"] = "finished"
    score: Annotated[int, Field(ge=0)]
    num_scored: Annotated[int, Field(ge=0)]
    theta: float
    se: Annotated[float, Field(ge=0)]
    scaled_score: Annotated[int, Field(ge=200, le=800)]


Event = Annotated[
    QuizStarted | QuestionServed | AnswerSubmitted | QuestionMarked | QuizFinished,
    Field(discriminator="event_type"),
]
EVENT_TYPES: dict[str, type[EventEnvelope]] = {
    m.model_fields["event_type"].default: m
    for m in (QuizStarted, QuestionServed, AnswerSubmitted, QuestionMarked, QuizFinished)
}
_adapter: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """A payload that is not a valid event; `reason` says why, for the dead-letter table."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def parse_event(raw: bytes | str | dict[str, Any]) -> EventEnvelope:
    """Validate bytes/str JSON or a dict against the contract, or raise InvalidEvent."""
    if isinstance(raw, dict):
        data = raw
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidEvent(f"an event must be a JSON object, got {type(data).__name__}")
    event_type = data.get("event_type")
    if event_type not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise InvalidEvent(f"unknown event_type {event_type!r} (known: {known})")
    version = data.get("schema_version")
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise InvalidEvent(
            f"unsupported schema_version {version!r} for {event_type} "
            f"(supported: {sorted(SUPPORTED_SCHEMA_VERSIONS)})"
        )
    try:
        return _adapter.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or '<event>'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        )
        raise InvalidEvent(f"invalid {event_type}: {problems}") from None


def to_dict(event: EventEnvelope) -> dict[str, Any]:
    """JSON-ready dict (UUIDs and datetimes as strings), as stored in the outbox."""
    return event.model_dump(mode="json")


def serialize_event(event: EventEnvelope) -> bytes:
    """The Kafka message value."""
    return orjson.dumps(to_dict(event))
