"""`event_fields` (the loader's validation) accepts exactly what `parse_event` accepts, with the
same values, and refuses the rest with the contract's own reason.

Its canonical schemas are narrower than the models by design (canonical UUIDs, every field
present, strict JSON for the raw-bytes path); these tests hold them to never being wider: every
valid sample, every single-field mutation of it, raw-JSON oddities where pydantic's JSON parser
and orjson differ (NaN, infinity, huge numbers, duplicate keys), and random JSON values.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion.events import (
    EVENT_TYPES,
    InvalidEvent,
    _canonical,
    _canonical_json,
    event_fields,
    parse_event,
    serialize_event,
    to_dict,
)
from ingestion.raw_loader import Message, prepare_batch
from tests.ingestion.test_events import SAMPLES


def _expected(raw) -> dict | str:
    """What parse_event makes of `raw`: the model's JSON form (occurred_at as a datetime), or
    the dead-letter reason."""
    try:
        event = parse_event(raw)
    except InvalidEvent as exc:
        return exc.reason
    doc = event.model_dump(mode="json")
    doc["occurred_at"] = event.occurred_at
    return doc


def _got(raw) -> dict | str:
    try:
        doc = event_fields(raw)
    except InvalidEvent as exc:
        return exc.reason
    assert doc["occurred_at"].utcoffset() == timedelta(0)
    return doc


def assert_same(raw) -> None:
    expected, got = _expected(raw), _got(raw)
    if isinstance(expected, dict) and isinstance(got, dict):
        # Defaults drawn at validation (a new event_id, now()) differ between two validations.
        sent = raw if isinstance(raw, dict) else orjson.loads(raw)
        if "event_id" not in sent:
            uuid.UUID(got["event_id"])
            got["event_id"] = expected["event_id"]
        if "occurred_at" not in sent:
            assert abs(got["occurred_at"] - expected["occurred_at"]) < timedelta(seconds=5)
            got["occurred_at"] = expected["occurred_at"]
    assert got == expected, raw
    if isinstance(expected, dict):  # same keys in the same order, so the same payload JSON
        assert list(got) == list(expected)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.event_type)
def test_valid_events_take_the_canonical_paths(event):
    raw = serialize_event(event)
    assert_same(raw)
    if event.event_type == "quiz_started":  # filters: Any → the decoded-dict path
        with pytest.raises(ValueError):
            _canonical_json.validate_json(raw)
        _canonical.validate_python(orjson.loads(raw))
    else:
        _canonical_json.validate_json(raw)


ODD_VALUES = [
    None,
    0,
    -1,
    1,
    2,
    121,
    2**31,
    2**63 - 1,
    2**63,
    2**64 + 1,
    -(2**63) - 1,
    1.0,
    1.5,
    -0.0,
    1e300,
    "1",
    "",
    "A",
    "Z",
    "a",
    "x" * 65,
    "exam",
    "finished",
    True,
    False,
    "true",
    "yes",
    [],
    [1],
    {},
    {"3": 10},
    {"3": 0},
    {"a": [1, {"b": None}]},
    "6D537FC3-A791-45EF-BC10-5DE3F8AE0198",
    "6d537fc3a79145efbc105de3f8ae0198",
    "{6d537fc3-a791-45ef-bc10-5de3f8ae0198}",
    "6d537fc3-a791-45ef-bc10-5de3f8ae0198\n",
    "00000000-0000-0000-0000-000000000000",
    "2026-01-01T00:00:00",
    "2026-01-01T00:00:00Z",
    "2026-01-01T00:00:00+05:30",
    "2026-01-01 00:00:00.1234567-02:00",
    "2026-02-30T00:00:00Z",
    1767600000,
    1767600000.5,
    "quiz_started",
    "answer_submitted",
]


def _mutations():
    for event in SAMPLES:
        base = to_dict(event)
        for key in base:
            yield {k: v for k, v in base.items() if k != key}  # missing field
            for value in ODD_VALUES:
                yield {**base, key: value}
        yield {**base, "surprise": 1}


@pytest.mark.parametrize("index", range(0, 5))
def test_every_single_field_mutation_is_judged_like_parse_event(index):
    cases = list(_mutations())
    for doc in cases[index::5]:
        assert_same(json.dumps(doc).encode())  # stdlib json: writes integers beyond 64 bits
        assert_same(doc)


def _raw(event, **replace: bytes) -> bytes:
    raw = serialize_event(event)
    for key, value in replace.items():
        old = orjson.dumps({key: getattr(event, key)})[1:-1].split(b":", 1)[1]
        raw = raw.replace(b'"%s":%s' % (key.encode(), old), b'"%s":%s' % (key.encode(), value))
    return raw


FINISHED, ANSWER, SERVED, SERVED_COLD = SAMPLES[4], SAMPLES[2], SAMPLES[1], SAMPLES[5]
SERVED_V1 = SAMPLES[6]
RAW_ODDITIES = [
    _raw(FINISHED, theta=b"NaN"),
    _raw(FINISHED, theta=b"Infinity"),
    _raw(FINISHED, theta=b"-Infinity"),
    _raw(FINISHED, theta=b"1e400"),
    _raw(FINISHED, se=b"1.7976931348623157e309"),
    _raw(FINISHED, theta=b"123456789012345678901234567890"),
    _raw(FINISHED, theta=b"4.9e-325"),
    _raw(FINISHED, score=b"123456789012345678901234567890"),
    _raw(FINISHED, score=b"18446744073709551615"),
    _raw(FINISHED, score=b"9223372036854775808"),
    _raw(FINISHED, score=b"1e2"),
    _raw(FINISHED, score=b"-0"),
    _raw(ANSWER, time_taken_ms=b"31250.0"),
    _raw(ANSWER, is_correct=b"1"),
    _raw(ANSWER, selected=b'"\\u0043"'),
    _raw(ANSWER, selected=b'"\\ud800"'),
    _raw(ANSWER, selected=b'"C\\n"'),
    _raw(ANSWER, selected=b'"C\n"'),
    serialize_event(ANSWER)[:-1] + b',"is_correct":"maybe"}',
    serialize_event(ANSWER)[:-1] + b',"is_correct":false}',
    serialize_event(ANSWER)[:-1] + b',"event_type":"question_marked"}',
    serialize_event(ANSWER)[:-1] + b',"schema_version":2}',
    serialize_event(ANSWER)[:-1] + b',"schema_version":1.0}',
    serialize_event(ANSWER)[:-1] + b',"schema_version":true}',
    serialize_event(ANSWER).replace(b'"schema_version":1', b'"schema_version":"1"'),
    serialize_event(ANSWER)[:-1] + b',"revision":1}',
    _raw(SERVED, a_used=b"NaN"),
    _raw(SERVED, b_used=b"-Infinity"),
    _raw(SERVED, a_used=b"0"),
    _raw(SERVED, c_used=b"1"),
    _raw(SERVED, parameter_set_id=b"0"),
    _raw(SERVED, parameter_set_id=b"9223372036854775808"),
    _raw(SERVED, parameter_set_id=b'"5"'),
    _raw(SERVED, schema_version=b"1"),  # version 1 has no lineage fields
    _raw(SERVED, schema_version=b"3"),
    _raw(SERVED_COLD, parameter_set_id=b"7"),
    _raw(SERVED_V1, schema_version=b"2"),  # version 2 needs them
    serialize_event(SERVED_V1)[:-1] + b',"parameter_set_id":null}',
    serialize_event(SERVED).replace(b',"parameter_set_id":5', b""),
    serialize_event(ANSWER) + b" ",
    b" " + serialize_event(ANSWER),
    serialize_event(ANSWER) + b"{}",
    b"\xef\xbb\xbf" + serialize_event(ANSWER),
    serialize_event(ANSWER).replace(b'"selected"', b'"\\u0073elected"'),
    serialize_event(ANSWER).replace(b'"C"', b'"\xff"'),
    b"",
    b"null",
    b"[]",
    b'"answer_submitted"',
    b"{}",
    b'{"event_type": []}',  # unhashable: once a TypeError that stopped the consumer
    b'{"event_type": "answer_submitted", "schema_version": {}}',
]


# Indexed ids: the documents carry generated ids and times, and pytest-xdist needs every worker
# to collect the same test names.
@pytest.mark.parametrize("raw", RAW_ODDITIES, ids=[f"oddity-{i}" for i in range(len(RAW_ODDITIES))])
def test_raw_json_oddities_are_judged_like_parse_event(raw):
    assert_same(raw)


def test_canonical_json_bounds_do_not_loosen_the_models():
    """The 64-bit bound comes before a field's own constraints (the last one of a key wins)."""
    doc = to_dict(ANSWER)
    for key, value in [("question_id", 0), ("version", -5), ("time_taken_ms", -1)]:
        with pytest.raises(ValueError):
            _canonical_json.validate_json(orjson.dumps({**doc, key: value}))
    started = to_dict(SAMPLES[0])
    with pytest.raises(ValueError):
        _canonical.validate_python({**started, "num_questions": 121})


