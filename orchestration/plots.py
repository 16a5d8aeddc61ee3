"""PNG plots for asset metadata (matplotlib's object API: no pyplot state, no display)."""

from __future__ import annotations

import base64
import io

import dagster as dg
import numpy as np
from matplotlib.figure import Figure

from irt_models.model import info_3pl, prob_3pl

THETA = np.linspace(-4, 4, 161)


def as_markdown(fig: Figure, alt: str) -> dg.MetadataValue:
    """The figure as a PNG embedded in markdown (rendered by the Dagster UI)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode()
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{data})")


def item_characteristic_curves(a, b, c, labels, title: str, max_items: int = 12) -> Figure:
    """P(θ) of up to `max_items` items spread over the difficulty range."""
    # Positions, never labels: a filtered pandas column keeps its gappy index.
    a, b, c = (np.asarray(v, dtype=float) for v in (a, b, c))
    labels = list(labels)
    order = np.argsort(b)
    pick = order[np.linspace(0, len(order) - 1, min(max_items, len(order))).astype(int)]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    p = prob_3pl(THETA, a[pick], b[pick], c[pick])
    for j, i in enumerate(pick):
        ax.plot(THETA, p[:, j], lw=1.2, label=str(labels[i]))
    ax.set(xlabel="θ", ylabel="P(correct)", title=title, ylim=(0, 1))
    ax.legend(fontsize=6, ncol=2, title="version", title_fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def information_curves(curves: dict[str, tuple], title: str) -> Figure:
    """Test information Σ I_i(θ) and its SE 1/√I for each bank in `curves` (label → a, b, c)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    ax2 = ax.twinx()
    for label, (a, b, c) in curves.items():
        info = info_3pl(THETA, a, b, c).sum(axis=-1)
        ax.plot(THETA, info, lw=1.5, label=label)
        ax2.plot(THETA, 1 / np.sqrt(np.maximum(info, 1e-9)), lw=0.8, ls="--")
    ax.set(xlabel="θ", ylabel="test information", title=title)
    ax2.set(ylabel="SE(θ) (dashed)", ylim=(0, 2))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def exposure_histogram(exposures: dict[str, np.ndarray], r_max: float, title: str) -> Figure:
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    bins = np.linspace(
        0, max(r_max * 1.6, max((e.max() for e in exposures.values()), default=0)), 25
    )
    for label, e in exposures.items():
        ax.hist(e, bins=bins, alpha=0.6, label=label)
    ax.axvline(r_max, color="red", ls="--", label=f"r_max = {r_max}")
    ax.set(xlabel="exposure rate", ylabel="items", title=title)
    ax.legend(fontsize=7)
    return fig


def theta_recovery(theta, theta_hat, lengths, title: str) -> Figure:
    fig = Figure(figsize=(9, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    ax1.scatter(theta, theta_hat, s=4, alpha=0.4)
    ax1.plot([-4, 4], [-4, 4], color="grey", lw=0.8)
    ax1.set(xlabel="true θ", ylabel="estimated θ", title=title)
    ax2.hist(lengths, bins=np.arange(0.5, lengths.max() + 1.5), color="tab:green")
    ax2.set(xlabel="test length", ylabel="simulees", title="length to SE ≤ stop")
    return fig
