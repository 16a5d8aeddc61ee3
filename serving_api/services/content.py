"""What a served version shows and how it is graded, cached in memory by version id.

Only published (or later retired) versions are cached: their content never changes (an edit of a
published question makes a new version), so the cache needs no invalidation. Grading always uses
the version that was served, never the question's latest one.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from psycopg import AsyncConnection

from serving_api.services.markdown import render
from serving_api.services.topic_paths import TopicPaths

_SQL = """
SELECT v.id, v.question_id, v.version, v.state, v.stem_md, v.lead_in, v.rationale_md,
       v.correct_label, v.difficulty_label, v.topic_id, t.name, v.assets, v."references",
       (SELECT json_agg(json_build_array(o.label, o.text_md) ORDER BY o.label)
          FROM question_options o WHERE o.question_version_id = v.id)
FROM question_versions v JOIN topics t ON t.id = v.topic_id
WHERE v.id = ANY(%s)
"""


@dataclass(frozen=True, slots=True)
class VersionContent:
    version_id: int
    question_id: int
    version: int
    stem_html: str
    lead_in: str
    rationale_html: str
    correct_label: str
    difficulty: str
    topic_id: int
    topic_name: str
    topic_path: str  # "Cardiovascular › Pharmacology" (serving_api.services.topic_paths)
    assets: tuple[str, ...]
    references: tuple
    options: tuple[tuple[str, str], ...]  # (label, text html)

    @property
    def labels(self) -> frozenset[str]:
        return frozenset(label for label, _ in self.options)

    @property
    def topic(self) -> dict:
        return {"id": self.topic_id, "name": self.topic_name, "path": self.topic_path}

    def student_view(self) -> dict:
        """What a student sees when the item is served (no key, no rationale)."""
        return {
            "question_id": self.question_id,
            "version": self.version,
            "topic": self.topic,
            "stem_html": self.stem_html,
            "lead_in": self.lead_in,
            "assets": list(self.assets),
            "options": [{"label": lab, "text_html": html} for lab, html in self.options],
        }


class ContentCache:
    def __init__(self, topic_paths: TopicPaths, max_entries: int = 50_000):
        self._entries: OrderedDict[int, VersionContent] = OrderedDict()
        self._max = max_entries
        self.topic_paths = topic_paths

    async def get_many(self, conn: AsyncConnection, version_ids) -> dict[int, VersionContent]:
        out: dict[int, VersionContent] = {}
        missing = []
        for vid in version_ids:
            vc = self._entries.get(int(vid))
            if vc is None:
                missing.append(int(vid))
            else:
                out[vc.version_id] = vc
        if missing:
            rows = await (await conn.execute(_SQL, (missing,))).fetchall()
            paths = await self.topic_paths.get_many(conn, {row[9] for row in rows})
            for row in rows:
                vc = _from_row(row, paths[row[9]][1])
                out[vc.version_id] = vc
                if row[3] in ("published", "retired"):
                    self._entries[vc.version_id] = vc
                    if len(self._entries) > self._max:
                        self._entries.popitem(last=False)
        return out

    async def get(self, conn: AsyncConnection, version_id: int) -> VersionContent:
        vc = self._entries.get(version_id)  # the usual case, on every served or answered item
        if vc is not None:
            return vc
        return (await self.get_many(conn, [version_id]))[int(version_id)]

    def peek(self, version_id: int) -> VersionContent | None:
        return self._entries.get(int(version_id))


def _from_row(row, topic_path: str) -> VersionContent:
    (vid, qid, ver, _state, stem, lead_in, rationale, correct, diff, topic_id, topic_name) = row[
        :11
    ]
    assets, refs, options = row[11], row[12], row[13] or []
    return VersionContent(
        version_id=vid,
        question_id=qid,
        version=ver,
        stem_html=render(stem),
        lead_in=lead_in,
        rationale_html=render(rationale),
        correct_label=correct,
        difficulty=diff,
        topic_id=topic_id,
        topic_name=topic_name,
        topic_path=topic_path,
        assets=tuple(assets or ()),
        references=tuple(refs or ()),
        options=tuple((lab, render(text)) for lab, text in options),
    )
