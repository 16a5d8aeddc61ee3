from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from serving_api.schemas.common import Strict

Difficulty = Literal["easy", "medium", "hard"]
ExamCode = str

EXAMPLE = {
    "topic_id": 3,
    "external_ref": "CARD-0001",
    "stem_md": "A 64-year-old man has crushing chest pain for 40 minutes. ECG: ST elevation in II, III, aVF.",
    "lead_in": "Which coronary artery is most likely occluded?",
    "options": [
        {"label": "A", "text_md": "Left anterior descending"},
        {"label": "B", "text_md": "Right coronary artery"},
        {"label": "C", "text_md": "Left circumflex"},
        {"label": "D", "text_md": "Left main"},
    ],
    "correct_label": "B",
    "rationale_md": "Inferior leads (**II, III, aVF**) map to the RCA in most patients.",
    "difficulty_label": "medium",
    "bloom_level": 3,
    "tags": {"system": "cardiovascular"},
    "assets": [],
    "references": ["Harrison's 21e, ch. 275"],
}


class OptionIn(Strict):
    label: str = Field(pattern=r"^[A-J]$")
    text_md: str = Field(min_length=1, max_length=5_000)


class QuestionContent(Strict):
    """One version's content: a single-best-answer item."""

    topic_id: int = Field(ge=1)
    stem_md: str = Field(min_length=1, max_length=20_000)
    lead_in: str = Field(min_length=1, max_length=1_000)
    options: list[OptionIn] = Field(min_length=2, max_length=10)
    correct_label: str = Field(pattern=r"^[A-J]$")
    rationale_md: str = Field("", max_length=20_000)
    difficulty_label: Difficulty = "medium"
    bloom_level: int | None = Field(None, ge=1, le=6)
    tags: dict[str, Any] | list[str] = Field(default_factory=dict)
    assets: list[str] = Field(default_factory=list, max_length=20)
    references: list[str | dict[str, Any]] = Field(default_factory=list, max_length=50)

    model_config = Strict.model_config | {"json_schema_extra": {"examples": [EXAMPLE]}}

    @model_validator(mode="after")
    def _check(self) -> QuestionContent:
        labels = [o.label for o in self.options]
        expected = [chr(ord("A") + i) for i in range(len(labels))]
        if labels != expected:
            raise ValueError(
                f"options must be labelled {', '.join(expected)} in order (got {', '.join(labels)})"
            )
        if self.correct_label not in labels:
            raise ValueError(
                f"correct_label {self.correct_label!r} is not one of the options ({', '.join(labels)})"
            )
        for url in self.assets:
            if not (url.startswith("https://") or url.startswith("http://")) or len(url) > 2000:
                raise ValueError(
                    f"asset {url[:80]!r} must be an http(s) URL (uploads are not supported)"
                )
        return self


class QuestionEdit(QuestionContent):
    """An edit. Of a question that has been published, it says what kind of change it is."""

    edit_kind: Literal["minor", "substantive"] | None = Field(
        None,
        description="required once the question has been published: `minor` (wording, a typo: "
        "the new version keeps the item's calibrated parameters) or `substantive` (a new item "
        "psychometrically: uncalibrated, back to pretest); leave it out for a never-published "
        "question",
    )


class QuestionCreate(QuestionContent):
    external_ref: str | None = Field(None, min_length=1, max_length=200)


class ImportLine(QuestionContent):
    """A bulk-import line: like a create, with the topic by id or by name path ("Cardio/ECG")."""

    topic_id: int | None = Field(None, ge=1)  # type: ignore[assignment]
    topic: str | None = Field(None, min_length=1, max_length=1_000)
    external_ref: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _topic_given(self) -> ImportLine:
        if (self.topic_id is None) == (self.topic is None):
            raise ValueError(
                "give exactly one of topic_id or topic (name path like 'Cardiology/ECG')"
            )
        return self


class CommentIn(Strict):
    comment: str | None = Field(None, max_length=5_000)


class ReturnIn(Strict):
    comment: str = Field(min_length=1, max_length=5_000, examples=["Option C is also defensible."])


class PublishIn(Strict):
    exam_codes: list[str] = Field(
        min_length=1,
        max_length=20,
        examples=[["USMLE-1"]],
        description="exam codes to make this version live in (others keep their live version)",
    )

    @model_validator(mode="after")
    def _codes(self) -> PublishIn:
        import re

        for code in self.exam_codes:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", code):
                raise ValueError(
                    f"exam code {code!r} must be 1-64 letters, digits, '_', '.', '-' (starting alphanumeric)"
                )
        return self


class OptionOut(BaseModel):
    label: str
    text_md: str


class VersionOut(BaseModel):
    id: int
    version: int
    state: str
    topic_id: int
    stem_md: str
    lead_in: str
    options: list[OptionOut]
    correct_label: str
    rationale_md: str
    difficulty_label: str
    bloom_level: int | None
    tags: Any
    assets: list[str]
    references: list[Any]
    review_comment: str | None
    edit_kind: str | None = Field(
        None, description="minor or substantive (edits of a published question), else null"
    )
    item_root_version: int = Field(
        description="the version whose calibrated parameters this one uses: itself, or the "
        "version a chain of minor edits started from"
    )
    created_by: uuid.UUID
    created_at: datetime
    live_in: list[str] = Field(description="exam codes where this version is the live one")


class QuestionOut(BaseModel):
    id: int
    external_ref: str | None
    created_at: datetime
    versions: list[VersionOut]
    live: dict[str, int] = Field(description="exam code → live version number")


class QuestionSummary(BaseModel):
    id: int
    external_ref: str | None
    latest_version: int
    latest_state: str
    topic_id: int
    lead_in: str
    live: dict[str, int]


class ImportLineResult(BaseModel):
    line: int
    status: Literal["accepted", "rejected"]
    question_id: int | None = None
    external_ref: str | None = None
    errors: list[str] = []


class ImportReport(BaseModel):
    accepted: int
    rejected: int
    lines: list[ImportLineResult]
