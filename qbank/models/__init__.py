"""The one schema of QBank: every table the API, ingestion and Dagster read or write."""

from qbank.models.base import Base, LTree
from qbank.models.content import (
    DIFFICULTY_LABELS,
    EDIT_KINDS,
    VERSION_STATES,
    Question,
    QuestionOption,
    QuestionPublication,
    QuestionVersion,
    Topic,
    VersionTransition,
)
from qbank.models.delivery import QUIZ_MODES, QUIZ_STATUSES, QuizItem, QuizSession, UserResponse
from qbank.models.outbox import OutboxEvent
from qbank.models.parameters import (
    PARAMETER_SET_CHANNEL,
    SET_STATUSES,
    ItemParameter,
    ItemParameterSet,
)
from qbank.models.raw import RAW_SCHEMA, DeadLetter, IngestionOffset, RawEvent
from qbank.models.tenancy import ROLES, Tenant, User

__all__ = [
    "Base",
    "LTree",
    "DIFFICULTY_LABELS",
    "EDIT_KINDS",
    "VERSION_STATES",
    "Question",
    "QuestionOption",
    "QuestionPublication",
    "QuestionVersion",
    "Topic",
    "VersionTransition",
    "QUIZ_MODES",
    "QUIZ_STATUSES",
    "QuizItem",
    "QuizSession",
    "UserResponse",
    "OutboxEvent",
    "PARAMETER_SET_CHANNEL",
    "SET_STATUSES",
    "ItemParameter",
    "ItemParameterSet",
    "RAW_SCHEMA",
    "DeadLetter",
    "IngestionOffset",
    "RawEvent",
    "ROLES",
    "Tenant",
    "User",
]
