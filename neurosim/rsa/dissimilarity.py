"""Dissimilarity measures: rows of a response matrix -> an :class:`~neurosim.rsa.rdm.RDM`.

``X`` has one row per condition (stimulus, movie frame) and one column per unit/feature.

* correlation: ``d_ij = 1 - r_ij``, ``r_ij`` the Pearson correlation of rows i and j over
  units. Computed by centring and normalising rows, then one GEMM ``Z Z^T`` (float64 by
  default, float32 on request). Large inputs (a memory map, or an iterator of column chunks)
  go through :func:`correlation_matrix` in unit chunks with bounded memory.
* cosine: ``d_ij = 1 - x_i.x_j / (|x_i||x_j|)`` (``scipy ... pdist(metric="cosine")``).
* euclidean: rsatoolbox's convention by default, the *squared* distance divided by the number
  of channels ``|x_i - x_j|^2 / P``; ``Euclidean(squared=False, per_channel=False)`` gives
  ``pdist(metric="euclidean")``.
* crossnobis (cross-validated Mahalanobis, rsatoolbox's definition): observations carry a
  condition and a fold label; for each fold ``f`` the condition means of the held-out fold
  ``b`` and of all other folds ``a`` give
  ``d_ij^(f) = (a_i - a_j)^T Lambda (b_i - b_j) / P`` (``Lambda`` = noise precision, identity
  by default); the RDM is the mean over folds. Unbiased: its expectation is the true squared
  distance, so it can be negative.

Zero-variance rows make the correlation undefined: by default a ValueError names them;
``constant_rows="omit"`` instead returns NaN for their pairs (see :mod:`neurosim.rsa.compare`,
which then drops those pairs from both vectors).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neurosim._validation import check_choice, check_dtype, check_int
from neurosim.rsa._checks import CONSTANT_POLICIES, describe_rows, response_matrix
from neurosim.rsa.rdm import RDM, square_to_condensed

__all__ = [
    "correlation_matrix", "Dissimilarity", "Correlation", "Cosine", "Euclidean", "Crossnobis",
    "DISSIMILARITIES", "get_dissimilarity", "calc_rdm", "average_by_condition",
]

#: memory budget (bytes) of one column chunk in the chunked correlation
CHUNK_BYTES = 64 * 2**20


def _constant_error(name, rows):
    raise ValueError(f"{name} has zero-variance (constant) row(s) {describe_rows(rows)}: their Pearson "
                     "correlation is undefined; drop those frames, or pass constant_rows='omit' to "
                     "score without their pairs")


def _finish(G, s, n_units, lo, hi, name, constant_rows):
    """Turn a (shifted) Gram matrix + row sums into a correlation matrix."""
    if s is not None:
        G -= np.outer(s, s) / n_units
    const = np.flatnonzero(hi <= lo)
    if const.size and constant_rows == "raise":
        _constant_error(name, const)
    d = np.sqrt(np.clip(np.diag(G).copy(), 0, None))
    d[const] = np.nan
    G /= d[:, None]
    G /= d[None, :]
    return G


def _chunks_of_array(X, chunk):
    for a in range(0, X.shape[1], chunk):
        yield X[:, a:a + chunk]


def correlation_matrix(X, *, dtype=np.float64, chunk_size: int | None = None,
                       constant_rows: str = "raise", name: str = "X") -> np.ndarray:
    """Pearson correlations between the rows of ``X`` (float64 result, shape [T, T]).

    Parameters
    ----------
    X : array [T, N], ``np.memmap`` or an *iterator* of arrays [T, n_k]
        Rows are frames/conditions, columns units. An iterator (e.g. a generator, or
        ``iter(list_of_chunks)``) is consumed once, chunk by chunk (features streamed from
        disk or from a model): memory stays O(T^2 + T n_k).
    dtype : np.float64 or np.float32
        Precision of the GEMM. Products are always accumulated into a float64 [T, T] matrix
        chunk by chunk.
    chunk_size : int, optional
        Units per chunk. Default: all at once for an in-memory array; chunks of about 64 MB
        for a memory map.
    constant_rows : {"raise", "omit"}
        ``"omit"`` gives NaN rows/columns for zero-variance rows instead of an error.
    """
    check_choice("constant_rows", constant_rows, CONSTANT_POLICIES)
    dtype = check_dtype("dtype", dtype)
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, min_value=1)
    if not isinstance(X, Iterator):
        X = response_matrix(name, X)
        T, N = X.shape
        if chunk_size is None and not isinstance(X, np.memmap):
            X = _rescale_rows(X, dtype)
            mean = X.mean(axis=1, keepdims=True, dtype=np.float64)
            Z = np.subtract(X, mean.astype(dtype), dtype=dtype)
            G = Z @ Z.T  # symmetric rank-k update (BLAS syrk)
            del Z
            G = G.astype(np.float64, copy=False)
            ss = np.diag(G).copy()
            # constant rows: centred sum of squares at rounding level of the row mean
            tol = (64 * np.finfo(dtype).eps) ** 2 * N * (mean[:, 0] ** 2)
            const = np.flatnonzero(ss <= tol)
            if const.size and constant_rows == "raise":
                _constant_error(name, const)
            d = np.sqrt(ss)
            d[const] = np.nan
            G /= d[:, None]
            G /= d[None, :]
            return G
        chunk = chunk_size or max(1, CHUNK_BYTES // (T * np.dtype(dtype).itemsize))
        # two passes over the array: exact row means (float64), then centred chunk GEMMs
        s = np.zeros(T)
        lo = np.full(T, np.inf)
        hi = np.full(T, -np.inf)
        for c in _chunks_of_array(X, chunk):
            c = np.asarray(c)
            if not np.all(np.isfinite(c)):
                raise ValueError(f"{name} contains NaN/inf value(s); clean or impute them first")
            s += c.sum(axis=1, dtype=np.float64)
            np.minimum(lo, c.min(axis=1), out=lo)
            np.maximum(hi, c.max(axis=1), out=hi)
        mean = (s / N).astype(dtype)[:, None]
        G = np.zeros((T, T))
        for c in _chunks_of_array(X, chunk):
            z = np.asarray(c, dtype=dtype) - mean
            G += z @ z.T
        _check_gram(G, name, dtype)
        return _finish(G, None, N, lo, hi, name, constant_rows)
    # iterator of column chunks: one pass, shifted by the first chunk's row means
    G = s = lo = hi = shift = None
    n_units = 0
    for k, c in enumerate(X):
        c = np.asarray(c)
        if c.ndim != 2:
            raise ValueError(f"{name}: chunk {k} must be 2-D [frames, units], got shape {c.shape}")
        if c.dtype.kind not in "biuf":
            raise TypeError(f"{name}: chunk {k} must be numeric, got dtype {c.dtype}")
        if not np.all(np.isfinite(c)):
            raise ValueError(f"{name}: chunk {k} contains NaN/inf value(s); clean or impute them first")
        if G is None:
            T = c.shape[0]
            G = np.zeros((T, T))
            s = np.zeros(T)
            lo = np.full(T, np.inf)
            hi = np.full(T, -np.inf)
            shift = c.mean(axis=1, dtype=np.float64).astype(dtype)[:, None]
        elif c.shape[0] != G.shape[0]:
            raise ValueError(f"mismatched frame counts: {name} chunk {k} has {c.shape[0]} rows, "
                             f"earlier chunks {G.shape[0]}")
        if c.shape[1] == 0:
            continue
        z = np.asarray(c, dtype=dtype) - shift
        G += z @ z.T
        s += z.sum(axis=1, dtype=np.float64)
        np.minimum(lo, c.min(axis=1), out=lo)
        np.maximum(hi, c.max(axis=1), out=hi)
        n_units += c.shape[1]
    if G is None or n_units < 2:
        raise ValueError(f"{name} needs at least 2 units (columns) in its chunks, got {n_units}")
    if G.shape[0] < 3:
        raise ValueError(f"{name} needs at least 3 frames/conditions (rows), got {G.shape[0]}")
    _check_gram(G, name, dtype)
    return _finish(G, s, n_units, lo, hi, name, constant_rows)


def _extreme(scale, dtype, n_cols) -> bool:
    """True when rows of magnitude ``scale`` overflow or underflow a Gram matrix in ``dtype``."""
    fi = np.finfo(dtype)
    big = np.sqrt(fi.max / max(n_cols, 1)) / 16.0
    small = np.sqrt(fi.tiny) * 1e8
    nz = scale[scale > 0]
    return bool(nz.size and (nz.max() > big or nz.min() < small))


def _rescale_rows(X, dtype):
    """Divide each row by its largest magnitude when the Gram matrix would overflow/underflow.

    Correlations (and cosines) do not change under a positive scaling of a row; inputs of
    ordinary magnitude are returned unchanged (the same bits as without this step).
    """
    scale = np.max(np.abs(X), axis=1) if X.size else np.zeros(X.shape[0])
    if not _extreme(scale, dtype, X.shape[1]):
        return X
    exp = np.frexp(np.where(scale > 0, scale, 1.0))[1]  # powers of two: an exact scaling
    return np.ldexp(np.asarray(X, dtype=np.float64), -exp[:, None])


def _check_gram(G, name, dtype):
    if not np.all(np.isfinite(np.diag(G))):
        raise ValueError(f"{name} has values too large for a {np.dtype(dtype).name} correlation (the sums of squares "
                         "overflow); rescale the data (e.g. divide by its maximum) or pass the whole array at once")


def average_by_condition(X, conditions):
    """Mean of the rows of ``X`` per condition label; labels in sorted (``np.unique``) order."""
    X = np.asarray(X, dtype=np.float64)
    conditions = np.asarray(conditions)
    if conditions.shape[0] != X.shape[0]:
        raise ValueError(f"conditions has {conditions.shape[0]} labels for {X.shape[0]} rows of X")
    labels, inv = np.unique(conditions, return_inverse=True)
    sums = np.zeros((labels.size, X.shape[1]))
    np.add.at(sums, inv, X)
    counts = np.bincount(inv, minlength=labels.size)
    return sums / counts[:, None], labels


class Dissimilarity:
    """Base class: ``measure(X, conditions=None) -> RDM`` (rows averaged per condition)."""

    name = "base"

    def matrix(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def condensed(self, X) -> np.ndarray:
        """Strict upper triangle (row-major) of :meth:`matrix`."""
        return square_to_condensed(self.matrix(X))

    def __call__(self, X, conditions=None, **metadata) -> RDM:
        labels = None
        if conditions is not None:
            X, labels = average_by_condition(X, conditions)
        X = response_matrix("X", X, min_rows=2)
        return RDM(self.condensed(X), self.name,
                   tuple(labels.tolist()) if labels is not None else (), metadata)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Correlation(Dissimilarity):
    """``1 - Pearson(x_i, x_j)``; ``dtype`` float64 (default) or float32 GEMM."""

    name = "correlation"

    def __init__(self, dtype=np.float64, constant_rows: str = "raise"):
        self.dtype = check_dtype("dtype", dtype)
        self.constant_rows = check_choice("constant_rows", constant_rows, CONSTANT_POLICIES)

    def matrix(self, X):
        return 1.0 - correlation_matrix(X, dtype=self.dtype, constant_rows=self.constant_rows)

    def condensed(self, X):
        v = square_to_condensed(correlation_matrix(X, dtype=self.dtype, constant_rows=self.constant_rows))
        return np.subtract(1.0, v, out=v)


class Cosine(Dissimilarity):
    """``1 - cos(x_i, x_j)``; all-zero rows raise (angle undefined)."""

    name = "cosine"

    def matrix(self, X):
        X = _rescale_rows(X, X.dtype)
        n = np.sqrt(np.einsum("ij,ij->i", X, X))
        zero = np.flatnonzero(n == 0)
        if zero.size:
            raise ValueError(f"X has all-zero row(s) {describe_rows(zero)}: cosine is undefined for them")
        Z = X / n[:, None]
        return 1.0 - Z @ Z.T


class Euclidean(Dissimilarity):
    """Euclidean distance; by default rsatoolbox's squared distance per channel."""

    name = "euclidean"

    def __init__(self, squared: bool = True, per_channel: bool = True):
        self.squared = bool(squared)
        self.per_channel = bool(per_channel)

    def matrix(self, X):
        s = float(np.max(np.abs(X))) if X.size else 0.0
        if _extreme(np.array([s]), X.dtype, X.shape[1]):  # compute on X / s, scale the result back
            s = float(np.ldexp(1.0, int(np.frexp(s)[1])))  # a power of two: exact scaling
            D = self.matrix(np.asarray(X, dtype=np.float64) / s)
            with np.errstate(over="ignore", invalid="ignore"):
                D = D * (s * s if self.squared else s)
            if not np.all(np.isfinite(D)):
                raise ValueError(f"X values up to {float(np.max(np.abs(X))):.3g} give distances beyond float64; "
                                 "rescale X")
            return D
        sq = np.einsum("ij,ij->i", X, X)
        D = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)
        np.fill_diagonal(D, 0.0)
        np.clip(D, 0.0, None, out=D)
        if self.per_channel:
            D /= X.shape[1]
        return D if self.squared else np.sqrt(D)

    def __repr__(self):
        return f"Euclidean(squared={self.squared}, per_channel={self.per_channel})"


