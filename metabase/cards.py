"""What the QBank Metabase content should be: the collection, the native-SQL cards (SQL in
`sql/<key>.sql`) with their visualizations, and the dashboard layout.

Cards take a `{{tenant}}` text variable inside an optional `[[ ... ]]` clause: without a value
the card shows every tenant; the dashboard's Tenant filter is wired to it on every card.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

SQL_DIR = Path(__file__).parent / "sql"
TAG = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
GRID_COLUMNS = 24  # Metabase's dashboard grid

COLLECTION_NAME = "QBank"
COLLECTION_DESCRIPTION = "Student performance, item statistics and calibrations from the QBank marts (provisioned from metabase/ in the QBank repository; edits here are overwritten)."
DASHBOARD_NAME = "QBank overview"
DASHBOARD_DESCRIPTION = "Accuracy and activity by day and cohort, the hardest and most exposed items, and calibration drift."
TENANT_PARAMETER = {
    "id": "qbank_tenant",
    "name": "Tenant",
    "slug": "tenant",
    "type": "string/=",
    "sectionId": "string",
}


@dataclass(frozen=True)
class Variable:
    """A native-query template tag (`{{name}}`)."""

    name: str
    display_name: str
    type: str  # "text" or "number"
    default: str | None = None
    required: bool = False  # used outside an optional [[ ]] clause: needs a value or the default

    def tag(self, card_key: str) -> dict[str, Any]:
        out = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"qbank/metabase/{card_key}/{self.name}")),
            "name": self.name,
            "display-name": self.display_name,
            "type": self.type,
        }
        if self.default is not None:
            out["default"] = self.default
        if self.required:
            out["required"] = True
        return out

    def parameter(self, card_key: str) -> dict[str, Any]:
        return {
            "id": self.tag(card_key)["id"],
            "type": "category" if self.type == "text" else "number/=",
            "target": ["variable", ["template-tag", self.name]],
            "name": self.display_name,
            "slug": self.name,
            **({"default": self.default} if self.default is not None else {}),
        }


TENANT = Variable("tenant", "Tenant", "text")


@dataclass(frozen=True)
class Placement:
    row: int
    col: int
    size_x: int
    size_y: int


@dataclass(frozen=True)
class CardSpec:
    key: str  # names the SQL file
    name: str
    description: str
    display: str
    visualization_settings: dict[str, Any]
    place: Placement
    variables: tuple[Variable, ...] = (TENANT,)
    dashboard_filters: tuple[str, ...] = ("tenant",)  # variables wired to the dashboard filter

    @cached_property
    def sql(self) -> str:
        return (SQL_DIR / f"{self.key}.sql").read_text().strip()

    def template_tags(self) -> dict[str, dict[str, Any]]:
        return {v.name: v.tag(self.key) for v in self.variables}

    def dataset_query(self, database_id: int) -> dict[str, Any]:
        return {
            "type": "native",
            "database": database_id,
            "native": {"query": self.sql, "template-tags": self.template_tags()},
        }

    def payload(self, database_id: int, collection_id: int) -> dict[str, Any]:
        """The body of `POST /api/card` (and of `PUT /api/card/:id` when it changed)."""
        return {
            "name": self.name,
            "description": self.description,
            "type": "question",
            "display": self.display,
            "visualization_settings": self.visualization_settings,
            "dataset_query": self.dataset_query(database_id),
            "parameters": [v.parameter(self.key) for v in self.variables],
            "collection_id": collection_id,
        }

    def used_columns(self) -> set[str]:
        """Result columns the visualization refers to."""
        vs = self.visualization_settings
        cols = set(vs.get("graph.dimensions", [])) | set(vs.get("graph.metrics", []))
        cols |= {c["name"] for c in vs.get("table.columns", [])}
        if "scalar.field" in vs:
            cols.add(vs["scalar.field"])
        return cols

    def check(self) -> None:
        """The SQL's `{{tags}}` and the declared variables agree (Metabase would fail at run)."""
        used = set(TAG.findall(self.sql))
        declared = {v.name for v in self.variables}
        if used != declared:
            raise ValueError(
                f"card {self.key!r}: SQL uses {sorted(used)} but declares {sorted(declared)}"
            )
        unknown = set(self.dashboard_filters) - declared
        if unknown:
            raise ValueError(f"card {self.key!r}: dashboard filter on undeclared {sorted(unknown)}")


