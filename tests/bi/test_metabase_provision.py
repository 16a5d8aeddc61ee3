"""The provisioning program against a local server speaking Metabase's API: the first run creates,
the second changes nothing, edits made in Metabase are put back in place, and every failure
says what to fix."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections import Counter

import pytest

from metabase.cards import CARDS, DASHBOARD, TENANT_PARAMETER
from metabase.client import AuthenticationFailed, MetabaseUnreachable
from metabase.provision import Config, ConfigError, DatabaseNotFound, main, provision
from qbank.settings import PROJECT_ROOT
from tests.bi.fake_metabase import FakeMetabase, State

USER, PASSWORD, API_KEY = "admin@qbank.test", "s3cret-pass", "mb_qbank_test_key"


def _config(server: FakeMetabase, **kw) -> Config:
    base = {"url": server.url, "database": "QBank", "user": USER, "password": PASSWORD}
    return Config(**{**base, **kw})


@pytest.fixture
def server():
    with FakeMetabase() as s:
        yield s


def _snapshot(state: State) -> dict:
    return {
        "collections": {k: dict(v) for k, v in state.collections.items()},
        "cards": {k: repr(v) for k, v in state.cards.items()},
        "dashboards": {k: repr(v) for k, v in state.dashboards.items()},
    }


def test_first_run_creates_everything_laid_out(server: FakeMetabase) -> None:
    report = provision(_config(server))
    st = server.state
    assert [(k, a) for k, _, a, _ in report.actions] == [
        ("collection", "created"),
        *[("card", "created")] * len(CARDS),
        ("dashboard", "created"),
    ]
    (collection,) = st.collections.values()
    assert collection["name"] == "QBank" and collection["location"] == "/"
    assert {c["name"] for c in st.cards.values()} == {c.name for c in CARDS}
    for card in st.cards.values():
        assert card["collection_id"] == collection["id"]
        assert card["database_id"] == 2  # "QBank", not the sample database
        assert card["dataset_query"]["type"] == "native"
    (dash,) = st.dashboards.values()
    assert dash["collection_id"] == collection["id"]
    assert dash["parameters"] == [TENANT_PARAMETER]
    by_card = {st.cards[d["card_id"]]["name"]: d for d in dash["dashcards"]}
    assert set(by_card) == {c.name for c in CARDS}
    for spec in CARDS:
        d = by_card[spec.name]
        assert (d["row"], d["col"], d["size_x"], d["size_y"]) == dataclasses.astuple(spec.place)
        assert d["id"] > 0
        assert d["parameter_mappings"] == [
            {
                "parameter_id": "qbank_tenant",
                "card_id": d["card_id"],
                "target": ["variable", ["template-tag", "tenant"]],
            }
        ]
    # Dashcards went through PUT /api/dashboard/:id (the old .../cards route is gone).
    assert ("PUT", f"/api/dashboard/{dash['id']}") in st.requests
    assert not any(p.endswith("/cards") for _, p in st.requests)


@pytest.mark.parametrize("mbql5", [False, True], ids=["legacy-query", "mbql5-query"])
def test_second_run_changes_nothing(server: FakeMetabase, mbql5: bool) -> None:
    server.state.mbql5 = mbql5
    provision(_config(server))
    before, writes = _snapshot(server.state), len(server.state.writes())
    report = provision(_config(server))
    assert server.state.writes()[writes:] == []  # no POST / PUT at all
    assert _snapshot(server.state) == before
    assert {a for _, _, a, _ in report.actions} == {"unchanged"}
    assert not report.changed and not report.warnings


def test_api_key_works_without_a_session(server: FakeMetabase) -> None:
    cfg = _config(server, user=None, password=None, api_key=API_KEY)
    provision(cfg)
    provision(cfg)
    assert ("POST", "/api/session") not in server.state.requests
    assert len(server.state.cards) == len(CARDS) and len(server.state.dashboards) == 1


def test_edits_in_metabase_are_put_back_in_place(server: FakeMetabase) -> None:
    provision(_config(server))
    st = server.state
    card_ids = {c["name"]: c["id"] for c in st.cards.values()}
    (dash,) = st.dashboards.values()
    dashcard_ids = {d["card_id"]: d["id"] for d in dash["dashcards"]}
    # Someone edits a card's SQL and chart, moves one dashcard and removes another.
    drift = st.cards[card_ids["Hardest items"]]
    drift["dataset_query"]["native"]["query"] = "SELECT 1"
    st.cards[card_ids["Item exposure"]]["visualization_settings"]["graph.metrics"] = [
        "times_served"
    ]
    dash["dashcards"][0]["row"] = 40
    removed = dash["dashcards"].pop()

    writes = len(st.writes())
    report = provision(_config(server))
    assert Counter(st.writes()[writes:]) == Counter(
        [
            ("PUT", f"/api/card/{card_ids['Hardest items']}"),
            ("PUT", f"/api/card/{card_ids['Item exposure']}"),
            ("PUT", f"/api/dashboard/{dash['id']}"),
        ]
    )
    assert {c["name"]: c["id"] for c in st.cards.values()} == card_ids  # same cards, no new ones
    assert st.cards[card_ids["Hardest items"]]["dataset_query"]["native"]["query"] == CARDS[2].sql
    restored = {d["card_id"]: d for d in st.dashboards[dash["id"]]["dashcards"]}
    assert set(restored) == set(card_ids.values())
    for card_id, d in restored.items():
        if card_id != removed["card_id"]:
            assert d["id"] == dashcard_ids[card_id]  # existing dashcards keep their ids
    assert restored[dash["dashcards"][0]["card_id"]]["row"] == 0
    assert ("dashboard", DASHBOARD.name, "updated", dash["id"]) in report.actions
    assert report.details == {"Hardest items": "sql", "Item exposure": "visualization"}
    # ...and then it is stable again.
    writes = len(st.writes())
    provision(_config(server))
    assert st.writes()[writes:] == []


def test_a_changed_definition_updates_the_same_card(server: FakeMetabase) -> None:
    provision(_config(server))
    spec = CARDS[0]
    changed = dataclasses.replace(spec, description="Accuracy per day, all cohorts (revised).")
    dashboard = dataclasses.replace(DASHBOARD, cards=(changed, *CARDS[1:]))
    card_id = next(c["id"] for c in server.state.cards.values() if c["name"] == spec.name)
    writes = len(server.state.writes())
    report = provision(_config(server), dashboard)
    assert server.state.writes()[writes:] == [("PUT", f"/api/card/{card_id}")]
    assert server.state.cards[card_id]["description"] == changed.description
    assert ("card", spec.name, "updated", card_id) in report.actions


def test_duplicates_made_by_hand_are_reported_not_multiplied(server: FakeMetabase) -> None:
    provision(_config(server))
    st = server.state
    original = next(c for c in st.cards.values() if c["name"] == "Item exposure")
    copy_id = st.new_id("card")
    st.cards[copy_id] = {**original, "id": copy_id}
    report = provision(_config(server))
    assert len(st.cards) == len(CARDS) + 1
    assert any("named 'Item exposure'" in w and str(original["id"]) in w for w in report.warnings)


# --- failures ---------------------------------------------------------------------------------


def test_wrong_url_nothing_listening() -> None:
    with FakeMetabase() as s:
        url = s.url
    with pytest.raises(
        MetabaseUnreachable, match=r"cannot reach Metabase at http://127\.0\.0\.1:\d+.*MB_URL"
    ):
        provision(Config(url=url, database="QBank", user=USER, password=PASSWORD))


def test_wrong_url_not_metabase() -> None:
    with FakeMetabase(prefix="/metabase") as s:
        wrong = s.url.removesuffix("/metabase") + "/dashboard/7"
        with pytest.raises(
            MetabaseUnreachable,
            match=r"does not answer like Metabase \(GET /api/health returned HTTP 404",
        ):
            provision(Config(url=wrong, database="QBank", user=USER, password=PASSWORD))
        # The same server under its real root works.
        provision(Config(url=s.url, database="QBank", user=USER, password=PASSWORD))


def test_bad_password(server: FakeMetabase) -> None:
    with pytest.raises(
        AuthenticationFailed,
        match=r"rejected the login of 'admin@qbank\.test' \(password: did not match stored password\); check MB_USER and MB_PASSWORD",
    ):
        provision(_config(server, password="wrong"))
    assert server.state.writes() == []


def test_bad_api_key(server: FakeMetabase) -> None:
    with pytest.raises(AuthenticationFailed, match="rejected the API key in MB_API_KEY"):
        provision(_config(server, user=None, password=None, api_key="mb_nope"))


def test_missing_database(server: FakeMetabase) -> None:
    with pytest.raises(
        DatabaseNotFound,
        match=r"no database named 'QBank analytics' \(it has: 'Sample Database', 'QBank'\).*MB_DATABASE",
    ):
        provision(_config(server, database="QBank analytics"))
    assert server.state.writes() == []


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="MB_URL is not set"):
        Config.from_env({})
    with pytest.raises(ConfigError, match="MB_URL must start with http"):
        Config.from_env({"MB_URL": "localhost:3000", "MB_API_KEY": "k"})
    with pytest.raises(ConfigError, match="MB_API_KEY, or MB_USER and MB_PASSWORD"):
        Config.from_env({"MB_URL": "http://localhost:3000", "MB_USER": USER})
    cfg = Config.from_env({"MB_URL": "http://mb:3000/", "MB_API_KEY": "k", "MB_DATABASE": "Marts"})
    assert (cfg.api_key, cfg.database, cfg.collection) == ("k", "Marts", "QBank")


def test_main_reports_errors_without_a_traceback(server: FakeMetabase, capsys) -> None:
    env = {"MB_URL": server.url, "MB_USER": USER, "MB_PASSWORD": "nope"}
    assert main([], env) == 2
    err = capsys.readouterr().err
    assert err.startswith("metabase provisioning failed: Metabase at") and "Traceback" not in err


def test_fake_server_enforces_metabase_shapes(server: FakeMetabase) -> None:
    """The server is strict where Metabase is, so the tests above are not vacuous."""
    import httpx

    provision(_config(server))
    (dash,) = server.state.dashboards.values()
    with httpx.Client(base_url=server.url, headers={"x-api-key": API_KEY}) as http:
        assert http.get("/api/card/1", headers={"x-api-key": "bad"}).status_code == 401
        bad = http.put(
            f"/api/dashboard/{dash['id']}",
            json={"dashcards": [{"id": -1, "card_id": 1, "row": 0, "col": 0}]},
        )
        assert bad.status_code == 400 and "size_x" in bad.text
        dup = [{"id": -1, "card_id": 1, "row": 0, "col": 0, "size_x": 4, "size_y": 4}] * 2
        assert http.put(f"/api/dashboard/{dash['id']}", json={"dashcards": dup}).status_code == 400
        assert http.put(f"/api/dashboard/{dash['id']}/cards", json={"cards": []}).status_code == 404
        untagged = {"name": "x", "display": "table", "visualization_settings": {},
                    "dataset_query": {"type": "native", "database": 2, "native": {"query": "SELECT {{t}}"}}}  # fmt: skip
        assert http.post("/api/card", json=untagged).status_code == 400
        assert http.post("/api/card", json={"name": "x"}).status_code == 400


def test_runs_as_a_module(server: FakeMetabase) -> None:
    env = {**os.environ, "MB_URL": server.url, "MB_API_KEY": API_KEY, "MB_DATABASE": "QBank"}
    run = [sys.executable, "-m", "metabase.provision"]
    first = subprocess.run(
        run, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert "created" in first.stdout and "changes written" in first.stdout
    second = subprocess.run(
        run, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0 and "already up to date" in second.stdout
    bad = subprocess.run(
        run,
        cwd=PROJECT_ROOT,
        env={**env, "MB_DATABASE": "Nope"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        bad.returncode == 2
        and "no database named 'Nope'" in bad.stderr
        and "Traceback" not in bad.stderr
    )
