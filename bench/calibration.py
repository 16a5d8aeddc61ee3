"""Calibration benchmark: irt_models vs girth vs the PyPI package mirt, same data, same run.

    python -m bench.calibration                    # the issue's sizes (long: girth is slow)
    python -m bench.calibration --reps 2 --designs recovery,sparse --engines ours,mirt

Designs (issue 3): recovery (50 items × 2,000 persons, full data, seeds 1..reps), sparse
(4,000 persons × 25 of 50 items), speed (300 items × 10,000 persons × 60 responses), scale
(2,000 items × 100,000 persons × 100 responses, ours only, in a child process for its memory).
Every engine uses 41 quadrature points and stops at max |Δparameter| < 1e-4 where it lets us
set it; ours and mirt use c ~ Beta(5, 17), a ~ LogNormal(0, 0.5) and compute standard errors.
girth's threepl_mml has no priors, no standard errors and a fixed 1e-3 stopping rule on a.
Needs the bench extras: pip install mirt catsim.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

from bench._common import (
    dense_matrix,
    peak_rss_gib,
    print_kv,
    print_table,
    rmse,
    simulate_responses,
    timer,
)
from irt_models.calibration import calibrate_3pl

N_QUAD = 41
TOL = 1e-4


def run_ours(frame, n_items):
    with timer() as t:
        res = calibrate_3pl(frame, n_quad=N_QUAD, tol=TOL, min_respondents=1)
    it = res.items.set_index("item").loc[np.arange(n_items)]
    return {
        "a": it["a"].to_numpy(), "b": it["b"].to_numpy(), "c": it["c"].to_numpy(),
        "se_b": it["se_b"].to_numpy(), "nan_se": int(it[["se_a", "se_b", "se_c"]].isna().sum().sum()),
        "s": t["s"], "iterations": res.iterations, "converged": res.converged,
    }  # fmt: skip


def run_mirt(frame, n_persons, n_items):
    from mirt import fit_mirt
    from mirt.estimation.priors import BetaPrior, LogNormalPrior

    data = dense_matrix(frame, n_persons, n_items)
    priors = {"discrimination": LogNormalPrior(0.0, 0.5), "guessing": BetaPrior(5.0, 17.0)}
    with timer() as t:
        fit = fit_mirt(data, model="3PL", n_quadpts=N_QUAD, tol=TOL, max_iter=2000, priors=priors)
    par, se = fit.model.parameters, fit.standard_errors
    se_b = np.ravel(se.get("difficulty", np.full(n_items, np.nan)))
    return {
        "a": np.ravel(par["discrimination"]), "b": np.ravel(par["difficulty"]),
        "c": np.ravel(par["guessing"]), "se_b": se_b,
        "nan_se": int(sum(np.isnan(np.ravel(v)).sum() for v in se.values())),
        "s": t["s"], "iterations": fit.n_iterations, "converged": bool(fit.converged),
    }  # fmt: skip


def run_girth(frame, n_persons, n_items):
    import girth
    from girth.utilities.utils import INVALID_RESPONSE

    data = dense_matrix(frame, n_persons, n_items, missing=INVALID_RESPONSE).T.astype(int)
    with timer() as t:
        est = girth.threepl_mml(data, {"quadrature_n": N_QUAD})
    nan = np.full(n_items, np.nan)
    return {
        "a": est["Discrimination"], "b": est["Difficulty"], "c": est["Guessing"], "se_b": nan,
        "nan_se": n_items * 3, "s": t["s"], "iterations": -1, "converged": True,
    }  # fmt: skip


def run_design(name, seeds, n_persons, n_items, per_person, engines):
    """Fit every engine on the same data for each seed; pooled RMSE, coverage, time."""
    acc = {
        e: {"a": [], "b": [], "c": [], "cover": [], "nan_se": 0, "s": [], "it": []} for e in engines
    }
    for seed in seeds:
        frame, a, b, c = simulate_responses(seed, n_persons, n_items, per_person)
        for eng in engines:
            if eng == "ours":
                out = run_ours(frame, n_items)
            elif eng == "mirt":
                out = run_mirt(frame, n_persons, n_items)
            else:
                out = run_girth(frame, n_persons, n_items)
            st = acc[eng]
            st["a"].append(out["a"] - a)
            st["b"].append(out["b"] - b)
            st["c"].append(out["c"] - c)
            st["cover"].append(np.abs(out["b"] - b) <= 1.959964 * out["se_b"])
            st["nan_se"] += out["nan_se"]
            st["s"].append(out["s"])
            st["it"].append(out["iterations"])
            print(f"  {name} seed={seed} {eng}: {out['s']:.2f}s it={out['iterations']}",
                  file=sys.stderr)  # fmt: skip
    rows = []
    for eng, st in acc.items():
        cover = np.concatenate(st["cover"])
        rows.append({
            "design": name, "engine": eng,
            "rmse_a": rmse(np.concatenate(st["a"]), 0), "rmse_b": rmse(np.concatenate(st["b"]), 0),
            "rmse_c": rmse(np.concatenate(st["c"]), 0),
            "cover_b": float(cover.mean()) if eng != "girth" else float("nan"),
            "nan_se": st["nan_se"] if eng != "girth" else "n/a",
            "mean_s": float(np.mean(st["s"])), "mean_iter": float(np.mean(st["it"])),
        })  # fmt: skip
    return rows


def scale_child(n_persons: int, n_items: int, per_person: int) -> None:
    """Runs in a child process: generate, calibrate, print JSON with time and peak memory."""
    frame, a, b, c = simulate_responses(7, n_persons, n_items, per_person)
    data_gib = peak_rss_gib()
    with timer() as t:
        res = calibrate_3pl(frame, n_quad=N_QUAD, tol=TOL)
    it = res.items.set_index("item").loc[np.arange(n_items)]
    print(json.dumps({
        "s": t["s"], "peak_gib": peak_rss_gib(), "data_gib": data_gib,
        "iterations": res.iterations, "converged": res.converged,
        "rmse_a": rmse(it["a"], a), "rmse_b": rmse(it["b"], b), "rmse_c": rmse(it["c"], c),
        "nan_se": int(it[["se_a", "se_b", "se_c"]].isna().sum().sum()),
        "n_responses": res.n_responses,
    }))  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--reps", type=int, default=10, help="replications (seeds 1..reps)")
    ap.add_argument("--designs", default="recovery,sparse,speed,scale")
    ap.add_argument("--engines", default="ours,mirt,girth")
    ap.add_argument("--speed-persons", type=int, default=10_000)
    ap.add_argument("--scale-persons", type=int, default=100_000)
    ap.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.scale_child:
        scale_child(args.scale_persons, 2000, 100)
        return
    designs = args.designs.split(",")
    engines = args.engines.split(",")
    seeds = range(1, args.reps + 1)
    rows, kv = [], {}
    if "recovery" in designs:
        rows += run_design("recovery", seeds, 2000, 50, None, engines)
    if "sparse" in designs:
        rows += run_design("sparse", seeds, 4000, 50, 25, engines)
    if "speed" in designs:
        rows += run_design("speed", [1], args.speed_persons, 300, 60, engines)
    if rows:
        print_table("calibration: ours vs mirt vs girth", rows)
    by = {(r["design"], r["engine"]): r for r in rows}
    for (design, eng), r in by.items():
        for key in ("rmse_a", "rmse_b", "rmse_c"):
            kv[f"{design}_{key}_{eng}"] = r[key]
        if eng != "girth":
            kv[f"{design}_cover_b_{eng}"] = r["cover_b"]
            kv[f"{design}_nan_se_{eng}"] = r["nan_se"]
        kv[f"{design}_s_{eng}"] = r["mean_s"]
    if ("speed", "ours") in by:
        ours = by[("speed", "ours")]["mean_s"]
        for eng in ("girth", "mirt"):
            if ("speed", eng) in by:
                kv[f"speedup_vs_{eng}"] = by[("speed", eng)]["mean_s"] / ours
    if "scale" in designs:
        cmd = [sys.executable, "-m", "bench.calibration", "--scale-child",
               "--scale-persons", str(args.scale_persons)]  # fmt: skip
        out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        print_table("scale: 2,000 items × persons × 100 responses (ours)", [out])
        kv.update({f"scale_{k}": v for k, v in out.items()})
    print_kv(kv)


if __name__ == "__main__":
    main()
