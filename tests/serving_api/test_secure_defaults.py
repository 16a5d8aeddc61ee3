"""Secure by default: the API does not start without an explicit QBANK_ENV, and the dev-only
mock-login answers only this machine (loopback), whatever a forwarding header claims."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from qbank.settings import Settings
from serving_api.api.routes.auth import is_loopback
from serving_api.main import MISSING_ENV, StartupRefused, create_app
from tests.support.api_server import ROOT, free_port

STARTS = {
    # What `make api` runs (scripts/apps.py), with two workers: refused before any worker.
    "python -m serving_api": ["-m", "serving_api", "--workers", "2"],
    # uvicorn itself with the factory, one worker: the factory refuses.
    "uvicorn --factory": ["-m", "uvicorn", "--factory", "serving_api.main:create_app"],
}


@pytest.mark.parametrize(
    "how, value",
    [("python -m serving_api", None), ("uvicorn --factory", None), ("python -m serving_api", "")],
    ids=["unset-module", "unset-uvicorn", "empty-module"],
)
def test_api_refuses_to_start_without_qbank_env(how, value, tmp_path, migrated_db):
    env = {k: v for k, v in os.environ.items() if k != "QBANK_ENV"}
    if value is not None:
        env["QBANK_ENV"] = value
    # The repository on the path, and a working directory without a .env that could set it.
    env["PYTHONPATH"] = str(ROOT)
    port = free_port()
    cmd = [sys.executable, *STARTS[how], "--host", "127.0.0.1", "--port", str(port)]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "QBANK_ENV is not set: the API refuses to start" in out, out
    assert "Set QBANK_ENV=prod in production" in out
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


def test_create_app_refuses_without_env():
    with pytest.raises(StartupRefused) as err:
        create_app(Settings(_env_file=None, qbank_env=None))
    assert str(err.value) == MISSING_ENV


def test_loopback_addresses():
    for host in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert is_loopback(host), host
    for host in ("192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "fd00::2", "testclient", "", None):
        assert not is_loopback(host), host


def _dev_client(host: str) -> TestClient:
    # No lifespan (no `with`): the refusal comes before any database or Redis work.
    return TestClient(create_app(Settings(qbank_env="dev")), client=(host, 40000))


@pytest.mark.parametrize("peer", ["203.0.113.7", "10.1.2.3", "::ffff:192.0.2.9", "fd00::7"])
def test_mock_login_refuses_a_non_loopback_peer(peer):
    r = _dev_client(peer).post("/v1/auth/mock-login", json={"email": "admin@x.example"})
    assert r.status_code == 403, r.text
    detail = r.json()["detail"]
    assert "only requests from this machine (loopback)" in detail and peer in detail


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
    ],
)
def test_mock_login_refuses_proxied_requests_even_from_loopback(header):
    """A proxy on this machine makes every client's peer address 127.0.0.1: a forwarding
    header means someone else's request, and what it claims is never believed."""
    r = _dev_client("127.0.0.1").post(
        "/v1/auth/mock-login", json={"email": "admin@x.example"}, headers=header
    )
    assert r.status_code == 403, r.text
    assert "refuses proxied requests" in r.json()["detail"]
