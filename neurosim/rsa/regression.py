"""Regression metric (paper App. F): PCA of model features -> ridge -> R^2 per unit.

Pipeline (the paper's ``RegMetric``): project the features ``X`` [T, N] onto their first
``n_components`` principal components (40), fit ridge regression (``alpha`` = 1.0, with an
intercept) to every neural unit ``Y`` [T, M], score the coefficient of determination
``R^2 = 1 - SS_res / SS_tot`` per unit and average over units (a unit constant in the
evaluation frames scores 1 if predicted exactly, else 0: scikit-learn's convention).

**Held-out evaluation by default**: frames are split into ``n_folds`` contiguous blocks
(neighbouring movie frames are correlated, so random frame splits would leak); for each
block, PCA and ridge are fit on the other blocks and R^2 is computed on the block; the
result is the mean over blocks. ``same_data=True`` reproduces the released code, which fits
PCA on all frames and fits *and* evaluates the ridge on the same frames (an in-sample R^2,
optimistic; the paper's Table 5 numbers are of this kind).

NumPy only (the equivalence with ``sklearn.decomposition.PCA`` + ``sklearn.linear_model.Ridge``
is a test).
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import check_int, check_nonnegative
from neurosim.rsa._checks import response_matrix, same_rows

__all__ = ["pca_fit", "ridge_fit", "r2_per_unit", "regression_score"]


def pca_fit(X, n_components: int):
    """Return ``(mean, components [k, N])`` of the principal axes (SVD of centred X)."""
    mean = X.mean(axis=0)
    _, _, Vt = np.linalg.svd(X - mean, full_matrices=False)
    return mean, Vt[:n_components]


def ridge_fit(Z, Y, alpha: float):
    """Ridge with intercept: returns ``(W [k, M], b [M])`` minimising |Y - Z W - b|^2 + alpha |W|^2."""
    zm, ym = Z.mean(axis=0), Y.mean(axis=0)
    Zc = Z - zm
    A = Zc.T @ Zc + alpha * np.eye(Z.shape[1])
    try:
        W = np.linalg.solve(A, Zc.T @ (Y - ym))
    except np.linalg.LinAlgError:  # alpha ~ 0 with collinear components: the minimum-norm solution
        W = np.linalg.lstsq(A, Zc.T @ (Y - ym), rcond=None)[0]
    return W, ym - zm @ W


def r2_per_unit(Y, P) -> np.ndarray:
    """Coefficient of determination per column (scikit-learn's constant-column convention)."""
    ss_res = ((Y - P) ** 2).sum(axis=0)
    ss_tot = ((Y - Y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.ones(Y.shape[1])
    ok = ss_tot > 0
    r2[ok] = 1.0 - ss_res[ok] / ss_tot[ok]
    r2[~ok & (ss_res > 0)] = 0.0
    return r2


def _fit_predict(Xtr, Ytr, Xte, k, alpha):
    mean, comps = pca_fit(Xtr, k)
    Ztr = (Xtr - mean) @ comps.T
    Zte = (Xte - mean) @ comps.T
    W, b = ridge_fit(Ztr, Ytr, alpha)
    return Zte @ W + b


def regression_score(X, Y, *, n_components: int = 40, alpha: float = 1.0, n_folds: int = 5,
                     same_data: bool = False) -> dict:
    """Mean R^2 over units of PCA + ridge predictions of ``Y`` from ``X``.

    Returns ``{"r2": float, "r2_per_unit": array [M], "n_components": k}`` where ``k`` is
    ``n_components`` capped at the training frames / features available.
    """
    X = response_matrix("X", X, min_rows=3)
    Y = response_matrix("Y", Y, min_rows=3)
    T = same_rows(X=X, Y=Y)
    check_int("n_components", n_components, min_value=1)
    alpha = check_nonnegative("alpha", alpha)
    check_int("n_folds", n_folds, min_value=2)
    if same_data:
        k = min(n_components, T, X.shape[1])
        P = _fit_predict(X, Y, X, k, alpha)
        r2u = r2_per_unit(Y, P)
        return {"r2": float(r2u.mean()), "r2_per_unit": r2u, "n_components": k, "same_data": True}
    check_int("n_folds", n_folds, min_value=2, max_value=T)
    edges = np.linspace(0, T, n_folds + 1).astype(int)
    per_fold = []
    k = min(n_components, T - int(np.diff(edges).max()), X.shape[1])
    for a, b in zip(edges[:-1], edges[1:]):
        test = np.zeros(T, dtype=bool)
        test[a:b] = True
        P = _fit_predict(X[~test], Y[~test], X[test], k, alpha)
        per_fold.append(r2_per_unit(Y[test], P))
    r2u = np.mean(per_fold, axis=0)
    return {"r2": float(r2u.mean()), "r2_per_unit": r2u, "n_components": k, "same_data": False}
