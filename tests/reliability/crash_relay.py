"""`python -m ingestion.outbox_relay` that SIGKILLs itself at its worst moment.

    python -m tests.reliability.crash_relay 3 [relay args...]

dies right after Kafka acknowledged its 3rd batch and before the rows are marked published:
the restarted relay publishes those events again, and ingestion must drop the copies. The
production code runs unchanged; only the producer's flush is wrapped.
"""

from __future__ import annotations

import os
import signal
import sys

from kafka import KafkaProducer

from ingestion import outbox_relay


def main() -> int:
    nth = int(sys.argv[1])
    flushes = {"n": 0}
    flush = KafkaProducer.flush

    def flush_then_die(self, timeout=None):
        flush(self, timeout=timeout)
        flushes["n"] += 1
        if flushes["n"] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    KafkaProducer.flush = flush_then_die
    return outbox_relay.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