def test_occurred_at_in_any_offset_becomes_utc():
    local = datetime(2026, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=5)))
    for raw in (
        orjson.dumps({**to_dict(ANSWER), "occurred_at": local.isoformat()}),
        orjson.dumps({**to_dict(SAMPLES[0]), "occurred_at": local.isoformat()}),
    ):
        doc = event_fields(raw)
        assert doc["occurred_at"] == local and doc["occurred_at"].tzinfo is not None
        assert doc["occurred_at"].utcoffset() == timedelta(0)


def test_rows_match_the_models_json_form():
    """prepare_batch's COPY row of an event: the envelope columns and the payload of the rest."""
    messages = [Message("t", 0, i, None, serialize_event(e)) for i, e in enumerate(SAMPLES)]
    rows = prepare_batch(messages).copy_data.decode().splitlines()
    assert len(rows) == len(SAMPLES)
    for i, (event, row) in enumerate(zip(SAMPLES, rows, strict=True)):
        cols = row.split("\t")
        doc = event.model_dump(mode="json")
        assert cols[:3] == [doc["event_id"], doc["event_type"], str(doc["schema_version"])]
        assert datetime.fromisoformat(cols[3]) == event.occurred_at
        assert cols[4:7] == [doc["tenant_id"], doc["user_id"], doc["quiz_id"]]
        envelope = {"event_id", "event_type", "schema_version", "occurred_at"}
        envelope |= {"tenant_id", "user_id", "quiz_id"}
        payload = {k: v for k, v in doc.items() if k not in envelope}
        assert orjson.loads(cols[7].replace("\\\\", "\\")) == payload
        assert cols[8:] == ["t", "0", str(i)]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: json.dumps writes them as NaN / Infinity
    | st.text(max_size=8)
    | st.sampled_from(ODD_VALUES[-20:]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    event=st.sampled_from(SAMPLES),
    changes=st.dictionaries(
        st.sampled_from(sorted({k for m in EVENT_TYPES.values() for k in m.model_fields})),
        json_values,
        max_size=3,
    ),
    drop=st.sets(st.sampled_from(["revision", "status", "num_pretest", "event_id", "quota"])),
)
def test_random_events_are_judged_like_parse_event(event, changes, drop):
    doc = {k: v for k, v in {**to_dict(event), **changes}.items() if k not in drop}
    assert_same(json.dumps(doc).encode())


def test_uuid_forms_are_normalised_by_the_models():
    """A valid event in another form (uppercase UUID) is not refused: the models normalise it."""
    doc = to_dict(ANSWER)
    raw = orjson.dumps({**doc, "quiz_id": doc["quiz_id"].upper()})
    assert event_fields(raw)["quiz_id"] == str(uuid.UUID(doc["quiz_id"]))
    assert_same(raw)
    assert event_fields(orjson.dumps({**doc, "occurred_at": "2026-01-01T00:00:00Z"}))[
        "occurred_at"
    ] == datetime(2026, 1, 1, tzinfo=UTC)
