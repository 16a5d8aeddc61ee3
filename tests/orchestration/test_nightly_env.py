"""When run_nightly may run a single partition in its own process: only while the steps its
forkserver forks would see the caller's settings."""

from __future__ import annotations

from orchestration import nightly


def test_a_run_here_only_while_the_forkserver_has_these_settings(monkeypatch) -> None:
    monkeypatch.setattr(nightly, "_forkserver_env", None)
    monkeypatch.setenv("DATABASE_URL", "postgresql://qbank@127.0.0.1/first")
    monkeypatch.setenv("QBANK_DAGSTER_DATABASE_URL", "postgresql://qbank@127.0.0.1/first")
    assert nightly._steps_can_fork_from_here({"DATABASE_URL": "postgresql://qbank@127.0.0.1/first"})
    # something unrelated to the settings changes nothing
    monkeypatch.setenv("PYTEST_SOMETHING", "x")
    assert nightly._steps_can_fork_from_here({})
    # another database: the forkserver still has the first one, so the run goes to a worker
    monkeypatch.setenv("QBANK_DAGSTER_DATABASE_URL", "postgresql://qbank@127.0.0.1/second")
    assert not nightly._steps_can_fork_from_here({})
    monkeypatch.setenv("QBANK_DAGSTER_DATABASE_URL", "postgresql://qbank@127.0.0.1/first")
    assert nightly._steps_can_fork_from_here({})
    # the caller asks for an environment this process does not have
    assert not nightly._steps_can_fork_from_here({"DATABASE_URL": "postgresql://elsewhere/x"})


def test_the_definitions_env_holds_the_settings_names(monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_EVENTS", "events.elsewhere")
    monkeypatch.setenv("QBANK_PG_PORT", "1")
    monkeypatch.setenv("HOME_OF_SOMETHING_ELSE", "x")
    env = nightly.definitions_env()
    assert env["KAFKA_TOPIC_EVENTS"] == "events.elsewhere"
    assert env["QBANK_PG_PORT"] == "1"
    assert "HOME_OF_SOMETHING_ELSE" not in env
