"""Create or update the QBank collection, cards and dashboard in Metabase, idempotently.

    MB_URL=http://localhost:3000 MB_USER=admin@example.com MB_PASSWORD=... \\
    MB_DATABASE=QBank python -m metabase.provision

Configuration (environment): `MB_URL`; `MB_API_KEY` or `MB_USER` + `MB_PASSWORD`; `MB_DATABASE`,
the name of the QBank PostgreSQL database as Metabase knows it (default "QBank"); optionally
`MB_COLLECTION` (default "QBank").

Objects are found by name (the collection at the top level, cards and the dashboard inside it),
compared with `cards.py`, and only what differs is written: a second run changes nothing.
Dashboard cards are laid out with `PUT /api/dashboard/:id` and `dashcards` (existing dashcards
keep their ids; new ones get negative ids, which Metabase replaces).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from metabase.cards import (
    COLLECTION_DESCRIPTION,
    COLLECTION_NAME,
    DASHBOARD,
    CardSpec,
    DashboardSpec,
)
from metabase.client import MetabaseClient, MetabaseError


class ConfigError(MetabaseError):
    pass


class DatabaseNotFound(MetabaseError):
    pass


@dataclass(frozen=True)
class Config:
    url: str
    database: str
    collection: str = COLLECTION_NAME
    api_key: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        url = env.get("MB_URL", "").strip()
        if not url:
            raise ConfigError("MB_URL is not set: Metabase's root URL, e.g. http://localhost:3000")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"MB_URL must start with http:// or https://, got {url!r}")
        api_key = env.get("MB_API_KEY") or None
        user, password = env.get("MB_USER") or None, env.get("MB_PASSWORD") or None
        if not api_key and not (user and password):
            raise ConfigError("set MB_API_KEY, or MB_USER and MB_PASSWORD, to log in to Metabase")
        return cls(
            url=url,
            database=env.get("MB_DATABASE") or "QBank",
            collection=env.get("MB_COLLECTION") or COLLECTION_NAME,
            api_key=api_key,
            user=user,
            password=password,
        )


@dataclass
class Report:
    actions: list[tuple[str, str, str, int]] = field(default_factory=list)  # kind, name, action, id
    warnings: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)  # name → what was changed

    def add(self, kind: str, name: str, action: str, obj_id: int, detail: str = "") -> None:
        self.actions.append((kind, name, action, obj_id))
        if detail:
            self.details[name] = detail

    @property
    def changed(self) -> bool:
        return any(a != "unchanged" for _, _, a, _ in self.actions)

    def render(self) -> str:
        lines = [
            f"{kind:<10} {name:<28} {action:<9} id={obj_id}"
            + (f"  ({self.details[name]})" if name in self.details else "")
            for kind, name, action, obj_id in self.actions
        ]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


# --- reading what Metabase returns -----------------------------------------------------------


def native_query(dataset_query: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(SQL, template tags) of a native query in either the legacy shape
    (`{"type": "native", "native": {"query": ...}}`) or the MBQL 5 one newer Metabase returns
    (`{"stages": [{"lib/type": "mbql.stage/native", "native": ...}]}`)."""
    if "stages" in dataset_query:
        stage = dataset_query["stages"][0]
        return stage.get("native", ""), stage.get("template-tags") or {}
    native = dataset_query.get("native") or {}
    return native.get("query", ""), native.get("template-tags") or {}


def _tags_signature(tags: Mapping[str, Any]) -> dict[str, tuple]:
    return {
        name: (t.get("type"), t.get("display-name"), t.get("default"), bool(t.get("required")))
        for name, t in tags.items()
    }


def card_differences(
    spec: CardSpec, card: Mapping[str, Any], database_id: int, collection_id: int
) -> list[str]:
    """What of `card` (as `GET /api/card/:id` returns it) differs from `spec`; [] when equal."""
    diffs = []
    sql, tags = native_query(card.get("dataset_query") or {})
    if sql.strip() != spec.sql:
        diffs.append("sql")
    if _tags_signature(tags) != _tags_signature(spec.template_tags()):
        diffs.append("variables")
    if card.get("database_id", (card.get("dataset_query") or {}).get("database")) != database_id:
        diffs.append("database")
    for key in ("display", "description"):
        if card.get(key) != getattr(spec, key):
            diffs.append(key)
    if card.get("collection_id") != collection_id:
        diffs.append("collection")
    settings = card.get("visualization_settings") or {}
    if any(settings.get(k) != v for k, v in spec.visualization_settings.items()):
        diffs.append("visualization")
    if card.get("archived"):
        diffs.append("archived")
    return diffs


