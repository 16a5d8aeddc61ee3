"""Next-item selection for adaptive (and random-order) quizzes under blueprint quotas and exposure.

Rules (SPEC section 4), applied to one student (`select_next_item`) or many at once
(`select_batch`, used by the simulations so they follow exactly the rules the API follows):

1. eligible: not yet served; not in a quota topic whose quota is used up; once the remaining
   positions equal the remaining quota, only items that count toward an open quota;
2. the daily cap: capped items are excluded, unless that leaves nothing eligible, in which case
   the cap is relaxed (a quota never is);
3. candidates in order of Fisher information at θ (van der Linden & Pashley 2010), the first
   ``randomesque_k`` in random order (randomesque, Kohrt & Zara 1989), then the rest by
   information;
4. Sympson-Hetter (1985): each candidate is accepted with probability K_i; the first accepted is
   served. As in the original procedure, a rejected item is set aside for the rest of the test
   (the caller passes it back in ``rejected_mask``; `Selection.rejected` lists this decision's).
   If every candidate is rejected the lottery is drawn again among them with their K (never
   "serve the top one"); after ``max_redraws`` passes one is drawn with probability ∝ K (equal
   chances when every K is 0). When the set-aside items are all that is left, they come back;
5. nothing eligible: status ``pool_exhausted``.

Non-adaptive mode serves a uniformly random eligible item under the same quotas and cap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.special import expit

from irt_models._types import BoolArray, FloatArray, IntArray
from irt_models.model import info_3pl

__all__ = ["ItemPool", "Selection", "select_batch", "select_next_item"]

OK = "ok"
POOL_EXHAUSTED = "pool_exhausted"


@dataclass(frozen=True, eq=False)
class ItemPool:
    """Item arrays (a, b, c, Sympson-Hetter K) and a boolean items × quota-topics membership.

    ``membership[i, t]`` is True when item i counts toward quota topic t; the caller has already
    resolved "a quota on a topic includes its subtopics". Build once, reuse for every decision.
    """

    a: FloatArray
    b: FloatArray
    c: FloatArray
    K: FloatArray
    membership: BoolArray
    _info_scale: FloatArray = field(init=False, repr=False)  # a²(1 − c)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_info_scale", self.a * self.a * (1.0 - self.c))

    @classmethod
    def build(
        cls,
        a: npt.ArrayLike,
        b: npt.ArrayLike,
        c: npt.ArrayLike,
        K: npt.ArrayLike | None = None,
        membership: npt.ArrayLike | None = None,
    ) -> ItemPool:
        """Validate and freeze the arrays; K defaults to 1 and membership to no quota topics."""
        a = np.asarray(a, dtype=float)
        n = a.size
        b = np.asarray(b, dtype=float).reshape(n)
        c = np.asarray(c, dtype=float).reshape(n)
        k = np.ones(n) if K is None else np.clip(np.asarray(K, dtype=float).reshape(n), 0, 1)
        m = np.zeros((n, 0), bool) if membership is None else np.asarray(membership, bool)
        if m.ndim != 2 or m.shape[0] != n:
            raise ValueError(f"membership must be items × topics with {n} rows (got {m.shape})")
        for arr in (a, b, c, k, m):
            arr.setflags(write=False)
        return cls(a=a, b=b, c=c, K=k, membership=m)

    @property
    def n_items(self) -> int:
        """Number of items in the pool."""
        return self.a.size

    def information_at(self, theta: float, idx: IntArray) -> FloatArray:
        """3PL information of items ``idx`` at one θ: `info_3pl`'s formula, written for the
        single-student path (no broadcasting set-up, a²(1 − c) computed once per pool)."""
        c = self.c[idx]
        s: FloatArray = expit(self.a[idx] * (theta - self.b[idx]))  # scipy has no type information
        den = (1.0 - c) * s
        den += c
        np.maximum(den, 1e-300, out=den)
        num = (1.0 - s) * s
        num *= s
        num *= self._info_scale[idx]
        num /= den
        return num

    @property
    def n_topics(self) -> int:
        """Number of quota topics (columns of ``membership``)."""
        topics: int = self.membership.shape[1]  # numpy types shape entries as Any
        return topics


@dataclass(frozen=True)
class Selection:
    """One decision: the chosen item index (None when exhausted) and what it took."""

    index: int | None
    status: str
    cap_relaxed: bool = False
    sh_redraws: int = 0
    rejected: tuple[int, ...] = ()


def eligibility(
    pool: ItemPool,
    served: npt.ArrayLike,
    quota_remaining: npt.ArrayLike | None,
    positions_remaining: npt.ArrayLike | None,
    capped: npt.ArrayLike | None,
    rejected: npt.ArrayLike | None = None,
) -> tuple[BoolArray, BoolArray]:
    """Eligible mask (m × n) under served items, quotas, SH set-asides and the cap, and which rows
    relaxed the cap. Quota rule: items of a used-up quota topic are out; when
    positions_remaining ≤ Σ open quota, only items counting toward an open quota are in. A
    negative quota_remaining means that row has no quota on that topic (simulations of traffic
    in which quizzes have different quotas over one pool).
    Set-aside (``rejected``) items and capped items are soft: dropped only if something is left."""
    elig = ~np.asarray(served, dtype=bool)
    if pool.n_topics:
        if quota_remaining is None or positions_remaining is None:
            raise ValueError(
                "a pool with quota topics needs quota_remaining and positions_remaining"
            )
        quota = np.asarray(quota_remaining, dtype=np.int64).reshape(elig.shape[0], pool.n_topics)
        mem_t = pool.membership.T.astype(np.float32)
        blocked = (quota == 0).astype(np.float32) @ mem_t > 0
        elig &= ~blocked
        tight = np.asarray(positions_remaining).reshape(-1) <= np.clip(quota, 0, None).sum(1)
        if tight.any():
            counts = (quota[tight] > 0).astype(np.float32) @ mem_t > 0
            elig[tight] &= counts
    if rejected is not None:
        strict = elig & ~np.asarray(rejected, dtype=bool)
        elig = np.where(strict.any(axis=1)[:, None], strict, elig)
    relaxed = np.zeros(elig.shape[0], dtype=bool)
    if capped is not None:
        capped = np.broadcast_to(np.asarray(capped, dtype=bool), elig.shape)
        strict = elig & ~capped
        relaxed = ~strict.any(axis=1) & elig.any(axis=1)
        elig = np.where(relaxed[:, None], elig, strict)
    return elig, relaxed


def _one_pass(
    info: FloatArray,
    elig: BoolArray,
    K: FloatArray,
    rng: np.random.Generator,
    k: int,
    use_sh: bool,
) -> tuple[IntArray, BoolArray]:
    """One Sympson-Hetter pass per row. Returns (chosen index or −1, boolean "considered" mask)."""
    m, n = info.shape
    accepted = elig & (rng.random((m, n)) < K) if use_sh else elig
    rows = np.arange(m)
    key = np.where(elig, info, -np.inf)
    chosen = np.full(m, -1)
    if k > 1:
        kk = min(k, n)
        top = np.argpartition(-key, kk - 1, axis=1)[:, :kk]
        in_top = np.zeros((m, n), dtype=bool)
        in_top[rows[:, None], top] = True
        in_top &= elig
        order = np.where(in_top, rng.random((m, n)), np.inf)  # random order within the top k
        top_acc = np.where(accepted & in_top, order, np.inf)
        first_top = np.argmin(top_acc, axis=1)
        hit = np.isfinite(top_acc[rows, first_top])
        chosen[hit] = first_top[hit]
        rest_acc = np.where(accepted & ~in_top, key, -np.inf)
    else:
        in_top = np.zeros((m, n), dtype=bool)
        order = None
        hit = np.zeros(m, dtype=bool)
        rest_acc = np.where(accepted, key, -np.inf)
    best = np.argmax(rest_acc, axis=1)
    ok = ~hit & np.isfinite(rest_acc[rows, best])
    chosen[ok] = best[ok]
    # considered: every candidate met before the accepted one (all eligible ones if none was)
    considered = elig.copy()
    if order is not None and hit.any():  # hit is all False when order is None (k = 1)
        considered[hit] = in_top[hit] & (order[hit] <= order[hit, first_top[hit]][:, None])
    if ok.any():
        considered[ok] = in_top[ok] | (elig[ok] & (key[ok] >= key[ok, best[ok]][:, None]))
    return chosen, considered


def select_batch(
    pool: ItemPool,
    theta: npt.ArrayLike,
    *,
    served: npt.ArrayLike,
    quota_remaining: npt.ArrayLike | None = None,
    positions_remaining: npt.ArrayLike | None = None,
    capped: npt.ArrayLike | None = None,
    rejected: npt.ArrayLike | None = None,
    rng: np.random.Generator,
    randomesque_k: int = 1,
    use_sympson_hetter: bool = True,
    adaptive: bool = True,
    max_redraws: int = 100,
) -> tuple[IntArray, BoolArray, npt.NDArray[np.int64], BoolArray]:
    """Apply the selection rules to m students at once (rows of ``served`` etc.).

    Returns (index (m,) with −1 where the pool is exhausted, cap_relaxed (m,), sh_redraws (m,),
    considered (m × n): the items put to the SH lottery in this decision — the event S_i of
    Sympson & Hetter 1985 — all of them but the chosen one rejected).
    """
    served = np.atleast_2d(np.asarray(served, dtype=bool))
    m, n = served.shape
    if n != pool.n_items:
        raise ValueError(f"served has {n} columns but the pool has {pool.n_items} items")
    elig, relaxed = eligibility(
        pool, served, quota_remaining, positions_remaining, capped, rejected
    )
    chosen = np.full(m, -1)
    redraws = np.zeros(m, dtype=np.int64)
    considered = np.zeros((m, n), dtype=bool)
    live = np.flatnonzero(elig.any(axis=1))
    if live.size == 0:
        return chosen, relaxed, redraws, considered
    if not adaptive:
        key = np.where(elig[live], rng.random((live.size, n)), -1.0)
        chosen[live] = np.argmax(key, axis=1)
        considered[live, chosen[live]] = True
        return chosen, relaxed, redraws, considered
    th = np.asarray(theta, dtype=float).reshape(-1)
    th = np.broadcast_to(th, (m,))
    info = info_3pl(th[live], pool.a, pool.b, pool.c)
    K = pool.K
    if use_sympson_hetter:  # no K > 0 among the eligible: no pass can accept, go to the lottery
        hopeless = ~(elig[live] & (K > 0)).any(axis=1)
        for row in live[hopeless]:
            chosen[row] = rng.choice(np.flatnonzero(elig[row]))
            considered[row] = elig[row]
            redraws[row] = 1
        live, info = live[~hopeless], info[~hopeless]
    for attempt in range(max_redraws + 1):
        if live.size == 0:
            break
        pick, cons = _one_pass(info, elig[live], K, rng, randomesque_k, use_sympson_hetter)
        considered[live] |= cons
        done = pick >= 0
        chosen[live[done]] = pick[done]
        if done.all():
            break
        live, info = live[~done], info[~done]
        redraws[live] += 1
        if attempt == max_redraws:  # lottery ∝ K among the eligible (equal if all K are 0)
            for row in live:
                cand = np.flatnonzero(elig[row])
                wts = K[cand] if K[cand].sum() > 0 else np.ones(cand.size)
                chosen[row] = rng.choice(cand, p=wts / wts.sum())
    return chosen, relaxed, redraws, considered


def select_next_item(
    pool: ItemPool,
    theta: float,
    *,
    served_mask: npt.ArrayLike,
    quota_remaining: npt.ArrayLike | None = None,
    positions_remaining: int | None = None,
    capped_mask: npt.ArrayLike | None = None,
    rejected_mask: npt.ArrayLike | None = None,
    rng: np.random.Generator,
    randomesque_k: int = 1,
    use_sympson_hetter: bool = True,
    adaptive: bool = True,
) -> Selection:
    """The next item for one student: maximum 3PL information at θ under quotas, the daily cap
    and Sympson-Hetter (rules in the module docstring). ``served_mask``/``capped_mask`` are
    boolean per item, ``quota_remaining`` an int per quota topic (columns of
    ``pool.membership``); ``rejected_mask`` the items this student's earlier decisions set aside
    (`Selection.rejected`); ``adaptive=False`` serves a random eligible item instead."""
    served = np.asarray(served_mask, dtype=bool)[None, :]
    quota = None if quota_remaining is None else np.asarray(quota_remaining)[None]
    positions = None if positions_remaining is None else [positions_remaining]
    rejected = None if rejected_mask is None else np.asarray(rejected_mask, bool)[None, :]
    if adaptive and randomesque_k == 1 and served.shape[1] == pool.n_items:
        elig, relaxed = eligibility(pool, served, quota, positions, capped_mask, rejected)
        return _next_by_information(pool, theta, elig[0], bool(relaxed[0]), rng, use_sympson_hetter)
    chosen, relaxed, redraws, considered = select_batch(
        pool,
        theta,
        served=served,
        quota_remaining=quota,
        positions_remaining=positions,
        capped=capped_mask,
        rejected=rejected,
        rng=rng,
        randomesque_k=randomesque_k,
        use_sympson_hetter=use_sympson_hetter,
        adaptive=adaptive,
    )
    idx = int(chosen[0])
    if idx < 0:
        return Selection(index=None, status=POOL_EXHAUSTED, cap_relaxed=bool(relaxed[0]))
    considered[0, idx] = False
    return Selection(
        index=idx,
        status=OK,
        cap_relaxed=bool(relaxed[0]),
        sh_redraws=int(redraws[0]),
        rejected=tuple(int(i) for i in np.flatnonzero(considered[0])),
    )


_HEAD = 16  # candidates sorted up front by the single-student path


def _next_by_information(
    pool: ItemPool,
    theta: float,
    elig: BoolArray,
    relaxed: bool,
    rng: np.random.Generator,
    use_sh: bool,
    max_redraws: int = 100,
) -> Selection:
    """`select_batch`'s rules 3–5 for one student with randomesque_k = 1, the API's hot path.

    Candidates are visited in decreasing information and each is accepted with probability K_i,
    which is the same draw as "accept each eligible item with probability K_i, serve the most
    informative accepted one"; only the eligible items are evaluated.
    """
    cand = np.flatnonzero(elig)
    if cand.size == 0:
        return Selection(index=None, status=POOL_EXHAUSTED, cap_relaxed=relaxed)
    info = pool.information_at(float(theta), cand)
    if not use_sh:
        return Selection(index=int(cand[np.argmax(info)]), status=OK, cap_relaxed=relaxed)
    if not (pool.K[cand] > 0).any():  # no pass can accept: straight to the lottery
        return _drawn(int(rng.choice(cand)), cand, relaxed, 1)
    # The first pass usually accepts one of the first few candidates: sort only a head of the
    # order, and the rest only if the head was all rejected (fresh draws, so nothing changes).
    head = min(_HEAD, cand.size)
    part = np.argpartition(-info, head - 1)[:head] if head < cand.size else np.arange(cand.size)
    top = part[np.argsort(-info[part], kind="stable")]
    accepted = rng.random(head) < pool.K[cand[top]]
    if accepted.any():
        first = int(np.argmax(accepted))
        rejected = tuple(int(i) for i in cand[top[:first]])
        return Selection(index=int(cand[top[first]]), status=OK, cap_relaxed=relaxed,
                         rejected=rejected)  # fmt: skip
    order = cand[np.argsort(-info, kind="stable")]
    k = pool.K[order]
    if head < order.size:
        accepted = rng.random(order.size - head) < k[head:]
        if accepted.any():
            first = head + int(np.argmax(accepted))
            rejected = tuple(int(i) for i in order[:first])
            return Selection(index=int(order[first]), status=OK, cap_relaxed=relaxed,
                             rejected=rejected)  # fmt: skip
    # Every candidate rejected: the lottery is drawn again among all of them.
    for attempt in range(1, max_redraws + 1):
        accepted = rng.random(order.size) < k
        if accepted.any():
            return _drawn(int(order[int(np.argmax(accepted))]), order, relaxed, attempt)
    idx = int(rng.choice(order, p=k / k.sum()))  # lottery ∝ K after max_redraws passes
    return _drawn(idx, order, relaxed, max_redraws + 1)


def _drawn(idx: int, order: IntArray, relaxed: bool, redraws: int) -> Selection:
    """After a failed pass every eligible item was put to the lottery: all but `idx` rejected."""
    rejected = tuple(sorted(int(i) for i in order if i != idx))
    return Selection(index=idx, status=OK, cap_relaxed=relaxed, sh_redraws=redraws,
                     rejected=rejected)  # fmt: skip
