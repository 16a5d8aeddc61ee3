"""Scale linking of a free calibration onto a reference (live) scale, and anchor drift after it.

A free calibration sits on its own sample's N(0, 1) scale. The common items (anchors) put it on
the reference scale by a linear transformation θ_ref = A·θ_free + B, under which the 3PL item
parameters become a* = a/A, b* = A·b + B, c* = c (Kolen & Brennan 2014, §6.2).

- `mean_sigma`: A = SD(b_ref)/SD(b_free), B = mean(b_ref) − A·mean(b_free) (Marco 1977).
- `stocking_lord`: the characteristic-curve method of Stocking & Lord (1983): A, B minimise the
  squared difference between the test characteristic curves of the anchors on the two scales,
  integrated over the free sample's latent density; mean-sigma is its starting point and its
  fallback.
- `link_anchors`: robust linking with drift screening (iterative purification of the anchor set,
  in the spirit of Candell & Drasgow 1988): link, flag the anchor whose linked parameters moved
  most beyond its standard errors, link again without it, until no anchor is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

__all__ = ["AnchorLink", "Link", "link_anchors", "mean_sigma", "stocking_lord"]

# Bounds of the Stocking-Lord search. A is the ratio of the two samples' ability SDs: outside
# [0.2, 5] the optimiser has run off (or the anchors carry no information), not found a cohort.
_A_BOUNDS = (0.2, 5.0)
_B_BOUNDS = (-5.0, 5.0)


def mean_sigma(b_new, b_ref) -> tuple[float, float]:
    """Slope A and intercept B of the mean-sigma link taking the new scale onto the reference.

    A = SD(b_ref)/SD(b_new), B = mean(b_ref) − A·mean(b_new) (Marco 1977; Kolen & Brennan 2014,
    eq. 6.9-6.10); A = 1 when the new b have no spread.
    """
    b_new, b_ref = np.asarray(b_new, dtype=float), np.asarray(b_ref, dtype=float)
    if b_new.size < 2 or b_new.size != b_ref.size:
        raise ValueError("mean-sigma linking needs at least two common items, aligned")
    sd_new = b_new.std()
    A = float(b_ref.std() / sd_new) if sd_new > 0 else 1.0
    return A, float(b_ref.mean() - A * b_new.mean())


@dataclass(frozen=True)
class Link:
    """θ_ref = A·θ_free + B, found by ``method`` ("stocking_lord" or "mean_sigma")."""

    A: float
    B: float
    method: str
    converged: bool
    loss: float
    iterations: int


def _tcc(theta, a, b, c):
    """Test characteristic curve Σ_j c_j + (1 − c_j)/(1 + exp(−a_j(θ − b_j))) at each θ."""
    p = c[None, :] + (1.0 - c[None, :]) * expit(a[None, :] * (theta[:, None] - b[None, :]))
    return p.sum(axis=1)


def stocking_lord(a_free, b_free, c_free, a_ref, b_ref, c_ref, *, theta=None, weights=None) -> Link:
    """Stocking-Lord (1983) linking constants A, B with θ_ref = A·θ_free + B.

    Minimises F(A, B) = Σ_q w_q [T_ref(A·θ_q + B) − T_free(θ_q)]² / Σ_q w_q over points θ_q of
    the free scale, where T_ref is the anchors' test characteristic curve with the reference
    parameters and T_free with the free ones (a free item transformed by a/A, A·b + B evaluated
    at A·θ + B is the free item at θ, so this is the criterion of Kolen & Brennan 2014, eq. 6.23,
    written on the new scale). Default points: 81 on [−4, 4] weighted by N(0, 1), the latent
    density of a free calibration. L-BFGS-B from the mean-sigma solution; if it fails, or A
    ends on its bound [0.2, 5], the mean-sigma constants are returned with ``converged`` False
    for the Stocking-Lord step (``method`` says which constants these are).
    """
    a_free, b_free, c_free, a_ref, b_ref, c_ref = (
        np.asarray(x, dtype=float).ravel() for x in (a_free, b_free, c_free, a_ref, b_ref, c_ref)
    )
    n = a_free.size
    if n < 2 or not all(x.size == n for x in (b_free, c_free, a_ref, b_ref, c_ref)):
        raise ValueError("Stocking-Lord linking needs at least two common items, aligned")
    if theta is None:
        theta = np.linspace(-4.0, 4.0, 81)
        weights = np.exp(-0.5 * theta**2)
    theta = np.asarray(theta, dtype=float)
    w = np.ones_like(theta) if weights is None else np.asarray(weights, dtype=float)
    w = w / w.sum()
    target = _tcc(theta, a_free, b_free, c_free)

    def loss(x):
        """F(A, B) per item and its analytic gradient (T'_ref = Σ_j (1 − c_j)·a_j·s_j(1 − s_j))."""
        A, B = x
        t = A * theta + B
        s = expit(a_ref[None, :] * (t[:, None] - b_ref[None, :]))
        diff = (c_ref[None, :] + (1.0 - c_ref[None, :]) * s).sum(axis=1) - target
        slope = ((1.0 - c_ref) * a_ref)[None, :] * s * (1.0 - s)
        d_t = slope.sum(axis=1)
        wd = 2.0 * w * diff / n  # per item, so the tolerance means the same for any n
        return float(w @ diff**2) / n, np.array([wd @ (d_t * theta), wd @ d_t])

    A0, B0 = mean_sigma(b_free, b_ref)
    A0 = float(np.clip(A0, *_A_BOUNDS))
    B0 = float(np.clip(B0, *_B_BOUNDS))
    res = minimize(
        loss, [A0, B0], jac=True, method="L-BFGS-B", bounds=[_A_BOUNDS, _B_BOUNDS],
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 500},
    )  # fmt: skip
    A, B = (float(v) for v in res.x)
    on_bound = not (_A_BOUNDS[0] + 1e-6 < A < _A_BOUNDS[1] - 1e-6)
    # A line search that stalls at a loss of ~1e-16 has found the minimum (exact data): judge by
    # the gradient there, not only by the optimiser's flag.
    ok = res.success or float(np.abs(res.jac).max()) < 1e-6
    if not ok or on_bound or not np.isfinite(res.fun):
        return Link(A0, B0, "mean_sigma", False, loss([A0, B0])[0], int(res.nit))
    return Link(A, B, "stocking_lord", True, float(res.fun), int(res.nit))


