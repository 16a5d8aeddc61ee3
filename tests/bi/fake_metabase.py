"""A local HTTP server that answers the Metabase REST routes the provisioning uses, with
Metabase's request validation and response shapes (no Metabase jar can be had here).

Shapes follow Metabase's API (src/metabase/{session,collections,queries,dashboards}/api.clj):
- `POST /api/session` {username, password} → {"id": token}; a bad login is 401
  {"errors": {"password": "did not match stored password"}}; other routes want the
  `X-Metabase-Session` or `x-api-key` header and answer 401 "Unauthenticated" without it.
- `GET /api/database` → {"data": [...], "total": n}; `GET /api/collection` → a list that starts
  with the root collection ("id": "root"); `GET /api/collection/:id/items?models=...` →
  {"data": [...], "total": n, "models": [...], "limit": null, "offset": null}.
- `POST /api/card` needs name, dataset_query (map), display and visualization_settings (map);
  `PUT /api/card/:id` takes any of them.
- `PUT /api/dashboard/:id` with `dashcards`: each needs id (negative = new), size_x, size_y > 0,
  row, col >= 0; ids unique; existing dashcards missing from the list are deleted.
  `PUT /api/dashboard/:id/cards` is gone (404), as in current Metabase.
Bad bodies get 400 {"errors": {field: message}}. `mbql5=True` returns dataset_query in the MBQL 5
shape newer Metabase versions return (`stages`).
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class ApiError(Exception):
    def __init__(self, status: int, body: Any):
        self.status, self.body = status, body


def _bad(field_name: str, message: str) -> ApiError:
    return ApiError(
        400, {"errors": {field_name: message}, "specific-errors": {field_name: [message]}}
    )


def _nonblank(body: dict, key: str, *, optional: bool = False) -> None:
    if key not in body or body[key] is None:
        if optional:
            return
        raise _bad(key, "value must be a non-blank string.")
    if not isinstance(body[key], str) or not body[key].strip():
        raise _bad(key, "value must be a non-blank string.")


def _positive_int(body: dict, key: str, *, optional: bool = True) -> None:
    v = body.get(key)
    if v is None and optional:
        return
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise _bad(key, "value must be an integer greater than zero.")


def _map(body: dict, key: str, *, optional: bool = False) -> None:
    if body.get(key) is None and optional:
        return
    if not isinstance(body.get(key), dict):
        raise _bad(key, "value must be a map.")


@dataclass
class State:
    users: dict[str, str] = field(default_factory=lambda: {"admin@qbank.test": "s3cret-pass"})
    api_keys: set[str] = field(default_factory=lambda: {"mb_qbank_test_key"})
    databases: list[dict[str, Any]] = field(
        default_factory=lambda: [
            {"id": 1, "name": "Sample Database", "engine": "h2"},
            {"id": 2, "name": "QBank", "engine": "postgres"},
        ]
    )
    sessions: set[str] = field(default_factory=set)
    collections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    next_id: dict[str, int] = field(
        default_factory=lambda: {"collection": 1, "card": 1, "dashboard": 1, "dashcard": 1}
    )
    requests: list[tuple[str, str]] = field(default_factory=list)
    mbql5: bool = False

    def new_id(self, kind: str) -> int:
        self.next_id[kind] += 1
        return self.next_id[kind] - 1

    def writes(self) -> list[tuple[str, str]]:
        """Requests that change something (a login is not a change)."""
        return [
            (m, p)
            for m, p in self.requests
            if m in ("POST", "PUT", "DELETE") and p != "/api/session"
        ]


class FakeMetabase:
    def __init__(self, state: State | None = None, prefix: str = ""):
        self.state = state or State()
        self.prefix = prefix  # serve under a path, to stand for a wrong MB_URL
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as Metabase's Jetty
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                    with server.lock:
                        status, out = server.dispatch(
                            method, parts.path, parse_qs(parts.query), body, self.headers
                        )
                except ApiError as exc:
                    status, out = exc.status, exc.body
                except json.JSONDecodeError:
                    status, out = 400, {"message": "Malformed JSON in request body."}
                data = (json.dumps(out) if not isinstance(out, str) else out).encode()
                self.send_response(status)
                ctype = "text/plain" if isinstance(out, str) else "application/json"
                self.send_header("Content-Type", f"{ctype};charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.prefix}"

    def __enter__(self) -> FakeMetabase:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- routing ---------------------------------------------------------------------------

    def dispatch(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, headers
    ) -> tuple[int, Any]:
        st = self.state
        if self.prefix:
            if not path.startswith(self.prefix):
                return 404, "<html><body>Not Found</body></html>"
            path = path[len(self.prefix) :]
        st.requests.append((method, path))
        if not path.startswith("/api/"):
            return 404, "<html><body>Not Found</body></html>"
        if (method, path) == ("GET", "/api/health"):
            return 200, {"status": "ok"}
        if (method, path) == ("POST", "/api/session"):
            return self.login(body or {})
        if (
            headers.get("X-Metabase-Session") not in st.sessions
            and headers.get("x-api-key") not in st.api_keys
        ):
            return 401, "Unauthenticated"
        for pattern, handler in self.routes():
            m = re.fullmatch(pattern, f"{method} {path}")
            if m:
                return 200, handler(*(int(g) for g in m.groups()), body=body, query=query)
        return 404, "API endpoint does not exist."

    def routes(self):
        return [
            (
                r"GET /api/user/current",
                lambda **_: {"id": 1, "email": "admin@qbank.test", "is_superuser": True},
            ),
            (r"GET /api/database/?", self.list_databases),
            (r"GET /api/collection/?", self.list_collections),
            (r"POST /api/collection/?", self.create_collection),
            (r"PUT /api/collection/(\d+)", self.update_collection),
            (r"GET /api/collection/(\d+)/items", self.collection_items),
            (r"POST /api/card/?", self.create_card),
            (r"GET /api/card/(\d+)", self.get_card),
            (r"PUT /api/card/(\d+)", self.update_card),
            (r"POST /api/dashboard/?", self.create_dashboard),
            (r"GET /api/dashboard/(\d+)", self.get_dashboard),
            (r"PUT /api/dashboard/(\d+)", self.update_dashboard),
        ]

    def _get(self, kind: str, table: dict[int, dict], obj_id: int) -> dict[str, Any]:
        if obj_id not in table:
            raise ApiError(404, "Not found.")
        return table[obj_id]

    # --- session, databases, collections ---------------------------------------------------

    def login(self, body: dict) -> tuple[int, Any]:
        _nonblank(body, "username")
        _nonblank(body, "password")
        if self.state.users.get(body["username"]) != body["password"]:
            return 401, {"errors": {"password": "did not match stored password"}}
        token = secrets.token_hex(16)
        self.state.sessions.add(token)
        return 200, {"id": token}

    def list_databases(self, **_: Any) -> dict[str, Any]:
        return {"data": copy.deepcopy(self.state.databases), "total": len(self.state.databases)}

    def list_collections(self, **_: Any) -> list[dict[str, Any]]:
        root = {"id": "root", "name": "Our analytics", "can_write": True, "effective_ancestors": []}
        live = [c for c in self.state.collections.values() if not c["archived"]]
        return [root, *copy.deepcopy(sorted(live, key=lambda c: c["name"].lower()))]

    def create_collection(self, *, body: dict, **_: Any) -> dict[str, Any]:
        _nonblank(body, "name")
        _nonblank(body, "description", optional=True)
        _positive_int(body, "parent_id")
        cid = self.state.new_id("collection")
        parent = body.get("parent_id")
        self.state.collections[cid] = {
            "id": cid,
            "name": body["name"],
            "description": body.get("description"),
            "location": f"/{parent}/" if parent else "/",
            "archived": False,
            "personal_owner_id": None,
            "authority_level": None,
            "namespace": None,
        }
        return copy.deepcopy(self.state.collections[cid])

    def update_collection(self, cid: int, *, body: dict, **_: Any) -> dict[str, Any]:
        coll = self._get("collection", self.state.collections, cid)
        _nonblank(body, "name", optional=True)
        _nonblank(body, "description", optional=True)
        coll.update({k: v for k, v in body.items() if k in ("name", "description", "archived")})
        return copy.deepcopy(coll)

    def collection_items(self, cid: int, *, query: dict, **_: Any) -> dict[str, Any]:
        self._get("collection", self.state.collections, cid)
        models = query.get("models") or ["card", "dashboard", "collection"]
        data = []
        if "card" in models:
            data += [
                {
                    "id": c["id"],
                    "name": c["name"],
                    "model": "card",
                    "display": c["display"],
                    "description": c["description"],
                }
                for c in self.state.cards.values()
                if c["collection_id"] == cid and not c["archived"]
            ]
        if "dashboard" in models:
            data += [
                {
                    "id": d["id"],
                    "name": d["name"],
                    "model": "dashboard",
                    "description": d["description"],
                }
                for d in self.state.dashboards.values()
                if d["collection_id"] == cid and not d["archived"]
            ]
        data.sort(key=lambda i: (i["name"].lower(), i["model"]))
        return {"data": data, "total": len(data), "models": models, "limit": None, "offset": None}

    # --- cards -----------------------------------------------------------------------------

    def _validate_card(self, body: dict, *, create: bool) -> None:
        if create:
            _nonblank(body, "name")
            _map(body, "dataset_query")
            _nonblank(body, "display")
            _map(body, "visualization_settings")
        else:
            _nonblank(body, "name", optional=True)
            _map(body, "dataset_query", optional=True)
            _nonblank(body, "display", optional=True)
            _map(body, "visualization_settings", optional=True)
        _nonblank(body, "description", optional=True)
        _positive_int(body, "collection_id")
        if body.get("collection_id") and body["collection_id"] not in self.state.collections:
            raise ApiError(404, "Not found.")
        if body.get("type") not in (None, "question", "model", "metric"):
            raise _bad("type", 'value must be one of: "question", "model", "metric".')
        if body.get("parameters") is not None and not isinstance(body["parameters"], list):
            raise _bad("parameters", "value must be a sequence of parameters.")
        dq = body.get("dataset_query")
        if dq is not None:
            if dq.get("database") not in {d["id"] for d in self.state.databases}:
                raise _bad("dataset_query", "database must be the id of a database.")
            if dq.get("type") == "native":
                native = dq.get("native") or {}
                sql = native.get("query")
                if not isinstance(sql, str) or not sql.strip():
                    raise _bad("dataset_query", "native query must be a non-blank string.")
                tags = native.get("template-tags") or {}
                for name in re.findall(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}", sql):
                    tag = tags.get(name)
                    if (
                        not tag
                        or tag.get("name") != name
                        or tag.get("type") not in ("text", "number", "date", "dimension")
                    ):
                        raise _bad("dataset_query", f"template tag {name!r} is not defined.")

    def _card_out(self, card: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(card)
        dq = out["dataset_query"]
        if self.state.mbql5 and dq.get("type") == "native":
            out["dataset_query"] = {
                "lib/type": "mbql/query",
                "database": dq["database"],
                "stages": [
                    {
                        "lib/type": "mbql.stage/native",
                        "native": dq["native"]["query"],
                        "template-tags": dq["native"].get("template-tags", {}),
                    }
                ],
            }
        return out

    def create_card(self, *, body: dict, **_: Any) -> dict[str, Any]:
        self._validate_card(body, create=True)
        cid = self.state.new_id("card")
        self.state.cards[cid] = {
            "id": cid,
            "name": body["name"],
            "description": body.get("description"),
            "type": body.get("type") or "question",
            "display": body["display"],
            "visualization_settings": body["visualization_settings"],
            "dataset_query": body["dataset_query"],
            "database_id": body["dataset_query"].get("database"),
            "query_type": body["dataset_query"].get("type"),
            "parameters": body.get("parameters") or [],
            "collection_id": body.get("collection_id"),
            "archived": False,
        }
        return self._card_out(self.state.cards[cid])

    def get_card(self, cid: int, **_: Any) -> dict[str, Any]:
        return self._card_out(self._get("card", self.state.cards, cid))

    def update_card(self, cid: int, *, body: dict, **_: Any) -> dict[str, Any]:
        card = self._get("card", self.state.cards, cid)
        self._validate_card(body, create=False)
        keys = ("name", "description", "type", "display", "visualization_settings", "dataset_query",
                "parameters", "collection_id", "archived")  # fmt: skip
        card.update({k: body[k] for k in keys if k in body and body[k] is not None})
        card["database_id"] = card["dataset_query"].get("database")
        return self._card_out(card)

    # --- dashboards ------------------------------------------------------------------------

    def create_dashboard(self, *, body: dict, **_: Any) -> dict[str, Any]:
        _nonblank(body, "name")
        _nonblank(body, "description", optional=True)
        _positive_int(body, "collection_id")
        if body.get("parameters") is not None and not isinstance(body["parameters"], list):
            raise _bad("parameters", "value must be a sequence of parameters.")
        did = self.state.new_id("dashboard")
        self.state.dashboards[did] = {
            "id": did,
            "name": body["name"],
            "description": body.get("description"),
            "collection_id": body.get("collection_id"),
            "parameters": body.get("parameters") or [],
            "archived": False,
            "dashcards": [],
            "tabs": [],
        }
        return self.get_dashboard(did)

    def get_dashboard(self, did: int, **_: Any) -> dict[str, Any]:
        dash = copy.deepcopy(self._get("dashboard", self.state.dashboards, did))
        for d in dash["dashcards"]:
            d["card"] = self._card_out(self.state.cards[d["card_id"]]) if d["card_id"] else None
        return dash

    def update_dashboard(self, did: int, *, body: dict, **_: Any) -> dict[str, Any]:
        dash = self._get("dashboard", self.state.dashboards, did)
        _nonblank(body, "name", optional=True)
        _positive_int(body, "collection_id")
        for key in ("description", "parameters", "archived", "collection_id", "name"):
            if key in body and (body[key] is not None or key in ("description", "collection_id")):
                dash[key] = body[key]
        if "dashcards" in body and body["dashcards"] is not None:
            dash["dashcards"] = self._update_dashcards(dash, body["dashcards"])
        return self.get_dashboard(did)

    def _update_dashcards(self, dash: dict[str, Any], new: list[Any]) -> list[dict[str, Any]]:
        if not isinstance(new, list):
            raise _bad("dashcards", "value must be a sequence of maps.")
        ids = []
        for d in new:
            if not isinstance(d, dict) or not isinstance(d.get("id"), int):
                raise _bad("dashcards", "each dashcard needs an integer id.")
            for k in ("size_x", "size_y"):
                if not isinstance(d.get(k), int) or d[k] <= 0:
                    raise _bad("dashcards", f"{k} must be an integer greater than zero.")
            for k in ("row", "col"):
                if not isinstance(d.get(k), int) or d[k] < 0:
                    raise _bad(
                        "dashcards", f"{k} must be an integer greater than or equal to zero."
                    )
            if d.get("card_id") is not None and d["card_id"] not in self.state.cards:
                raise ApiError(404, "Not found.")
            param_ids = {p["id"] for p in dash["parameters"]}
            for m in d.get("parameter_mappings") or []:
                if not m.get("parameter_id") or "target" not in m:
                    raise _bad("dashcards", "parameter_mappings need parameter_id and target.")
                if m["parameter_id"] not in param_ids:
                    raise _bad(
                        "dashcards",
                        f"parameter {m['parameter_id']!r} is not a dashboard parameter.",
                    )
            ids.append(d["id"])
        if len(ids) != len(set(ids)):
            raise _bad("dashcards", "value must be a sequence of maps with unique id.")
        current = {d["id"]: d for d in dash["dashcards"]}
        out = []
        for d in new:
            keep = {
                k: copy.deepcopy(d.get(k)) for k in ("card_id", "row", "col", "size_x", "size_y")
            }
            keep["parameter_mappings"] = copy.deepcopy(d.get("parameter_mappings") or [])
            keep["series"] = copy.deepcopy(d.get("series") or [])
            keep["visualization_settings"] = copy.deepcopy(d.get("visualization_settings") or {})
            keep["dashboard_tab_id"] = None
            if d["id"] in current:
                out.append({**current[d["id"]], **keep})
            else:  # negative or unknown ids are new dashcards
                out.append(
                    {"id": self.state.new_id("dashcard"), "dashboard_id": dash["id"], **keep}
                )
        return out
