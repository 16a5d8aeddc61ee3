"""The event contract: versioned pydantic models shared by the API's outbox and by ingestion.

Every event has the envelope (event_id, event_type, occurred_at in UTC, tenant_id, user_id,
quiz_id, schema_version) followed by the fields of its type. On Kafka an event is the UTF-8 JSON
of its model, keyed by quiz_id so one quiz stays on one partition, in order.
"""

from __future__ import annotations

import operator
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from functools import reduce
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    with_config,
)
from typing_extensions import TypedDict

SCHEMA_VERSION = 1  # of every event type unless its model says otherwise (question_served: 2)

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


class QuestionServedV1(EventEnvelope):
    """question_served as written until lineage was added (frozen; still accepted)."""

    event_type: Literal["question_served"] = "question_served"
    question_id: PositiveInt
    question_version_id: PositiveInt
    version: PositiveInt
    position: PositiveInt
    topic_id: PositiveInt
    is_pretest: bool


class QuestionServed(EventEnvelope):
    """Version 2 adds lineage: the parameter set whose a, b, c chose and score the item (null:
    the cold-start defaults were used) and those a, b, c."""

    event_type: Literal["question_served"] = "question_served"
    schema_version: Literal[2] = 2
    question_id: PositiveInt
    question_version_id: PositiveInt
    version: PositiveInt
    position: PositiveInt
    topic_id: PositiveInt
    is_pretest: bool
    parameter_set_id: PositiveInt | None
    a_used: Annotated[float, Field(gt=0)]
    b_used: float
    c_used: Annotated[float, Field(ge=0, lt=1)]


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


# Every schema version of every event type that is accepted; producers write the newest. A new
# version is a new model (the old one stays, frozen), so events already in Kafka or the outbox
# keep loading.
_MODELS = (
    QuizStarted,
    QuestionServedV1,
    QuestionServed,
    AnswerSubmitted,
    QuestionMarked,
    QuizFinished,
)
EVENT_VERSIONS: dict[str, dict[int, type[EventEnvelope]]] = {}
for _m in _MODELS:
    EVENT_VERSIONS.setdefault(_m.model_fields["event_type"].default, {})[
        _m.model_fields["schema_version"].default
    ] = _m
# event type → the model producers use (its newest version)
EVENT_TYPES: dict[str, type[EventEnvelope]] = {
    t: versions[max(versions)] for t, versions in EVENT_VERSIONS.items()
}


def _union(members_by_type: dict[str, list[Any]]) -> Any:
    """Discriminated by event_type, then (for types with several versions) by schema_version."""
    members = [
        Annotated[reduce(operator.or_, ms), Field(discriminator="schema_version")]
        if len(ms) > 1
        else ms[0]
        for ms in members_by_type.values()
    ]
    return Annotated[reduce(operator.or_, members), Field(discriminator="event_type")]


