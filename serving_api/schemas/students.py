from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class Standing(BaseModel):
    answered: int
    correct: int
    accuracy: float
    cohort_size: int = Field(
        description="students of the caller's cohort ranked here (with scored answers in this "
        "topic or overall), the caller included"
    )
    percentile: float = Field(description="mid-rank: below + half the ties, of cohort_size")


class TopicStanding(Standing):
    topic_id: int
    topic_name: str
    topic_path: str = Field(examples=["Cardiology › Arrhythmias"])


class PerformanceOut(BaseModel):
    exam_code: str | None
    cohort: str | None
    overall: Standing | None
    topics: list[TopicStanding]
    percentile_as_of: dt.datetime | None = Field(
        None,
        description="when the cohort distribution the percentiles come from was computed (a "
        "large cohort's is recomputed in the background once it is older than a minute; a "
        "small one's on every read); null without scored answers",
    )


class ProgressWeek(BaseModel):
    week_start: dt.date = Field(description="Monday of the ISO week (UTC)")
    answered: int = Field(description="scored answers given (last changed) that week")
    correct: int
    accuracy: float | None = Field(description="correct / answered; null without answers")
    quizzes: int = Field(description="quizzes sealed that week")
    mean_scaled_score: float | None = Field(description="mean scaled score of those quizzes")


class ProgressOut(BaseModel):
    exam_code: str | None
    weeks: list[ProgressWeek]
