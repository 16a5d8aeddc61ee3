"""CAT benchmark: irt_models vs catsim, and Sympson-Hetter exposure control.

    python -m bench.cat                          # the issue's sizes
    python -m bench.cat --simulees 500 --sh-simulees 1000

CAT (issue 3): bank of 1,000 items, a ~ lognormal(ln 1.4, 0.25), b ~ N(0, 1), c ~ U(0.1, 0.25);
2,000 simulees θ ~ N(0, 1); both engines start at θ = 0, pick maximum Fisher information and stop
when 1/√(test information at θ̂) < 0.3 or at 100 items. catsim estimates θ by maximum likelihood
(with Dodd's heuristic for constant patterns), ours by EAP with a N(0, 1) prior.
Sympson-Hetter: 300 items of the same kind, length 30, r_max 0.25; K after iteration 10 is
measured on 5,000 fresh simulees against the same CAT without exposure control.
Needs the bench extras: pip install mirt catsim.
"""

from __future__ import annotations

import argparse

import numpy as np

from bench._common import print_kv, print_table, timer
from irt_models.exposure import sympson_hetter
from irt_models.selection import ItemPool
from irt_models.simulation import CatPolicy, overlap_rate, simulate_cat


def make_bank(n_items: int, seed: int) -> ItemPool:
    rng = np.random.default_rng(seed)
    a = rng.lognormal(np.log(1.4), 0.25, n_items)
    b = rng.standard_normal(n_items)
    c = rng.uniform(0.1, 0.25, n_items)
    return ItemPool.build(a, b, c)


def run_catsim(pool: ItemPool, thetas, se_stop: float, max_items: int, seed: int) -> dict:
    from catsim.estimation import NumericalSearchEstimator
    from catsim.initialization import FixedPointInitializer
    from catsim.selection import MaxInfoSelector
    from catsim.simulation import Simulator
    from catsim.stopping import MinErrorStopper

    items = np.column_stack([pool.a, pool.b, pool.c, np.ones(pool.n_items)])
    sim = Simulator(
        items,
        np.asarray(thetas),
        FixedPointInitializer(0.0),
        MaxInfoSelector(),
        NumericalSearchEstimator(),
        MinErrorStopper(se_stop, max_items=max_items),
        seed=seed,
    )
    with timer() as t:
        sim.simulate()
    est = np.array([e[-1] for e in sim.estimations])
    lengths = np.array([len(x) for x in sim.administered_items])
    counts = np.bincount(np.concatenate(sim.administered_items).astype(int), minlength=pool.n_items)
    err = est - thetas
    return {
        "engine": "catsim", "mean_length": lengths.mean(), "p90_length": np.percentile(lengths, 90),
        "rmse": float(np.sqrt(np.mean(err**2))), "bias": float(err.mean()),
        "max_exposure": counts.max() / thetas.size, "pool_usage": float((counts > 0).mean()),
        "overlap": overlap_rate(counts, thetas.size, lengths.mean()), "s": t["s"],
    }  # fmt: skip


def run_ours(pool: ItemPool, thetas, policy: CatPolicy, seed: int, label: str) -> dict:
    with timer() as t:
        rep = simulate_cat(pool, thetas, policy, seed=seed)
    return {
        "engine": label, "mean_length": rep.mean_length, "p90_length": rep.p90_length,
        "rmse": rep.rmse, "bias": rep.bias, "max_exposure": rep.max_exposure,
        "pool_usage": rep.pool_usage, "overlap": rep.overlap_rate, "s": t["s"],
    }  # fmt: skip


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--simulees", type=int, default=2000)
    ap.add_argument("--sh-simulees", type=int, default=5000, help="per SH iteration and fresh")
    ap.add_argument("--sh-iterations", type=int, default=10)
    ap.add_argument("--no-catsim", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    kv: dict = {}

    pool = make_bank(1000, args.seed)
    thetas = np.random.default_rng(args.seed + 100).standard_normal(args.simulees)
    policy = CatPolicy(max_length=100, se_stop=0.3, se_kind="information")
    rows = [run_ours(pool, thetas, policy, args.seed, "ours")]
    if not args.no_catsim:
        rows.append(run_catsim(pool, thetas, 0.3, 100, args.seed))
    print_table("CAT to SE < 0.3 (information at θ̂), 1,000 items", rows)
    for r in rows:
        for key in ("mean_length", "p90_length", "rmse", "bias", "max_exposure", "s"):
            kv[f"cat_{key}_{r['engine']}"] = r[key]

    sh_pool = make_bank(300, args.seed + 1)
    with timer() as t:
        sh = sympson_hetter(sh_pool, 0.25, test_length=30, n_simulees=args.sh_simulees,
                            n_iter=args.sh_iterations, seed=args.seed + 2)  # fmt: skip
    fresh = np.random.default_rng(args.seed + 3).standard_normal(args.sh_simulees)
    fixed = CatPolicy(max_length=30)
    controlled = ItemPool.build(sh_pool.a, sh_pool.b, sh_pool.c, sh.K)
    sh_rows = [
        run_ours(sh_pool, fresh, fixed, args.seed + 4, "no control"),
        run_ours(controlled, fresh, CatPolicy(max_length=30, sympson_hetter=True),
                 args.seed + 4, "sympson-hetter"),
    ]  # fmt: skip
    print_table("Sympson-Hetter, 300 items, length 30, r_max 0.25, fresh simulees", sh_rows)
    print("max exposure per SH iteration:", " ".join(f"{x:.3f}" for x in sh.max_exposure))
    kv["sh_iterations_s"] = t["s"]
    kv["sh_max_exposure"] = sh_rows[1]["max_exposure"]
    kv["sh_max_exposure_no_control"] = sh_rows[0]["max_exposure"]
    kv["sh_rmse"] = sh_rows[1]["rmse"]
    kv["sh_rmse_no_control"] = sh_rows[0]["rmse"]
    kv["sh_rmse_ratio"] = sh_rows[1]["rmse"] / sh_rows[0]["rmse"]
    kv["sh_overlap"] = sh_rows[1]["overlap"]
    print_kv(kv)


if __name__ == "__main__":
    main()