@dataclass
class AnchorLink:
    """Outcome of `link_anchors`.

    ``items``: one row per anchor — item; a_ref, b_ref, c_ref, se_a_ref, se_b_ref; a_free,
    b_free, c_free, se_a_free, se_b_free; a_linked, b_linked (free estimates on the reference
    scale under the final link), delta_a, delta_b (linked − reference), se_delta_b, z
    (delta_b/se_delta_b), judged (a usable free estimate existed), flagged, reason. ``rounds``:
    links computed (one per purification step).
    """

    link: Link | None
    items: pd.DataFrame
    rounds: int
    # Stopped at max_drop_share with anchors in the set still beyond their limits.
    exhausted: bool

    @property
    def flagged(self) -> pd.DataFrame:
        """The anchors judged to have drifted."""
        return self.items[self.items["flagged"]]

    @property
    def kept(self) -> pd.DataFrame:
        """The anchors that stay anchors (not flagged, judged or not)."""
        return self.items[~self.items["flagged"]]


def _judge(df, A, B, min_shift, z_limit, a_ratio):
    """Linked parameters, differences and the per-anchor verdict (severity > 1 = drifted)."""
    df = df.copy()
    df["a_linked"] = df["a_free"] / A
    df["b_linked"] = A * df["b_free"] + B
    df["delta_a"] = df["a_linked"] - df["a_ref"]
    df["delta_b"] = df["b_linked"] - df["b_ref"]
    # The two estimates come from different calibrations; treated as independent (conservative
    # when the samples overlap, as nightly re-estimations do: then the true SE is smaller).
    se_db = np.sqrt(df["se_b_ref"].fillna(0.0) ** 2 + (A * df["se_b_free"].fillna(0.0)) ** 2)
    se_da = np.sqrt(df["se_a_ref"].fillna(0.0) ** 2 + (df["se_a_free"].fillna(0.0) / A) ** 2)
    df["se_delta_b"] = se_db
    with np.errstate(divide="ignore", invalid="ignore"):
        df["z"] = df["delta_b"] / se_db
    limit_b = np.maximum(min_shift, z_limit * se_db)
    sev_b = df["delta_b"].abs() / limit_b
    # a: both practically large (ratio beyond a_ratio either way) and beyond z_limit SEs.
    log_ratio = np.abs(np.log(df["a_linked"] / df["a_ref"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        sev_a = np.minimum(
            log_ratio / np.log(a_ratio),
            df["delta_a"].abs() / np.where(se_da > 0, z_limit * se_da, np.inf),
        )
    df["severity_b"] = sev_b.where(df["judged"], 0.0)
    df["severity_a"] = pd.Series(np.asarray(sev_a), index=df.index).where(df["judged"], 0.0)
    df["limit_b"] = limit_b
    return df


def _reason(r) -> str:
    if r.severity_b >= r.severity_a:
        return (
            f"drift: linked Δb = {r.delta_b:+.2f} beyond max(0.3, 3·SE) = {r.limit_b:.2f} "
            f"(z = {r.z:+.1f})"
        )
    return f"drift: linked a changed from {r.a_ref:.2f} to {r.a_linked:.2f} (Δa = {r.delta_a:+.2f})"


def link_anchors(
    free: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    min_shift: float = 0.3,
    z_limit: float = 3.0,
    a_ratio: float = 1.5,
    max_drop_share: float = 0.5,
) -> AnchorLink:
    """Link a free re-estimation onto the reference scale through the anchors, dropping drifters.

    ``free``: item, a, b, c, se_a, se_b (a free calibration, e.g. `CalibrationResult.items`).
    ``reference``: item, a, b, c, se_a, se_b (the anchors' published parameters). Each round
    links the anchors still in the set by `stocking_lord`, puts every anchor's free estimate on
    the reference scale (a* = a/A, b* = A·b + B) and judges it: drifted when
    |Δb| > max(``min_shift``, ``z_limit``·√(SE_ref(b)² + (A·SE_free(b))²)), or when a* differs
    from a_ref by more than a factor ``a_ratio`` and by more than ``z_limit`` SEs. The anchor
    with the largest excess leaves the set and the link is computed again — one at a time, so
    a few large drifts cannot drag the link and make stable anchors look drifted (masking).
    Stops when no anchor in the set is drifted, or when ``max_drop_share`` of the judged anchors
    have left (beyond that the link itself is not trustworthy; the caller decides what to do).
    Anchors without a finite free estimate are not judged (kept, ``judged`` False). With fewer
    than two judged anchors there is no link (``link`` None).
    """
    ref_cols = ["item", "a", "b", "c", "se_a", "se_b"]
    ref = reference.reindex(columns=ref_cols)
    fr = free.reindex(columns=ref_cols)
    df = ref.merge(fr, on="item", how="left", suffixes=("_ref", "_free"))
    vals = df[["a_free", "b_free", "c_free"]].to_numpy(dtype=float)
    df["judged"] = np.isfinite(vals).all(axis=1) & (df["a_free"].to_numpy(dtype=float) > 0)
    df["flagged"] = False
    df["reason"] = np.where(df["judged"], "", "not re-estimated: no usable free estimate")
    judged = df["judged"].to_numpy()
    if judged.sum() < 2:
        out = df.assign(a_linked=np.nan, b_linked=np.nan, delta_a=np.nan, delta_b=np.nan,
                        se_delta_b=np.nan, z=np.nan)  # fmt: skip
        return AnchorLink(None, out, 0, False)

    in_set = judged.copy()
    max_drops = int(np.floor(max_drop_share * judged.sum()))
    rounds = 0
    while True:
        s = df[in_set]
        link = stocking_lord(
            s["a_free"], s["b_free"], s["c_free"], s["a_ref"], s["b_ref"], s["c_ref"]
        )
        rounds += 1
        judged_df = _judge(df, link.A, link.B, min_shift, z_limit, a_ratio)
        sev = np.maximum(judged_df["severity_b"], judged_df["severity_a"]).to_numpy()
        sev = np.where(in_set, sev, 0.0)
        worst = int(np.argmax(sev))
        n_dropped = int((judged & ~in_set).sum())
        exhausted = sev[worst] > 1.0 and (n_dropped >= max_drops or in_set.sum() <= 2)
        if sev[worst] <= 1.0 or exhausted:
            break
        in_set[worst] = False

    judged_df["flagged"] = judged & ~in_set
    reasons = judged_df["reason"].to_numpy(dtype=object)
    for i in np.flatnonzero(judged_df["flagged"].to_numpy()):
        reasons[i] = _reason(judged_df.iloc[i])
    judged_df["reason"] = reasons
    keep = [
        "item", "a_ref", "b_ref", "c_ref", "se_a_ref", "se_b_ref", "a_free", "b_free", "c_free",
        "se_a_free", "se_b_free", "a_linked", "b_linked", "delta_a", "delta_b", "se_delta_b", "z",
        "judged", "flagged", "reason",
    ]  # fmt: skip
    return AnchorLink(link, judged_df[keep], rounds, bool(exhausted))
