"""A topic's path name ("Cardiovascular › Pharmacology"), computed once per topic and process.

Topics are never renamed or moved (the API creates them; nothing updates them), so a path name,
once computed, stays true and the cache needs no invalidation. A miss costs one query for all
the topics asked for and their ancestors (ltree `@>`, no recursion).
"""

from __future__ import annotations

from psycopg import AsyncConnection

SEPARATOR = " › "

# Every topic asked for and each of its ancestors (a topic's ltree path is its ancestors' `t<id>`
# labels followed by its own).
_SQL = """
SELECT a.id, a.name, a.path::text
FROM topics t JOIN topics a ON a.tenant_id = t.tenant_id AND a.path @> t.path
WHERE t.id = ANY(%s)
"""


def path_name(path: str, names: dict[int, str]) -> str:
    """The names along an ltree path of `t<id>` labels, root first."""
    return SEPARATOR.join(names[int(label[1:])] for label in path.split("."))


class TopicPaths:
    """topic id → (name, path name)."""

    def __init__(self, max_entries: int = 100_000):
        self._entries: dict[int, tuple[str, str]] = {}
        self._max = max_entries

    async def get_many(self, conn: AsyncConnection, topic_ids) -> dict[int, tuple[str, str]]:
        if len(self._entries) > self._max:
            self._entries.clear()  # a bound, not a policy: tenants have hundreds of topics
        ids = {int(t) for t in topic_ids}
        missing = [t for t in ids if t not in self._entries]
        if missing:
            rows = await (await conn.execute(_SQL, (missing,))).fetchall()
            names = {tid: name for tid, name, _ in rows}
            for tid, name, path in rows:
                self._entries[tid] = (name, path_name(path, names))
        return {t: self._entries[t] for t in ids if t in self._entries}

    async def get(self, conn: AsyncConnection, topic_id: int) -> tuple[str, str]:
        hit = self._entries.get(topic_id)
        if hit is not None:
            return hit
        return (await self.get_many(conn, [topic_id]))[topic_id]
