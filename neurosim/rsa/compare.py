"""Comparing RDMs (condensed vectors) and representations.

Comparisons of two vectors ``x, y`` of length ``n`` (dissimilarities of the same pairs):

* Spearman, ``ties="average"``: Pearson correlation of average ranks (``scipy.stats.spearmanr``,
  rsatoolbox ``"spearman"``).
* Spearman, ``ties="argsort"`` (the TSRSA paper's code): ``rank = argsort(argsort(v))``, i.e.
  ties get distinct ranks in the order numpy's default sort leaves them, and
  ``rho = 1 - 6 sum d^2 / (n^3 - n)``. Equal to the average-rank value when there are no
  ties. Ranks are formed as the inverse permutation of one ``argsort`` (identical to the
  second argsort, O(n), int32 when n < 2^31), so ranking 6.5 million pairs needs about
  52 MB for the sort order and 26 MB per rank vector.
* Pearson (rsatoolbox ``"corr"``), Kendall tau-a (rsatoolbox ``"tau-a"``:
  (concordant - discordant) / (n (n - 1) / 2), ties count as neither), cosine (uncentred).

Representations: linear CKA (Kornblith et al. 2019),
``CKA(X, Y) = ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)`` with column-centred
X, Y, computed in the Gram (condition x condition) form when features outnumber conditions.

NaN pairs (from rows declared constant with ``constant_rows="omit"``) are dropped from both
vectors before a comparison.
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import check_choice
from neurosim.kernels.distance import inverse_permutation, rank_diff_sq_sum
from neurosim.rsa._checks import response_matrix, same_rows
from neurosim.rsa.rdm import RDM

__all__ = [
    "argsort_ranks", "average_ranks", "spearman_from_ranks", "Comparison", "Spearman", "Pearson",
    "KendallTauA", "CosineSimilarity", "COMPARISONS", "get_comparison", "compare", "linear_cka",
]


def _vec(name, v) -> np.ndarray:
    if isinstance(v, RDM):
        return v.vector
    a = np.asarray(v)
    if a.ndim != 1:
        raise ValueError(f"{name} must be an RDM or a 1-D condensed vector, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    return a


def _pair(x, y):
    x, y = _vec("a", x), _vec("b", y)
    if x.size != y.size:
        raise ValueError(f"mismatched RDM sizes: a has {x.size} pairs, b has {y.size}; compare RDMs "
                         "of the same conditions")
    if x.size < 2:
        raise ValueError(f"need at least 2 pairs (3 conditions) to compare, got {x.size}")
    for name, v in (("a", x), ("b", y)):
        if v.dtype.kind == "f" and np.isinf(v).any():
            raise ValueError(f"{name} contains inf; dissimilarities must be finite (NaN marks an omitted pair)")
    bad = ~np.isfinite(x) | ~np.isfinite(y) if (x.dtype.kind == "f" or y.dtype.kind == "f") else None
    if bad is not None and bad.any():
        keep = ~bad
        x, y = x[keep], y[keep]
        if x.size < 2:
            raise ValueError("fewer than 2 finite pairs remain after dropping NaN pairs")
    return x, y


def argsort_ranks(v, *, kind: str = "quicksort") -> np.ndarray:
    """``argsort(argsort(v))`` (0-based ranks, ties broken by the sort), int32 when it fits.

    ``kind="quicksort"`` (numpy's default, as in the paper's code) reproduces
    ``np.argsort(np.argsort(v))`` exactly; ``kind="stable"`` breaks ties by position.
    """
    v = np.asarray(v)
    return _inverse(np.argsort(v, kind=kind))


def _inverse(order):
    out = np.empty(order.size, dtype=np.int32 if order.size < 2**31 else np.int64)
    return inverse_permutation(order, out)


def _order_ties(v):
    """``(argsort(v), has_ties)``."""
    v = np.asarray(v)
    order = np.argsort(v)
    sv = v[order]
    return order, bool(np.any(sv[1:] == sv[:-1]))


def average_ranks(v, order=None) -> np.ndarray:
    """1-based average ranks (``scipy.stats.rankdata(v, method="average")``), float64."""
    v = np.asarray(v)
    if order is None:
        order = np.argsort(v)
    sv = v[order]
    new = np.empty(v.size, dtype=bool)
    new[0] = True
    np.not_equal(sv[1:], sv[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], v.size)
    avg = (starts + ends + 1) / 2.0  # mean of 1-based ranks start+1 .. end
    out = np.empty(v.size)
    out[order] = np.repeat(avg, ends - starts)
    return out


def spearman_from_ranks(rx, ry) -> float:
    """``1 - 6 sum (rx - ry)^2 / (n^3 - n)`` for integer ranks (distinct within each vector)."""
    n = rx.shape[0]
    if ry.shape[0] != n:
        raise ValueError(f"rank vectors differ in length: {n} vs {ry.shape[0]}")
    ssd = rank_diff_sq_sum(np.ascontiguousarray(rx), np.ascontiguousarray(ry))
    return 1.0 - 6.0 * ssd / (float(n) ** 3 - float(n))


def _unit_scale(v) -> np.ndarray:
    """``v`` (float64) times the power of two that brings ``max|v|`` into [0.5, 1).

    Correlations, cosines and CKA are scale-free, while sums of squares of very large or very
    small values overflow or underflow; a power-of-two scaling is exact, so results for
    ordinary inputs keep their bits.
    """
    v = np.asarray(v, dtype=np.float64)
    s = np.max(np.abs(v)) if v.size else 0.0
    if not (s > 0 and np.isfinite(s)):
        return v
    return np.ldexp(v, -int(np.frexp(s)[1]))


def _pearson(x, y, names=("a", "b")) -> float:
    xs, ys = _unit_scale(x), _unit_scale(y)
    for name, v in zip(names, (xs, ys)):
        if v.size and np.all(v == v[0]):  # exactly constant (the centred sum of squares may round above 0)
            raise ValueError(f"{name} is a constant RDM vector (or constant ranks): it has no correlation; "
                             "check that the conditions differ")
    xc = xs - xs.mean()
    yc = ys - ys.mean()
    sx, sy = np.dot(xc, xc), np.dot(yc, yc)
    for name, ss in zip(names, (sx, sy)):
        if ss == 0:
            raise ValueError(f"{name} is a constant RDM vector (or constant ranks): it has no correlation; "
                             "check that the conditions differ")
    return float(np.dot(xc, yc) / np.sqrt(sx * sy))


class Comparison:
    """Base class: ``comparison(a, b) -> float`` for RDMs or condensed vectors."""

    name = "base"

    def __call__(self, a, b) -> float:
        x, y = _pair(a, b)
        return self.compute(x, y)

    def compute(self, x, y) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Spearman(Comparison):
    """Spearman rank correlation; ``ties="average"`` (scipy) or ``"argsort"`` (TSRSA paper)."""

    name = "spearman"

    def __init__(self, ties: str = "average"):
        self.ties = check_choice("ties", ties, ("average", "argsort"))

    def compute(self, x, y):
        if self.ties == "argsort":
            return spearman_from_ranks(argsort_ranks(x), argsort_ranks(y))
        (ox, tx), (oy, ty) = _order_ties(x), _order_ties(y)
        if not (tx or ty):  # no ties: average ranks are the argsort ranks (+1); exact formula
            return spearman_from_ranks(_inverse(ox), _inverse(oy))
        return _pearson(average_ranks(x, ox), average_ranks(y, oy))

    def __repr__(self):
        return f"Spearman(ties={self.ties!r})"


class Pearson(Comparison):
    """Pearson correlation of the dissimilarity vectors (rsatoolbox ``"corr"``)."""

    name = "pearson"

    def compute(self, x, y):
        return _pearson(x, y)


class KendallTauA(Comparison):
    """Kendall's tau-a: (concordant - discordant) / all pairs; O(n log n) via scipy's tau-b."""

    name = "tau-a"

    def compute(self, x, y):
        n = x.size
        tot = n * (n - 1) / 2.0
        import scipy.stats  # lazy: importing scipy.stats costs ~0.5 s

        tb = scipy.stats.kendalltau(x, y, variant="b").statistic

        def ties(v):
            _, c = np.unique(v, return_counts=True)
            return float((c * (c - 1) // 2).sum())

        if not np.isfinite(tb):  # a constant vector: no concordant or discordant pairs
            return 0.0
        return float(tb * np.sqrt((tot - ties(x)) * (tot - ties(y))) / tot)


class CosineSimilarity(Comparison):
    """Uncentred cosine of the dissimilarity vectors (rsatoolbox ``"cosine"``)."""

    name = "cosine"

    def compute(self, x, y):
        x, y = _unit_scale(x), _unit_scale(y)
        for name, v in (("a", x), ("b", y)):
            if not np.any(v):
                raise ValueError(f"{name} is an all-zero RDM vector: it has no cosine similarity")
        return float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))


COMPARISONS = {"spearman": Spearman, "pearson": Pearson, "corr": Pearson, "tau-a": KendallTauA,
               "cosine": CosineSimilarity}


def get_comparison(name: str, **kwargs) -> Comparison:
    """Instantiate a registered comparison (KeyError lists the valid names)."""
    if not isinstance(name, str):
        raise TypeError(f"method must be a comparison name ({', '.join(sorted(COMPARISONS))}) or a Comparison, "
                        f"got {type(name).__name__}")
    try:
        cls = COMPARISONS[name]
    except KeyError:
        raise KeyError(f"unknown comparison {name!r}; valid: {', '.join(sorted(COMPARISONS))}") from None
    return cls(**kwargs)


def compare(a, b, method="spearman", **kwargs) -> float:
    """Compare two RDMs (or condensed vectors) with ``method`` (name or :class:`Comparison`)."""
    comp = method if isinstance(method, Comparison) else get_comparison(method, **kwargs)
    return comp(a, b)


def linear_cka(X, Y) -> float:
    """Linear centred kernel alignment between representations X [n, p] and Y [n, q]."""
    X = response_matrix("X", X, min_rows=2)
    Y = response_matrix("Y", Y, min_rows=2)
    same_rows(X=X, Y=Y)
    X = _unit_scale(X)  # CKA is invariant to a global scale; this keeps the products finite
    Y = _unit_scale(Y)
    X = X - X.mean(axis=0)
    Y = Y - Y.mean(axis=0)
    n = X.shape[0]
    if max(X.shape[1], Y.shape[1]) > n:  # Gram form: <K, L> / (|K| |L|) with centred data
        K, L = X @ X.T, Y @ Y.T
        hsic, nx, ny = np.vdot(K, L), np.linalg.norm(K), np.linalg.norm(L)
    else:
        hsic = np.linalg.norm(Y.T @ X) ** 2
        nx, ny = np.linalg.norm(X.T @ X), np.linalg.norm(Y.T @ Y)
    for name, nrm in (("X", nx), ("Y", ny)):
        if nrm == 0:
            raise ValueError(f"linear_cka: {name} is constant across conditions (rows); CKA is undefined")
    return float(hsic / (nx * ny))
