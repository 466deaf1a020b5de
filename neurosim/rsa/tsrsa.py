"""Temporal-sequential RSA (TSRSA; Huang et al., NeurIPS 2024, §3.2 and ``TSRSAMetric``).

For a model matrix ``X`` [T frames, N units] and a neural matrix ``Y`` [T, M]:

1. ``C_X[i, j] = Pearson(X[i, :], X[j, :])`` over units (likewise ``C_Y``);
2. RDM ``= 1 - C``; keep the strict upper triangle, row-major (``np.triu_indices(T, 1)``):
   the concatenation of ``(corr(r_t, r_{t+p}))_{p>0}`` for t = 1..T-1, length T(T-1)/2;
3. score = Spearman correlation of the two vectors. Default ``ties="argsort"`` is the paper's
   ``rank = argsort(argsort(v))``, ``rho = 1 - 6 sum d^2 / (n^3 - n)``; ``ties="average"``
   gives ``scipy.stats.spearmanr``. They differ only when a vector has ties.

Invariances (tested): permuting units; one affine map ``a X + b`` applied to every entry
(``a > 0``; any scalar ``b``: the row centring removes it). *Not* invariant to per-unit
scaling or offsets: the correlation of two frames is taken across units, so multiplying
one unit by a factor (or adding a unit-specific offset) changes its weight in every frame
correlation and hence the score (the tests pin this down). No z-scoring is done, as in the
paper (``_normalize=False``); z-score units yourself if you want per-unit scale invariance.

Model score (paper §4.1): per area, the maximum over layers; then the mean over areas. The
full [n_layers, n_areas] matrix is kept in :class:`TSRSAResult`.

Large inputs: ``X`` may be a memory map or an iterator of column chunks; the correlation
matrix is accumulated in unit chunks (see :func:`neurosim.rsa.dissimilarity.correlation_matrix`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Iterator, Mapping

import numpy as np

from neurosim._validation import check_choice
from neurosim.rsa._checks import CONSTANT_POLICIES
from neurosim.rsa.compare import _pearson, argsort_ranks, average_ranks, spearman_from_ranks
from neurosim.rsa.dissimilarity import correlation_matrix
from neurosim.rsa.rdm import condensed_length, square_to_condensed

__all__ = ["tsrsa_vector", "RankedVector", "rank_vector", "tsrsa", "TSRSAResult", "tsrsa_scores"]

TIES = ("argsort", "average")


def tsrsa_vector(X, *, dtype=np.float64, chunk_size=None, constant_rows: str = "raise",
                 name: str = "X") -> np.ndarray:
    """``1 - C`` strict upper triangle (float64, length T(T-1)/2) of the frame correlations."""
    C = correlation_matrix(X, dtype=dtype, chunk_size=chunk_size, constant_rows=constant_rows, name=name)
    out = np.empty(condensed_length(C.shape[0]))
    square_to_condensed(C, out)
    del C
    np.subtract(1.0, out, out=out)
    return out


@dataclass(frozen=True)
class RankedVector:
    """Ranks of one TSRSA vector, reusable against many others (same frames)."""

    ranks: np.ndarray | None   # None when NaN pairs make ranks pair-dependent
    vector: np.ndarray
    ties: str

    @property
    def n_pairs(self) -> int:
        return self.vector.size


def rank_vector(v, ties: str = "argsort") -> RankedVector:
    """Rank a condensed vector once (argsort or average ranks); NaN pairs defer ranking."""
    check_choice("ties", ties, TIES)
    v = np.asarray(v)
    if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
        return RankedVector(None, v, ties)
    r = argsort_ranks(v) if ties == "argsort" else average_ranks(v)
    return RankedVector(r, v, ties)


def _score_ranked(a: RankedVector, b: RankedVector, names=("X", "Y")) -> float:
    if a.n_pairs != b.n_pairs:
        raise ValueError(f"mismatched frame counts: the RDM vectors have {a.n_pairs} and {b.n_pairs} pairs")
    if a.ranks is None or b.ranks is None:
        keep = np.isfinite(a.vector) & np.isfinite(b.vector)
        if keep.sum() < 2:
            raise ValueError(f"fewer than 2 frame pairs remain after omitting the constant rows of {names[0]} and "
                             f"{names[1]}; drop those frames or use data whose frames vary")
        a = rank_vector(a.vector[keep], a.ties)
        b = rank_vector(b.vector[keep], b.ties)
    if a.ties == "argsort":
        return spearman_from_ranks(a.ranks, b.ranks)
    return _pearson(a.ranks, b.ranks, tuple(f"the RDM of {n}" for n in names))


def _n_rows(X):
    if isinstance(X, Iterator) or np.ndim(X) == 0:  # a 0-d input is rejected (named) by the full check
        return None
    return int(np.shape(X)[0])


def tsrsa(X, Y, *, ties: str = "argsort", dtype=np.float64, chunk_size=None,
          constant_rows: str = "raise") -> float:
    """TSRSA score between model features ``X`` [T, N] and neural responses ``Y`` [T, M].

    Parameters
    ----------
    X, Y : arrays [frames, units] (rows aligned: same frames, same order)
        ``X`` may also be a memory map or an iterator of column chunks [T, n_k].
    ties : {"argsort", "average"}
        Rank definition (see module docstring); "argsort" is the paper's.
    dtype : float64 or float32
        GEMM precision of the correlation matrices.
    chunk_size : int, optional
        Units per chunk for the correlation (bounded memory).
    constant_rows : {"raise", "omit"}
        Zero-variance frames: error naming them (default), or omit their pairs from both
        vectors.

    Returns
    -------
    float
        Spearman correlation of the two upper-triangle RDM vectors.
    """
    check_choice("ties", ties, TIES)
    check_choice("constant_rows", constant_rows, CONSTANT_POLICIES)
    nx, ny = _n_rows(X), _n_rows(Y)
    if nx is not None and ny is not None and nx != ny:
        raise ValueError(f"mismatched frame counts: X has {nx} rows, Y has {ny}; give both the same "
                         "frames in the same order")
    vx = tsrsa_vector(X, dtype=dtype, chunk_size=chunk_size, constant_rows=constant_rows, name="X")
    vy = tsrsa_vector(Y, dtype=dtype, chunk_size=chunk_size, constant_rows=constant_rows, name="Y")
    return _score_ranked(rank_vector(vx, ties), rank_vector(vy, ties))


@dataclass
class TSRSAResult:
    """Scores of every layer against every area.

    Attributes
    ----------
    matrix : array [n_layers, n_areas]
    layers, areas : tuples of names
    """

    matrix: np.ndarray
    layers: tuple
    areas: tuple
    metadata: dict = field(default_factory=dict)

    @property
    def best_per_area(self) -> np.ndarray:
        """Max over layers, one value per area."""
        return self.matrix.max(axis=0)

    @property
    def best_layers(self) -> dict:
        """Area -> the layer with the highest score."""
        idx = self.matrix.argmax(axis=0)
        return {a: self.layers[i] for a, i in zip(self.areas, idx)}

    @property
    def score(self) -> float:
        """Model score: mean over areas of the max over layers (paper §4.1)."""
        return float(self.best_per_area.mean())

    def to_dict(self) -> dict:
        return {
            "layers": list(self.layers), "areas": list(self.areas),
            "scores": {l: {a: float(self.matrix[i, j]) for j, a in enumerate(self.areas)}
                       for i, l in enumerate(self.layers)},
            "best_per_area": {a: float(v) for a, v in zip(self.areas, self.best_per_area)},
            "best_layers": self.best_layers, "score": self.score, **self.metadata,
        }


def tsrsa_scores(features: Mapping, neural: Mapping, *, ties: str = "argsort", dtype=np.float64,
                 chunk_size=None, constant_rows: str = "raise") -> TSRSAResult:
    """TSRSA of every model layer against every neural area.

    ``features`` maps layer name -> [T, N_layer]; ``neural`` maps area -> [T, M_area]. Each
    RDM vector is computed and ranked once, so the cost is (layers + areas) correlations plus
    layers x areas O(n) rank sums.
    """
    check_choice("ties", ties, TIES)
    if not features or not neural:
        raise ValueError("features and neural must each map at least one name to an array")
    kw = dict(dtype=dtype, chunk_size=chunk_size, constant_rows=constant_rows)
    areas = tuple(neural)
    ranked_areas = []
    n_frames = None
    for a in areas:
        Y = neural[a]
        n = _n_rows(Y)
        if n_frames is not None and n is not None and n != n_frames:
            raise ValueError(f"mismatched frame counts: area {a!r} has {n} rows, others {n_frames}")
        n_frames = n if n is not None else n_frames
        ranked_areas.append(rank_vector(tsrsa_vector(Y, name=f"neural[{a!r}]", **kw), ties))
    layers = tuple(features)
    M = np.empty((len(layers), len(areas)))
    for i, l in enumerate(layers):
        X = features[l]
        n = _n_rows(X)
        if n is not None and n_frames is not None and n != n_frames:
            raise ValueError(f"mismatched frame counts: layer {l!r} has {n} rows, neural data {n_frames}")
        rl = rank_vector(tsrsa_vector(X, name=f"features[{l!r}]", **kw), ties)
        for j, ra in enumerate(ranked_areas):
            M[i, j] = _score_ranked(rl, ra, (f"features[{l!r}]", f"neural[{areas[j]!r}]"))
    return TSRSAResult(M, layers, areas, {"ties": ties})
