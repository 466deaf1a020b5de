"""Permutation p-values and bootstrap confidence intervals for TSRSA/RSA scores.

* :func:`permutation_test`: the condition (frame) labels of ``Y`` are permuted — rows and
  columns of its correlation matrix together — and the Spearman score recomputed;
  ``p = (1 + #{null >= observed}) / (1 + n_permutations)`` (one-sided, never 0).
* :func:`bootstrap_ci`: resample conditions (frames) with replacement, keep the pairs of
  distinct *draws* whose conditions differ (pairs of a condition with itself are dropped, as
  rsatoolbox does), or resample units (columns of both matrices independently); percentile
  interval. Draws with fewer than two such pairs (possible with very few conditions), and
  unit draws that leave a frame constant (possible with very few units), are skipped (NaN in
  ``boot``).

``constant_rows="omit"`` drops the pairs of zero-variance frames (as in :func:`~neurosim.rsa.tsrsa`).

Both compute the correlation matrices once; each resample costs one rank of a
T(T-1)/2-vector. Randomness only through ``rng``.
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_choice, check_int, check_probability
from neurosim.rsa._checks import response_matrix, same_rows
from neurosim.rsa.dissimilarity import correlation_matrix
from neurosim.rsa.rdm import square_to_condensed
from neurosim.rsa.tsrsa import TIES, _score_ranked, rank_vector, tsrsa

__all__ = ["permutation_test", "bootstrap_ci"]


def _vec(C):
    return 1.0 - square_to_condensed(C)


def permutation_test(X, Y, *, n_permutations: int = 1000, rng=None, ties: str = "argsort",
                     constant_rows: str = "raise") -> dict:
    """Observed TSRSA score and its permutation p-value (frames of ``Y`` shuffled)."""
    X = response_matrix("X", X)
    Y = response_matrix("Y", Y)
    same_rows(X=X, Y=Y)
    check_choice("ties", ties, TIES)
    check_int("n_permutations", n_permutations, min_value=1)
    gen = as_generator(rng)
    CX = correlation_matrix(X, name="X", constant_rows=constant_rows)
    CY = correlation_matrix(Y, name="Y", constant_rows=constant_rows)
    rx = rank_vector(_vec(CX), ties)
    obs = _score_ranked(rx, rank_vector(_vec(CY), ties))
    null = np.empty(n_permutations)
    T = CY.shape[0]
    for k in range(n_permutations):
        p = gen.permutation(T)
        null[k] = _score_ranked(rx, rank_vector(_vec(CY[np.ix_(p, p)]), ties))
    pval = (1.0 + np.count_nonzero(null >= obs)) / (1.0 + n_permutations)
    return {"score": obs, "p_value": float(pval), "null": null}


def bootstrap_ci(X, Y, *, n_boot: int = 1000, confidence: float = 0.95, over: str = "conditions",
                 rng=None, ties: str = "argsort", constant_rows: str = "raise") -> dict:
    """Percentile bootstrap interval of the TSRSA score.

    ``over="conditions"`` resamples frames; ``over="units"`` resamples the columns of X and Y
    (each with its own draw) and recomputes both RDMs (costlier).
    """
    X = response_matrix("X", X)
    Y = response_matrix("Y", Y)
    T = same_rows(X=X, Y=Y)
    check_choice("over", over, ("conditions", "units"))
    check_choice("ties", ties, TIES)
    check_int("n_boot", n_boot, min_value=1)
    check_probability("confidence", confidence, open_low=True, open_high=True)
    gen = as_generator(rng)
    obs = tsrsa(X, Y, ties=ties, constant_rows=constant_rows)
    boots = np.empty(n_boot)
    if over == "conditions":
        CX = correlation_matrix(X, name="X", constant_rows=constant_rows)
        CY = correlation_matrix(Y, name="Y", constant_rows=constant_rows)
        for k in range(n_boot):
            idx = np.sort(gen.integers(0, T, T))
            i, j = np.triu_indices(T, 1)
            keep = idx[i] != idx[j]
            if np.count_nonzero(keep) < 2:  # a draw of one distinct condition has no pairs to rank
                boots[k] = np.nan
                continue
            a, b = idx[i[keep]], idx[j[keep]]
            boots[k] = _score_ranked(rank_vector(1.0 - CX[a, b], ties), rank_vector(1.0 - CY[a, b], ties))
    else:
        for k in range(n_boot):
            cx = gen.integers(0, X.shape[1], X.shape[1])
            cy = gen.integers(0, Y.shape[1], Y.shape[1])
            try:
                boots[k] = tsrsa(X[:, cx], Y[:, cy], ties=ties, constant_rows=constant_rows)
            except ValueError:  # a degenerate draw (e.g. one unit repeated: every frame constant)
                boots[k] = np.nan
    alpha = (1.0 - confidence) / 2.0
    if np.all(np.isnan(boots)):
        raise ValueError(f"no bootstrap draw over {over} could be scored ({T} conditions, {X.shape[1]} units of X, "
                         f"{Y.shape[1]} of Y); use more conditions or units")
    lo, hi = np.nanquantile(boots, [alpha, 1.0 - alpha])
    return {"score": obs, "low": float(lo), "high": float(hi), "boot": boots, "confidence": confidence}
