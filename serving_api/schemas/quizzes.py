from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from serving_api.schemas.common import Strict

TopicRef = int | str


class QuizCreate(Strict):
    mode: Literal["tutor", "exam"] = Field("tutor", description="tutor: feedback after each answer")
    adaptive: bool = Field(
        True, description="adaptive (maximum information at θ) or linear (random)"
    )
    exam_code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", examples=["USMLE-1"])
    num_questions: int = Field(10, ge=1, le=120)
    topics: list[TopicRef] = Field(
        default_factory=list, max_length=100, description="topic ids or names (subtopics included)"
    )
    difficulty: list[Literal["easy", "medium", "hard"]] = Field(default_factory=list, max_length=3)
    only_unseen: bool = False
    only_previously_incorrect: bool = False
    quota: dict[str, int] = Field(
        default_factory=dict,
        max_length=50,
        description="blueprint quota: topic id or name → number of questions (subtopics count)",
        examples=[{"Cardiology": 3, "12": 2}],
    )

    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"mode": "tutor", "adaptive": True, "exam_code": "USMLE-1", "num_questions": 10},
                {
                    "mode": "exam",
                    "adaptive": False,
                    "exam_code": "USMLE-1",
                    "num_questions": 20,
                    "topics": ["Cardiology"],
                    "quota": {"Arrhythmias": 5},
                },
            ]
        }
    }

    @model_validator(mode="after")
    def _check(self) -> QuizCreate:
        if self.only_unseen and self.only_previously_incorrect:
            raise ValueError(
                "only_unseen and only_previously_incorrect exclude each other: choose one"
            )
        for key, count in self.quota.items():
            if not 1 <= count <= 120:
                raise ValueError(f"quota for topic {key!r} must be between 1 and 120 (got {count})")
        for t in self.topics:
            if isinstance(t, str) and not t.strip():
                raise ValueError("topic names must not be empty")
        return self


class AnswerIn(Strict):
    selected: str = Field(pattern=r"^[A-J]$", examples=["B"])
    time_taken_ms: int | None = Field(
        None, ge=0, le=86_400_000, description="time on the item; measured by the server if omitted"
    )
    position: int | None = Field(
        None, ge=1, le=120, description="the item answered; default: the item being served"
    )


class MarkIn(Strict):
    marked: bool = True


class ItemOut(BaseModel):
    position: int
    question_id: int
    version: int
    topic: dict[str, Any]
    stem_html: str
    lead_in: str
    assets: list[str]
    options: list[dict[str, str]]
    marked: bool = False
    selected: str | None = None


class NextOut(BaseModel):
    quiz_id: uuid.UUID
    status: str = Field(description="active, complete (all served: finish it), pool_exhausted, ...")
    position: int | None
    num_questions: int
    answered: int
    item: ItemOut | None
    expires_at: datetime | None


class AnswerOut(BaseModel):
    quiz_id: uuid.UUID
    position: int
    recorded: bool = True
    revision: int = 1
    # tutor mode only:
    correct: bool | None = None
    correct_label: str | None = None
    rationale_html: str | None = None
    calibrated_b: float | None = Field(
        None, description="the item's calibrated difficulty; null when uncalibrated"
    )
    theta: float | None = None
    se: float | None = None


class QuizOut(BaseModel):
    id: uuid.UUID
    status: str
    mode: str
    adaptive: bool
    exam_code: str
    num_questions: int
    num_pretest: int
    served: int
    answered: int
    started_at: datetime
    expires_at: datetime | None
    finished_at: datetime | None
    raw_score: int | None = None
    scaled_score: int | None = None
    filters: dict[str, Any] = {}
    quota: dict[str, int] = {}
    calibrated_short: int = Field(
        0,
        description="scored positions the start expected to fill with not yet calibrated "
        "questions (scored with default parameters) because too few calibrated ones match",
    )
    notices: list[str] = Field(
        default_factory=list, description="what the student should know about this quiz's scoring"
    )