def _table(*columns: str) -> dict[str, Any]:
    return {
        "table.pivot": False,
        "table.columns": [{"name": c, "enabled": True} for c in columns],
    }


CARDS: tuple[CardSpec, ...] = (
    CardSpec(
        key="accuracy_by_day",
        name="Accuracy by day",
        description="Share of answers that were correct, per UTC day (all cohorts).",
        display="line",
        visualization_settings={
            "graph.dimensions": ["day"],
            "graph.metrics": ["accuracy_pct"],
            "graph.y_axis.title_text": "Accuracy (%)",
            "graph.x_axis.title_text": "Day (UTC)",
        },
        place=Placement(row=0, col=0, size_x=12, size_y=6),
    ),
    CardSpec(
        key="cohort_attempts_by_day",
        name="Cohort attempts by day",
        description="Answers per cohort and UTC day, stacked.",
        display="bar",
        visualization_settings={
            "graph.dimensions": ["day", "cohort"],
            "graph.metrics": ["attempts"],
            "stackable.stack_type": "stacked",
            "graph.y_axis.title_text": "Answers",
        },
        place=Placement(row=0, col=12, size_x=12, size_y=6),
    ),
    CardSpec(
        key="hardest_items",
        name="Hardest items",
        description="Lowest p-values over linear and pretest answers, with discrimination and time.",
        display="table",
        visualization_settings=_table(
            "exam_code",
            "question_id",
            "version",
            "topic_name",
            "attempts",
            "p_value",
            "point_biserial",
            "mean_time_s",
            "adaptive_attempts",
        ),
        place=Placement(row=6, col=0, size_x=12, size_y=9),
        variables=(
            TENANT,
            Variable("min_attempts", "Minimum linear answers", "number", "10", required=True),
        ),
    ),
    CardSpec(
        key="item_exposure",
        name="Item exposure",
        description="Most exposed items: share of the exam code's quizzes that served them; the goal line is r_max.",
        display="row",
        visualization_settings={
            "graph.dimensions": ["item"],
            "graph.metrics": ["exposure_pct"],
            "graph.show_goal": True,
            "graph.goal_value": 25,
            "graph.goal_label": "r_max",
        },
        place=Placement(row=6, col=12, size_x=12, size_y=9),
    ),
    CardSpec(
        key="calibration_drift",
        name="Calibration drift",
        description="Per calibration set: the pipeline's anchor drift (over 0.3 blocks publishing) and the mean change of b against the previous live set.",
        display="bar",
        visualization_settings={
            "graph.dimensions": ["calibration_set"],
            "graph.metrics": ["anchor_drift", "mean_abs_delta_b"],
            "graph.show_goal": True,
            "graph.goal_value": 0.3,
            "graph.goal_label": "drift limit",
        },
        place=Placement(row=15, col=0, size_x=24, size_y=7),
    ),
)


@dataclass(frozen=True)
class DashboardSpec:
    name: str = DASHBOARD_NAME
    description: str = DASHBOARD_DESCRIPTION
    parameters: tuple[dict[str, Any], ...] = (TENANT_PARAMETER,)
    cards: tuple[CardSpec, ...] = field(default=CARDS)

    def check(self) -> None:
        cells: dict[tuple[int, int], str] = {}
        for c in self.cards:
            c.check()
            p = c.place
            if (
                p.col + p.size_x > GRID_COLUMNS
                or min(p.row, p.col) < 0
                or min(p.size_x, p.size_y) < 1
            ):
                raise ValueError(f"card {c.key!r} does not fit the {GRID_COLUMNS}-column grid")
            for r in range(p.row, p.row + p.size_y):
                for col in range(p.col, p.col + p.size_x):
                    if (r, col) in cells:
                        raise ValueError(f"cards {cells[(r, col)]!r} and {c.key!r} overlap")
                    cells[(r, col)] = c.key
        if len({c.name for c in self.cards}) != len(self.cards):
            raise ValueError("card names must be unique (cards are found by name)")


DASHBOARD = DashboardSpec()