class Crossnobis(Dissimilarity):
    """Cross-validated (squared) Mahalanobis distance per channel, rsatoolbox's definition.

    Call as ``Crossnobis(noise)(X, conditions, folds)`` with one row of ``X`` per
    observation. ``folds`` default: the k-th occurrence of each condition is fold k
    (needs the same number of repeats per condition).
    """

    name = "crossnobis"

    def __init__(self, noise=None):
        self.noise = None if noise is None else np.asarray(noise, dtype=np.float64)

    def __call__(self, X, conditions=None, folds=None, **metadata) -> RDM:
        if conditions is None:
            raise ValueError("conditions must label each observation (row) for crossnobis; "
                             "it needs repeated measurements of each condition")
        X = response_matrix("X", X, min_rows=2)
        conditions = np.asarray(conditions)
        if conditions.shape[0] != X.shape[0]:
            raise ValueError(f"conditions has {conditions.shape[0]} labels for {X.shape[0]} rows of X")
        labels, inv = np.unique(conditions, return_inverse=True)
        if folds is None:
            counts = np.bincount(inv)
            if np.any(counts != counts[0]):
                raise ValueError("folds: conditions have unequal repeat counts; pass folds explicitly")
            folds = np.zeros(X.shape[0], dtype=np.int64)
            for c in range(labels.size):
                folds[inv == c] = np.arange(counts[c])
        folds = np.asarray(folds)
        if folds.shape[0] != X.shape[0]:
            raise ValueError(f"folds has {folds.shape[0]} labels for {X.shape[0]} rows of X")
        fold_ids = np.unique(folds)
        if fold_ids.size < 2:
            raise ValueError("folds must contain at least 2 distinct folds for cross-validation")
        P = X.shape[1]
        noise = np.eye(P) if self.noise is None else self.noise
        if noise.shape != (P, P):
            raise ValueError(f"noise must be a ({P}, {P}) precision matrix, got shape {noise.shape}")
        acc = np.zeros((labels.size, labels.size))
        for f in fold_ids:
            test, train = folds == f, folds != f
            b, lb = average_by_condition(X[test], conditions[test])
            a, la = average_by_condition(X[train], conditions[train])
            if lb.size != labels.size or la.size != labels.size:
                raise ValueError(f"folds: fold {f!r} (or its complement) lacks some condition")
            K = a @ noise @ b.T
            dK = np.diag(K)
            acc += dK[:, None] + dK[None, :] - K - K.T
        D = acc / (fold_ids.size * P)
        return RDM(square_to_condensed(D), self.name, tuple(labels.tolist()), metadata)

    def matrix(self, X):  # pragma: no cover - needs labels
        raise TypeError("Crossnobis needs conditions and folds; call it as Crossnobis()(X, conditions, folds)")


