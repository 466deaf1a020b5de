"""The representational dissimilarity matrix (RDM) as an immutable value object.

An RDM over ``n`` conditions is stored as its condensed strict upper triangle, row-major
(the order of ``np.triu_indices(n, 1)`` and of ``scipy.spatial.distance.squareform``):
``vector[k]`` is the dissimilarity of the pair ``(i, j)``, ``i < j``. The diagonal is zero
by definition. Methods return new objects; the stored vector is read-only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["RDM", "condensed_length", "n_from_condensed", "square_to_condensed"]


def condensed_length(n: int) -> int:
    """Number of pairs ``n (n - 1) / 2``."""
    return n * (n - 1) // 2


def n_from_condensed(m: int) -> int:
    """Conditions ``n`` with ``n (n - 1) / 2 == m``; ValueError if none."""
    n = int(round((1 + math.sqrt(1 + 8 * m)) / 2))
    if condensed_length(n) != m:
        raise ValueError(f"vector length {m} is not n(n-1)/2 for any n; pass a condensed upper triangle "
                         "(vector of an RDM, or D of RDM.from_square for a square matrix)")
    return n


def square_to_condensed(C: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Strict upper triangle of a square matrix, row-major, without index arrays."""
    C = np.asarray(C)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"matrix must be square, got shape {C.shape}")
    n = C.shape[0]
    if out is None:
        out = np.empty(condensed_length(n), dtype=C.dtype)
    pos = 0
    for i in range(n - 1):  # n row slices: cheap next to the O(n^2) copy
        k = n - 1 - i
        out[pos:pos + k] = C[i, i + 1:]
        pos += k
    return out


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class RDM:
    """Immutable RDM: condensed dissimilarities plus labels.

    Parameters
    ----------
    vector : array, shape (n (n - 1) / 2,)
        Strict upper triangle, row-major. Copied and made read-only.
    dissimilarity : str
        Name of the measure that produced it (e.g. ``"correlation"``).
    conditions : sequence, optional
        One label per condition (default ``0..n-1``).
    metadata : dict
        Free-form (layer name, area, data set ...).
    """

    vector: np.ndarray
    dissimilarity: str = "unknown"
    conditions: tuple = ()
    metadata: dict = field(default_factory=dict)

    def __post_init__(self):
        v = np.asarray(self.vector)
        if v.ndim != 1:
            raise ValueError(f"vector must be 1-D (condensed upper triangle), got shape {v.shape}")
        if v.dtype.kind not in "biuf":
            raise TypeError(f"vector must be numeric, got dtype {v.dtype}")
        if v.dtype.kind == "f" and np.isinf(v).any():
            raise ValueError("vector contains inf; dissimilarities must be finite (NaN marks an omitted pair)")
        n = n_from_condensed(v.size)
        conds = tuple(self.conditions) if len(self.conditions) else tuple(range(n))
        if len(conds) != n:
            raise ValueError(f"conditions has {len(conds)} labels but the vector describes {n} conditions")
        object.__setattr__(self, "vector", _frozen(v.astype(np.float64, copy=False)
                                                   if v.dtype.kind != "f" else v))
        object.__setattr__(self, "conditions", conds)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_square(cls, D, *, check_symmetric: bool = True, **kwargs) -> "RDM":
        """Build from a square matrix (symmetry checked to 1e-10 relative unless disabled)."""
        try:
            D = np.asarray(D, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"D must be a square numeric matrix, got {type(D).__name__} ({exc})") from None
        if D.ndim != 2 or D.shape[0] != D.shape[1]:
            raise ValueError(f"D must be a square matrix, got shape {D.shape}")
        if check_symmetric and not np.allclose(D, D.T, rtol=1e-10, atol=1e-12):
            raise ValueError("D is not symmetric; pass check_symmetric=False to use its upper triangle")
        return cls(square_to_condensed(D), **kwargs)

    # views ----------------------------------------------------------------------------------
    @property
    def n_conditions(self) -> int:
        return len(self.conditions)

    @property
    def n_pairs(self) -> int:
        return self.vector.size

    def square(self) -> np.ndarray:
        """Full symmetric matrix with a zero diagonal (a new array)."""
        n = self.n_conditions
        D = np.zeros((n, n))
        iu = np.triu_indices(n, 1)
        D[iu] = self.vector
        D.T[iu] = self.vector
        return D

    def subset(self, indices) -> "RDM":
        """RDM of the conditions at ``indices`` (in that order; no repeats)."""
        idx = np.asarray(indices, dtype=np.int64).ravel()
        n = self.n_conditions
        if idx.size < 2:
            raise ValueError(f"indices must select at least 2 conditions, got {idx.size}")
        if np.any(idx < 0) or np.any(idx >= n):
            raise ValueError(f"indices must lie in [0, {n}), got min {idx.min()} max {idx.max()}")
        if np.unique(idx).size != idx.size:
            raise ValueError("indices must not repeat a condition (a repeated pair would have dissimilarity 0)")
        sub = self.square()[np.ix_(idx, idx)]
        return RDM(square_to_condensed(sub), self.dissimilarity,
                   tuple(self.conditions[i] for i in idx), self.metadata)

    def reorder(self, order) -> "RDM":
        """Same RDM with conditions permuted to ``order`` (a permutation of ``0..n-1``)."""
        order = np.asarray(order, dtype=np.int64).ravel()
        if order.size != self.n_conditions or not np.array_equal(np.sort(order), np.arange(self.n_conditions)):
            raise ValueError(f"order must be a permutation of 0..{self.n_conditions - 1}")
        return self.subset(order)

    def with_metadata(self, **kw) -> "RDM":
        return RDM(self.vector, self.dissimilarity, self.conditions, {**self.metadata, **kw})

    def __len__(self) -> int:
        return self.n_conditions

    def __eq__(self, other) -> bool:
        return (isinstance(other, RDM) and self.dissimilarity == other.dissimilarity
                and self.conditions == other.conditions and np.array_equal(self.vector, other.vector))

    __hash__ = None

    def __repr__(self) -> str:
        return (f"RDM(n_conditions={self.n_conditions}, dissimilarity={self.dissimilarity!r}, "
                f"metadata={self.metadata!r})")
