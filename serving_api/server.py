"""The one command line that runs the API (`make api`, the tests, the benchmarks)."""

from __future__ import annotations

import sys


def uvicorn_command(
    port: int, workers: int = 1, python: str = sys.executable, host: str = "127.0.0.1"
) -> list[str]:
    """`python -m serving_api` (uvicorn, after checking QBANK_ENV and the secret once for all
    workers) with uvloop and httptools, without uvicorn's access log (our middleware logs each
    request once, as JSON)."""
    return [
        python, "-m", "serving_api",
        "--host", host,
        "--port", str(port),
        "--workers", str(workers),
        "--loop", "uvloop",
        "--http", "httptools",
        "--no-access-log",
    ]  # fmt: skip
