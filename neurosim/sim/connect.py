"""Connectivity generators returning ``(pre, post)`` index arrays (int64, sorted by ``pre``).

``fixed_probability``  every ordered pair is connected independently with probability ``p``
                       (Brian2 ``connect(p=...)``); drawn by geometric skipping over the
                       ``n_pre * n_post`` pairs, so the cost is proportional to the number of
                       synapses, not of pairs.
``fixed_in_degree``    every postsynaptic neuron receives exactly ``k`` synapses from
                       presynaptic neurons drawn uniformly with replacement (NEST
                       ``fixed_indegree`` with its default ``allow_multapses=True``).
``all_to_all``         every pair.

``allow_self=False`` (only meaningful when pre and post are the same group) removes or avoids
``pre == post``.
"""
from __future__ import annotations

import math

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_int, check_memory, check_probability
from neurosim.kernels.synapse import csr_order

__all__ = ["fixed_probability", "fixed_in_degree", "all_to_all"]

#: bytes per synapse while connecting and in the simulator (indices, weight, delay, sort order)
_BYTES_PER_SYNAPSE = 32


def fixed_probability(n_pre: int, n_post: int, p: float, rng: np.random.Generator, *, allow_self: bool = True):
    """Independent Bernoulli(p) for each pair; returns int32 ``(pre, post)`` sorted by pre then post.

    Drawn in blocks of presynaptic rows; within a block the positions of the connected pairs
    follow from geometric gaps (exact for i.i.d. trials, memoryless across blocks).
    """
    n_pre = check_int("n_pre", n_pre, min_value=0)
    n_post = check_int("n_post", n_post, min_value=0)
    p = check_probability("p", p)
    rng = as_generator(rng)
    if n_pre == 0 or n_post == 0 or p == 0.0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32)
    mean = float(n_pre) * float(n_post) * p
    check_memory("n_pre * n_post * p", mean + 6.0 * math.sqrt(mean), _BYTES_PER_SYNAPSE,
                 f"the expected {mean:.3g} synapses (n_pre={n_pre}, n_post={n_post}, p={p:g})")
    rows = max(1, (1 << 24) // n_post)   # blocks of ~16M pairs bound the temporary memory
    pres, posts = [], []
    for r0 in range(0, n_pre, rows):
        r1 = min(n_pre, r0 + rows)
        pos = _bernoulli_positions((r1 - r0) * n_post, p, rng)
        pre, post = np.divmod(pos, n_post)
        pre += r0
        if not allow_self:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        pres.append(pre.astype(np.int32))
        posts.append(post.astype(np.int32))
    return np.concatenate(pres), np.concatenate(posts)


def _bernoulli_positions(total: int, p: float, rng) -> np.ndarray:
    """Sorted positions of the successes of ``total`` independent Bernoulli(p) trials (geometric gaps)."""
    if p == 1.0:
        return np.arange(total, dtype=np.int64)
    mean = total * p
    chunk = int(mean + 6.0 * math.sqrt(mean) + 64)
    parts = []
    last = -1
    while True:
        gaps = rng.geometric(p, size=chunk)
        np.minimum(gaps, total + 1, out=gaps)  # tiny p: numpy saturates at 2**63 - 1, the cumsum would wrap
        cs = np.cumsum(gaps, dtype=np.int64)
        cs += last
        parts.append(cs)
        last = int(cs[-1])
        if last >= total:
            break
        chunk = max(64, int((total - last) * p * 1.2) + 64)
    pos = np.concatenate(parts) if len(parts) > 1 else parts[0]
    return pos[: int(np.searchsorted(pos, total))]


def fixed_in_degree(n_pre: int, n_post: int, k: int, rng: np.random.Generator, *, allow_self: bool = True):
    """Each postsynaptic neuron gets ``k`` presynaptic partners drawn uniformly with replacement.

    Returns int32 ``(pre, post)`` sorted by pre (stable: within a pre, by post).
    """
    n_pre = check_int("n_pre", n_pre, min_value=0)
    n_post = check_int("n_post", n_post, min_value=0)
    k = check_int("in_degree (k)", k, min_value=0)
    check_memory("n_post * in_degree (k)", float(n_post) * k, _BYTES_PER_SYNAPSE,
                 f"the {float(n_post) * k:.3g} synapses (n_post={n_post}, in_degree={k})")
    rng = as_generator(rng)
    if k > 0 and n_pre - (0 if allow_self else 1) <= 0:
        raise ValueError(f"in_degree={k} needs at least one candidate presynaptic neuron, got n_pre={n_pre}")
    post = np.repeat(np.arange(n_post, dtype=np.int32), k)
    if allow_self:
        pre = rng.integers(0, n_pre, size=post.size, dtype=np.int32)
    else:  # draw from n_pre - 1 candidates and skip the neuron itself
        pre = rng.integers(0, n_pre - 1, size=post.size, dtype=np.int32)
        pre += pre >= post
    indptr = np.empty(n_pre + 1, dtype=np.int64)
    order = np.empty(pre.size, dtype=np.int32 if pre.size < 2 ** 31 else np.int64)
    csr_order(pre, indptr, order)  # stable counting sort, O(n_syn)
    return pre[order], post[order]


def all_to_all(n_pre: int, n_post: int, *, allow_self: bool = True):
    """Every pair (pre-major order)."""
    return fixed_probability(n_pre, n_post, 1.0, None, allow_self=allow_self)
