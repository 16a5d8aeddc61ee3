"""dbt's connection, derived from QBank's one settings object.

`dbt_qbank/profiles.yml` reads QBANK_DBT_HOST/PORT/USER/PASSWORD/DBNAME; this module computes them
from `Settings.analytics_url` (whatever driver or defaults produced it), so dbt always talks to the
database the raw tables are loaded into: ANALYTICS_DATABASE_URL when it is set (the content tables
reach it by logical replication), else the serving database. Analytics engineers run dbt through it:

    python -m orchestration.dbt_env build --select fact_responses+
    make dbt ARGS="docs generate"
"""

from __future__ import annotations

import os
import sys

from sqlalchemy.engine import make_url

from qbank.settings import PROJECT_ROOT, Settings, get_settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_qbank"


def dbt_env(settings: Settings | None = None) -> dict[str, str]:
    """The QBANK_DBT_* variables `profiles.yml` reads, from the settings' analytics URL."""
    url = make_url((settings or get_settings()).analytics_url)
    return {
        "QBANK_DBT_HOST": url.host or "127.0.0.1",
        "QBANK_DBT_PORT": str(url.port or 5432),
        "QBANK_DBT_USER": url.username or "",
        "QBANK_DBT_PASSWORD": url.password or "",
        "QBANK_DBT_DBNAME": url.database or "",
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


DBT_EXECUTABLE = os.path.join(os.path.dirname(sys.executable), "dbt")


def export_dbt_env(settings: Settings | None = None) -> None:
    """Put the variables in this process's environment (dagster-dbt passes it to dbt), and make
    the `dbt` installed next to this Python the one found on PATH (dagster-dbt's manifest
    preparer looks it up by name)."""
    os.environ.update(dbt_env(settings))
    bin_dir = os.path.dirname(DBT_EXECUTABLE)
    path = os.environ.get("PATH", "")
    if os.path.exists(DBT_EXECUTABLE) and bin_dir not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([bin_dir, path]) if path else bin_dir


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    env = {**os.environ, **dbt_env()}
    os.chdir(DBT_PROJECT_DIR)
    os.execve(DBT_EXECUTABLE, [DBT_EXECUTABLE, *args], env)


if __name__ == "__main__":
    main()
