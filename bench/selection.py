"""Selection timing: one next-item decision over a 5,000-item pool with quotas and exposure.

    python -m bench.selection                    # 5,000 decisions per configuration
    python -m bench.selection --decisions 500

The pool has 12 quota topics (one nested in another, as a quota on a parent topic includes its
subtopics), Sympson-Hetter K ~ U(0.2, 1), 5 % of items at their daily cap and 60 items already
served; each decision draws a new θ. The issue's bar: median under 1 ms.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench._common import print_kv, print_table
from irt_models.selection import ItemPool, select_next_item


def make_pool(n_items: int, n_topics: int, rng) -> ItemPool:
    a = rng.lognormal(0.0, 0.3, n_items)
    b = rng.standard_normal(n_items)
    c = rng.uniform(0.1, 0.25, n_items)
    membership = np.zeros((n_items, n_topics), dtype=bool)
    membership[np.arange(n_items), rng.integers(0, n_topics, n_items)] = True
    membership[:, 0] |= membership[:, 1]  # topic 1 is a subtopic of topic 0
    return ItemPool.build(a, b, c, rng.uniform(0.2, 1.0, n_items), membership)


def time_decisions(pool, rng, n_decisions, **options) -> np.ndarray:
    n = pool.n_items
    served = np.zeros(n, dtype=bool)
    served[rng.choice(n, 60, replace=False)] = True
    capped = rng.random(n) < 0.05
    quota = np.full(pool.n_topics, 3)
    out = np.empty(n_decisions)
    for i in range(n_decisions):
        theta = rng.standard_normal()
        start = time.perf_counter()
        select_next_item(pool, theta, served_mask=served, quota_remaining=quota,
                         positions_remaining=40, capped_mask=capped, rng=rng, **options)  # fmt: skip
        out[i] = time.perf_counter() - start
    return out * 1e3


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--decisions", type=int, default=5000)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    pool = make_pool(args.items, 12, rng)
    configs = {
        "max-info + SH": {},
        "randomesque k=5 + SH": {"randomesque_k": 5},
        "max-info, no SH": {"use_sympson_hetter": False},
        "non-adaptive": {"adaptive": False},
    }
    rows, kv = [], {}
    for name, opts in configs.items():
        ms = time_decisions(pool, rng, args.decisions, **opts)
        rows.append({"configuration": name, "median_ms": float(np.median(ms)),
                     "p90_ms": float(np.percentile(ms, 90)), "p99_ms": float(np.percentile(ms, 99))})  # fmt: skip
    print_table(f"next-item decision, {args.items} items, 12 quota topics", rows)
    kv["selection_median_ms"] = rows[0]["median_ms"]
    kv["selection_p99_ms"] = rows[0]["p99_ms"]
    kv["selection_randomesque_median_ms"] = rows[1]["median_ms"]
    print_kv(kv)


if __name__ == "__main__":
    main()