def _mapping_signature(mappings: list[Mapping[str, Any]] | None) -> tuple:
    return tuple(sorted((m["parameter_id"], repr(m.get("target"))) for m in mappings or []))


def _dashcard_signature(d: Mapping[str, Any]) -> tuple:
    return (
        d.get("card_id"),
        d.get("row"),
        d.get("col"),
        d.get("size_x"),
        d.get("size_y"),
        _mapping_signature(d.get("parameter_mappings")),
    )


def _parameters_signature(parameters: list[Mapping[str, Any]] | None) -> tuple:
    return tuple(
        sorted((p.get("id"), p.get("slug"), p.get("type"), p.get("name")) for p in parameters or [])
    )


# --- provisioning ----------------------------------------------------------------------------


class Provisioner:
    def __init__(
        self, client: MetabaseClient, config: Config, dashboard: DashboardSpec = DASHBOARD
    ):
        self.mb = client
        self.config = config
        self.dashboard = dashboard
        self.report = Report()

    def run(self) -> Report:
        self.dashboard.check()
        database_id = self.find_database()
        collection_id = self.ensure_collection()
        items = self.mb.get(f"/api/collection/{collection_id}/items", models=["card", "dashboard"])
        existing = self._by_name(items.get("data", []) if isinstance(items, dict) else items)
        card_ids = {
            spec.key: self.ensure_card(
                spec, existing.get(("card", spec.name)), database_id, collection_id
            )
            for spec in self.dashboard.cards
        }
        self.ensure_dashboard(
            existing.get(("dashboard", self.dashboard.name)), collection_id, card_ids
        )
        return self.report

    def _by_name(self, items: list[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
        found: dict[tuple[str, str], list[int]] = {}
        for item in items:
            if item.get("archived"):
                continue
            model = (
                "card" if item.get("model") in ("card", "dataset", "metric") else item.get("model")
            )
            found.setdefault((model, item["name"]), []).append(item["id"])
        out = {}
        for (model, name), ids in found.items():
            ids.sort()
            if len(ids) > 1:
                self.report.warnings.append(
                    f"{len(ids)} {model}s named {name!r} in the collection (ids {ids}): managing {ids[0]}, "
                    "the others are left alone"
                )
            out[(model, name)] = ids[0]
        return out

    def find_database(self) -> int:
        body = self.mb.get("/api/database")
        databases = body.get("data", []) if isinstance(body, dict) else body
        for db in databases:
            if db.get("name") == self.config.database:
                if db.get("engine") not in (None, "postgres"):
                    raise DatabaseNotFound(
                        f"Metabase database {self.config.database!r} is {db['engine']}, not PostgreSQL"
                    )
                return db["id"]
        names = ", ".join(repr(d.get("name")) for d in databases) or "none"
        raise DatabaseNotFound(
            f"Metabase has no database named {self.config.database!r} (it has: {names}); add the QBank "
            "PostgreSQL database in Admin settings > Databases, or set MB_DATABASE to its name"
        )

    def ensure_collection(self) -> int:
        name = self.config.collection
        collections = self.mb.get("/api/collection")
        matches = sorted(
            c["id"]
            for c in collections
            if isinstance(c.get("id"), int)
            and c.get("name") == name
            and not c.get("archived")
            and c.get("personal_owner_id") is None
            and c.get("location", "/") == "/"
        )
        if not matches:
            created = self.mb.post(
                "/api/collection", {"name": name, "description": COLLECTION_DESCRIPTION}
            )
            self.report.add("collection", name, "created", created["id"])
            return created["id"]
        if len(matches) > 1:
            self.report.warnings.append(
                f"{len(matches)} top-level collections named {name!r}: using {matches[0]}"
            )
        current = next(c for c in collections if c.get("id") == matches[0])
        if current.get("description") != COLLECTION_DESCRIPTION:
            self.mb.put(f"/api/collection/{matches[0]}", {"description": COLLECTION_DESCRIPTION})
            self.report.add("collection", name, "updated", matches[0])
        else:
            self.report.add("collection", name, "unchanged", matches[0])
        return matches[0]

    def ensure_card(
        self, spec: CardSpec, card_id: int | None, database_id: int, collection_id: int
    ) -> int:
        payload = spec.payload(database_id, collection_id)
        if card_id is None:
            created = self.mb.post("/api/card", payload)
            self.report.add("card", spec.name, "created", created["id"])
            return created["id"]
        diffs = card_differences(
            spec, self.mb.get(f"/api/card/{card_id}"), database_id, collection_id
        )
        if diffs:
            self.mb.put(f"/api/card/{card_id}", {**payload, "archived": False})
            self.report.add("card", spec.name, "updated", card_id, ", ".join(diffs))
        else:
            self.report.add("card", spec.name, "unchanged", card_id)
        return card_id

    def _dashcards(
        self, current: list[Mapping[str, Any]], card_ids: dict[str, int]
    ) -> list[dict[str, Any]]:
        """The wanted dashcards; one already showing a card keeps its id, others are new (< 0)."""
        reuse: dict[int, int] = {}
        for d in sorted(current, key=lambda d: d["id"]):
            if d.get("card_id") is not None:
                reuse.setdefault(d["card_id"], d["id"])
        out = []
        for n, spec in enumerate(self.dashboard.cards, start=1):
            card_id = card_ids[spec.key]
            p = spec.place
            out.append(
                {
                    "id": reuse.get(card_id, -n),
                    "card_id": card_id,
                    "row": p.row,
                    "col": p.col,
                    "size_x": p.size_x,
                    "size_y": p.size_y,
                    "series": [],
                    "visualization_settings": {},
                    "parameter_mappings": [
                        {
                            "parameter_id": param["id"],
                            "card_id": card_id,
                            "target": ["variable", ["template-tag", param["slug"]]],
                        }
                        for param in self.dashboard.parameters
                        if param["slug"] in spec.dashboard_filters
                    ],
                }
            )
        return out

    def ensure_dashboard(
        self, dashboard_id: int | None, collection_id: int, card_ids: dict[str, int]
    ) -> int:
        spec = self.dashboard
        action = "unchanged"
        if dashboard_id is None:
            created = self.mb.post(
                "/api/dashboard",
                {
                    "name": spec.name,
                    "description": spec.description,
                    "collection_id": collection_id,
                    "parameters": list(spec.parameters),
                },
            )
            dashboard_id, action = created["id"], "created"
        current = self.mb.get(f"/api/dashboard/{dashboard_id}")
        dashcards = self._dashcards(current.get("dashcards") or [], card_ids)
        same = (
            current.get("description") == spec.description
            and current.get("collection_id") == collection_id
            and not current.get("archived")
            and _parameters_signature(current.get("parameters"))
            == _parameters_signature(list(spec.parameters))
            and sorted(map(_dashcard_signature, current.get("dashcards") or []), key=repr)
            == sorted(map(_dashcard_signature, dashcards), key=repr)
        )
        if not same:
            self.mb.put(
                f"/api/dashboard/{dashboard_id}",
                {
                    "name": spec.name,
                    "description": spec.description,
                    "collection_id": collection_id,
                    "archived": False,
                    "parameters": list(spec.parameters),
                    "dashcards": dashcards,
                },
            )
            action = "updated" if action == "unchanged" else action
        self.report.add("dashboard", spec.name, action, dashboard_id)
        return dashboard_id


def provision(config: Config, dashboard: DashboardSpec = DASHBOARD) -> Report:
    with MetabaseClient(config.url) as client:
        client.check_metabase()
        if config.api_key:
            client.use_api_key(config.api_key)
        else:
            client.login(config.user or "", config.password or "")
        return Provisioner(client, config, dashboard).run()


def main(argv: list[str] | None = None, env: Mapping[str, str] = os.environ) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if argv:
        print(
            f"unexpected arguments {argv}: configure through the environment (see --help)",
            file=sys.stderr,
        )
        return 2
    try:
        config = Config.from_env(env)
        report = provision(config)
    except MetabaseError as exc:
        print(f"metabase provisioning failed: {exc}", file=sys.stderr)
        return 2
    print(report.render())
    print(
        f"Metabase at {config.url}: {'changes written' if report.changed else 'already up to date'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