DISSIMILARITIES = {"correlation": Correlation, "cosine": Cosine, "euclidean": Euclidean,
                   "crossnobis": Crossnobis}


def get_dissimilarity(name: str, **kwargs) -> Dissimilarity:
    """Instantiate a registered dissimilarity by name (KeyError lists the valid names)."""
    if not isinstance(name, str):
        raise TypeError(f"method must be a dissimilarity name ({', '.join(sorted(DISSIMILARITIES))}) or a "
                        f"Dissimilarity, got {type(name).__name__}")
    try:
        cls = DISSIMILARITIES[name]
    except KeyError:
        raise KeyError(f"unknown dissimilarity {name!r}; valid: {', '.join(sorted(DISSIMILARITIES))}") from None
    return cls(**kwargs)


def calc_rdm(X, method="correlation", conditions=None, **kwargs) -> RDM:
    """Compute an RDM with ``method`` (a name or a :class:`Dissimilarity`).

    Extra keyword arguments go to the call (``folds=`` for crossnobis) when ``method`` is an
    object, or to the constructor (e.g. ``dtype=``) when it is a name, except ``folds``.
    """
    folds = kwargs.pop("folds", None)
    meas = method if isinstance(method, Dissimilarity) else get_dissimilarity(method, **kwargs)
    if isinstance(meas, Crossnobis):
        return meas(X, conditions, folds)
    return meas(X, conditions)
