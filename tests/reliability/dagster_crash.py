"""A Dagster run of the psychometrics assets (the first exam code's partition) that SIGKILLs itself inside the publishing
transaction: the new set is written and switched to active, the previous one to superseded,
the NOTIFY queued — and the process dies before COMMIT (as under the OOM killer).

    DATABASE_URL=... python -m tests.reliability.dagster_crash

The production code runs unchanged; only `orchestration.publishing._activate` is wrapped.
"""

from __future__ import annotations

import os
import signal
import sys

import dagster as dg

from orchestration import publishing
from orchestration.assets.dbt import content_tables
from orchestration.definitions import ASSETS, build_definitions
from orchestration.partitions import exam_partitions, published_exam_codes
from qbank.db import make_engine
from qbank.settings import get_settings

PSYCHOMETRICS = ["item_calibration", "exposure_control", "published_item_parameters"]
FAST = {"ops": {"exposure_control": {"config": {"test_length": 6, "n_simulees": 300, "n_iter": 3}}}}


def main() -> int:
    activate = publishing._activate

    def activate_then_die(conn, set_id, tenant_id, exam_code):
        previous = activate(conn, set_id, tenant_id, exam_code)
        print(f"activated {set_id} over {previous}, dying before COMMIT", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    publishing._activate = activate_then_die
    defs = build_definitions()
    engine = make_engine(get_settings())
    key = published_exam_codes(engine)[0].key  # the first exam code's partition
    engine.dispose()
    # in memory: the process dies before anything could read it
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(exam_partitions.name, [key])
        result = dg.materialize(
            [*content_tables, *ASSETS],
            resources=defs.resources,
            selection=PSYCHOMETRICS,
            partition_key=key,
            instance=instance,
            run_config=FAST,
            raise_on_error=False,
        )
    print(f"run finished: success={result.success}", flush=True)  # never reached
    return 1


if __name__ == "__main__":
    sys.exit(main())
