"""The API's logs: QBank's JSON lines, with uvicorn's own loggers routed through them."""

from __future__ import annotations

import logging

from qbank.logs import json_logging


def configure_logging(level: str = "INFO") -> None:
    """Route every logger (ours, uvicorn's) through the JSON formatter; idempotent."""
    json_logging(level)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # Our middleware logs each request; uvicorn's access log would say it twice.
    logging.getLogger("uvicorn.access").disabled = True