Event = _union({t: list(v.values()) for t, v in EVENT_VERSIONS.items()})
_adapter: TypeAdapter[Any] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """A payload that is not a valid event; `reason` says why, for the dead-letter table."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _decode(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """JSON → dict, with the checks that come before the model: an object, a known event_type,
    a supported schema_version."""
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
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise InvalidEvent(f"unknown event_type {event_type!r} (known: {known})")
    version = data.get("schema_version")
    supported = EVENT_VERSIONS[event_type]
    if isinstance(version, list | dict) or version not in supported:
        raise InvalidEvent(
            f"unsupported schema_version {version!r} for {event_type} "
            f"(supported: {sorted(supported)})"
        )
    return data


# The envelope's defaults serve producers building an event; on the wire an event without its
# id or time is refused: an id made up at ingestion would let a re-published copy load twice.
_REQUIRED_ON_THE_WIRE = ("event_id", "occurred_at")


def _validate(data: dict[str, Any]) -> EventEnvelope:
    # An error's location starts with the union tags: the event type, and the schema version
    # for types with several.
    tags = 2 if len(EVENT_VERSIONS[data["event_type"]]) > 1 else 1
    try:
        event = _adapter.validate_python(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc'][tags:]) or '<event>'}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
    else:
        problems = []
    problems[:0] = [f"{key}: Field required" for key in _REQUIRED_ON_THE_WIRE if key not in data]
    if problems:
        raise InvalidEvent(f"invalid {data['event_type']}: {'; '.join(problems)}") from None
    return event


def parse_event(raw: bytes | str | dict[str, Any]) -> EventEnvelope:
    """Validate bytes/str JSON or a dict against the contract, or raise InvalidEvent."""
    return _validate(_decode(raw))


# ---------------------------------------------------------------------------------------------
# The loader's form of the contract: the fields of a valid event, without building the model.
#
# Building a model costs ~15 µs an event, most of it in the four uuid.UUID objects pydantic
# creates in Python. A loader only needs the fields as text, so `event_fields` first tries
# *canonical* schemas derived from the models above: the same fields, types, constraints,
# `extra="forbid"` and discriminator, validated in Rust without model objects, except that
#   * a UUID must already be in canonical form (lowercase, hyphenated) and stays a str: every such
#     string is a UUID the model accepts, and str(UUID(s)) == s;
#   * every field must be present (the envelope's and the types' defaults are not filled in).
# Two of them, tried in turn:
#   1. on the raw bytes (pydantic's own JSON parser, no Python dict in between), for event types
#      whose fields are all scalars, in strict mode (JSON ints for ints, true/false for bools),
#      with ints within 64 bits and no NaN or infinity (which orjson, and so `parse_event`,
#      refuses as JSON);
#   2. on the dict `parse_event` decodes, with the models' own (lax) validation.
# Each accepts only events the models accept, with the same values (tests/ingestion checks it
# against `parse_event` on valid and mutated events). Anything they refuse (a malformed event, or
# a valid one in another form: an uppercase UUID, a missing default) is judged by the models
# themselves, which decide and give the dead-letter reason. The derivation refuses model features
# it does not reproduce (other validators, serializers, computed fields, other config), so a
# change to the contract cannot silently bypass it.
_CanonicalUUID = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
_REPRODUCED_VALIDATORS = {"_to_utc": ("occurred_at",)}  # after-validator: event_fields does it
_SCALARS = (str, int, float, bool, AwareDatetime, uuid.UUID)
# Added *before* a field's own constraints: for the same key, pydantic keeps the last one.
_INT64 = Field(gt=-(2**63) - 1, lt=2**63)
_FINITE = Field(allow_inf_nan=False)


def _check_reproducible(model: type[EventEnvelope]) -> None:
    decorators = model.__pydantic_decorators__
    validators = {
        name: d.info.fields
        for name, d in decorators.field_validators.items()
        if d.info.mode == "after"
    }
    if (
        validators != _REPRODUCED_VALIDATORS
        or len(decorators.field_validators) != len(validators)
        or decorators.validators
        or decorators.root_validators
        or decorators.model_validators
        or decorators.field_serializers
        or decorators.model_serializers
        or decorators.computed_fields
        or set(model.model_config) - {"extra", "frozen"}
        or model.model_config.get("extra") != "forbid"
        or any(
            f.alias or f.validation_alias or f.serialization_alias or f.exclude
            for f in model.model_fields.values()
        )
    ):
        raise TypeError(
            f"{model.__name__}: the loader's canonical schema does not reproduce this model's "
            "validators, serializers, aliases or config; extend ingestion.events"
        )


def _is_scalar(annotation: Any) -> bool:
    return get_origin(annotation) is Literal or annotation in _SCALARS


def _optional_of(annotation: Any) -> Any | None:
    """X for an `X | None` annotation, else None."""
    if get_origin(annotation) in (Union, UnionType):
        args = get_args(annotation)
        if len(args) == 2 and type(None) in args:
            return next(a for a in args if a is not type(None))
    return None


def _canonical_type(annotation: Any, metadata: list[Any], *, json_strict: bool) -> Any | None:
    """A field's type in the canonical schema (see above); None when json_strict and the field
    is not a scalar (or an optional scalar)."""
    inner = _optional_of(annotation)
    if inner is not None and not metadata:
        if get_origin(inner) is Annotated:
            base, *inner_meta = get_args(inner)
        else:
            base, inner_meta = inner, []
        t = _canonical_type(base, list(inner_meta), json_strict=json_strict)
        return None if t is None else t | None
    if json_strict:
        if not _is_scalar(annotation):
            return None
        if annotation is int:
            metadata = [_INT64, *metadata]
        elif annotation is float:
            metadata = [_FINITE, *metadata]
    if annotation is uuid.UUID and not metadata:
        return _CanonicalUUID
    return Annotated[(annotation, *metadata)] if metadata else annotation


def _canonical_typeddict(model: type[EventEnvelope], *, json_strict: bool) -> type | None:
    """The model as a TypedDict of its fields (see above); with json_strict, the strict variant
    for raw JSON, or None when the model has a field that is not a scalar."""
    _check_reproducible(model)
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        t = _canonical_type(info.annotation, list(info.metadata), json_strict=json_strict)
        if t is None:
            return None
        fields[name] = t
    config = ConfigDict(extra="forbid", strict=json_strict)
    return with_config(config)(TypedDict(f"Canonical{model.__name__}", fields))


def _canonical_adapter(*, json_strict: bool) -> TypeAdapter[dict[str, Any]]:
    by_type = {
        t: [
            td
            for m in versions.values()
            if (td := _canonical_typeddict(m, json_strict=json_strict)) is not None
        ]
        for t, versions in EVENT_VERSIONS.items()
    }
    return TypeAdapter(_union({t: tds for t, tds in by_type.items() if tds}))


_canonical_json = _canonical_adapter(json_strict=True)
_canonical = _canonical_adapter(json_strict=False)
_validate_json = _canonical_json.validator.validate_json  # without TypeAdapter's Python layer
_validate_python = _canonical.validator.validate_python


def event_fields(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Validate like `parse_event`, but return the event's fields instead of the model.

    The dict has every field of the event type, in model order, as the model's JSON form holds
    them (UUIDs as canonical strings, ...), except `occurred_at`: an aware datetime in UTC.
    Raises InvalidEvent exactly when `parse_event` does, with its reason.
    """
    doc = None
    if not isinstance(raw, dict):
        with suppress(ValidationError):
            doc = _validate_json(raw)
    if doc is None:
        data = _decode(raw)
        try:
            doc = _validate_python(data)
        except ValidationError:
            event = _validate(data)  # the contract decides (and says why)
            doc = event.__pydantic_serializer__.to_python(event, mode="json")
            doc["occurred_at"] = event.occurred_at
            return doc
    occurred_at = doc["occurred_at"]
    if occurred_at.utcoffset():  # the models' _to_utc
        doc["occurred_at"] = occurred_at.astimezone(UTC)
    return doc


def to_dict(event: EventEnvelope) -> dict[str, Any]:
    """JSON-ready dict (UUIDs and datetimes as strings), as stored in the outbox."""
    return event.model_dump(mode="json")


def serialize_event(event: EventEnvelope) -> bytes:
    """The Kafka message value."""
    return orjson.dumps(to_dict(event))
