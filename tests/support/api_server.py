"""The API in a process of its own, on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from serving_api.server import uvicorn_command

ROOT = Path(__file__).resolve().parents[2]


ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    name: str,
    env_overrides: dict[str, str] | None = None,
    wait: bool = True,
    timeout: float = 90.0,
) -> Server:
    """The API in its own process, on a free loopback port (healthy within `timeout` s)."""
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    log_path = ARTIFACTS / f"api-{name}.log"
    env = {**os.environ, **(env_overrides or {})}
    proc = subprocess.Popen(
        uvicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", proc, log_path)
    if wait:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited with {proc.returncode}:\n{server.logs()[-3000:]}")
            try:
                if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        proc.kill()
        raise RuntimeError(f"API did not start:\n{server.logs()[-3000:]}")
    return server


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


def metric(body: str, name: str) -> float:
    """The sum of a Prometheus metric's samples (every label set) in a /metrics body."""
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total
