"""Shared helpers of the irt_models benchmarks: simulated data, tables and key=value lines."""

from __future__ import annotations

import resource
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd


def simulate_responses(seed: int, n_persons: int, n_items: int, per_person: int | None = None):
    """3PL responses under the issue's recovery design (D = 1): θ ~ N(0, 1), b ~ N(0, 1),
    a ~ lognormal(0, 0.3), c ~ U(0.10, 0.25). Each person answers ``per_person`` items drawn
    at random without replacement (all items when None). Returns (long DataFrame, a, b, c)."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n_persons)
    a = rng.lognormal(0.0, 0.3, n_items)
    b = rng.standard_normal(n_items)
    c = rng.uniform(0.10, 0.25, n_items)
    if per_person is None or per_person >= n_items:
        person = np.repeat(np.arange(n_persons), n_items)
        item = np.tile(np.arange(n_items), n_persons)
    else:
        person = np.repeat(np.arange(n_persons), per_person)
        item = np.empty(n_persons * per_person, dtype=np.int64)
        step = max(1, 20_000_000 // n_items)
        for start in range(0, n_persons, step):  # chunks keep the random keys small
            stop = min(start + step, n_persons)
            keys = rng.random((stop - start, n_items))
            pick = np.argpartition(keys, per_person - 1, axis=1)[:, :per_person]
            item[start * per_person : stop * per_person] = pick.ravel()
    z = a[item] * (theta[person] - b[item])
    p = c[item] + (1.0 - c[item]) / (1.0 + np.exp(-z))
    correct = (rng.random(p.size) < p).astype(np.int8)
    frame = pd.DataFrame({"person": person, "item": item, "correct": correct})
    return frame, a, b, c


def dense_matrix(frame: pd.DataFrame, n_persons: int, n_items: int, missing=np.nan):
    """persons × items matrix of the long responses, ``missing`` where unanswered."""
    out = np.full((n_persons, n_items), missing, dtype=float)
    out[frame["person"].to_numpy(), frame["item"].to_numpy()] = frame["correct"].to_numpy()
    return out


def rmse(est, true) -> float:
    est, true = np.asarray(est, dtype=float), np.asarray(true, dtype=float)
    return float(np.sqrt(np.mean((est - true) ** 2)))


@contextmanager
def timer():
    """Yields a dict whose "s" holds the elapsed seconds after the block."""
    out = {"s": float("nan")}
    start = time.perf_counter()
    yield out
    out["s"] = time.perf_counter() - start


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, GiB (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def print_table(title: str, rows: list[dict]) -> None:
    """A plain fixed-width table."""
    print(f"\n## {title}")
    if not rows:
        print("(no rows)")
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if np.isnan(v) else f"{v:.4g}"
    return str(v)


def print_kv(figures: dict) -> None:
    """The last line of a benchmark: key=value figures, space separated."""
    print(" ".join(f"{k}={_fmt(v)}" for k, v in figures.items()))
