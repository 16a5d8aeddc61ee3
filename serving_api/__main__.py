"""`python -m serving_api [uvicorn options]`: the API under uvicorn, checked before it starts.

    python -m serving_api --host 127.0.0.1 --port 8000 --workers 2

Any uvicorn option may follow (`--loop uvloop`, `--no-access-log`, ...); the app is always
`serving_api.main:create_app`. The settings are checked here, once, before uvicorn starts:
with `--workers N`, uvicorn builds the app in each worker and its supervisor restarts a worker
that dies, so a refusal raised only in `create_app` would restart forever instead of exiting.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from qbank.settings import get_settings
from serving_api.main import StartupRefused, require_explicit_env

APP = "serving_api.main:create_app"


def main(argv: list[str] | None = None) -> int:
    try:
        require_explicit_env(get_settings())
    except StartupRefused as exc:
        print(f"qbank api: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:  # e.g. QBANK_ENV=prod with the dev secret
        reasons = "; ".join(
            (f"{'.'.join(map(str, e['loc'])).upper()}: " if e["loc"] else "")
            + e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        print(f"qbank api: the settings are refused: {reasons}", file=sys.stderr)
        return 2
    from uvicorn.main import main as uvicorn_cli

    args = list(sys.argv[1:] if argv is None else argv)
    return uvicorn_cli.main(
        args=["--factory", APP, *args], prog_name="python -m serving_api", standalone_mode=True
    )


if __name__ == "__main__":
    sys.exit(main())
