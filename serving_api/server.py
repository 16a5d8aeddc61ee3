"""The one command line that runs the API under uvicorn (`make api`, the tests, the benchmarks)."""

from __future__ import annotations

import sys


def uvicorn_command(port: int, workers: int = 1, python: str = sys.executable) -> list[str]:
    """uvicorn on loopback with uvloop and httptools, without its access log (our middleware
    logs each request once, as JSON)."""
    return [
        python, "-m", "uvicorn",
        "--factory", "serving_api.main:create_app",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
        "--loop", "uvloop",
        "--http", "httptools",
        "--no-access-log",
    ]  # fmt: skip
