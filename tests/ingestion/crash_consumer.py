"""`python -m ingestion.consumer --until-caught-up` that SIGKILLs itself at a chosen point.

    python -m tests.ingestion.crash_consumer in_transaction 3
        dies inside the 3rd batch's transaction: rows, dead letters and offsets written, no COMMIT
    python -m tests.ingestion.crash_consumer after_commit 3
        dies right after the 3rd batch committed in PostgreSQL, before Kafka hears of it
    python -m tests.ingestion.crash_consumer paced 0.03 10
        never dies by itself, but waits 30 ms before handing each batch to the writer, so a
        killer outside, polling the loaded count, cannot be outrun by the consumer on a busy box

The production code runs unchanged; only these seams are wrapped.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from ingestion import consumer, raw_loader


def main() -> int:
    point = sys.argv[1]
    calls = {"n": 0}

    def die_on_nth() -> None:
        calls["n"] += 1
        if calls["n"] == int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "in_transaction":
        store = raw_loader.RawLoader._store_offsets

        def store_then_die(self, cur, next_offsets):
            store(self, cur, next_offsets)
            die_on_nth()

        raw_loader.RawLoader._store_offsets = store_then_die
    elif point == "after_commit":
        finish = consumer.EventConsumer._finish

        def die_then_finish(self, results):
            for _ in results:
                die_on_nth()
            finish(self, results)

        consumer.EventConsumer._finish = die_then_finish
    elif point == "paced":
        submit, pause = consumer.EventConsumer._submit, float(sys.argv[2])

        def wait_then_submit(self, records):
            if records:
                time.sleep(pause)
            return submit(self, records)

        consumer.EventConsumer._submit = wait_then_submit
    else:
        raise SystemExit(f"unknown crash point {point!r}")
    return consumer.main(
        ["--until-caught-up", "--batch-size", sys.argv[3] if len(sys.argv) > 3 else "300"]
    )


if __name__ == "__main__":
    sys.exit(main())
