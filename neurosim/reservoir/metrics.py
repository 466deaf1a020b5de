"""Scores for reservoir tasks (numpy only).

* ``nrmse(y, y_hat) = sqrt(mean((y - y_hat)^2)) / std(y)``.
* Memory capacity (Jaeger 2001): ``MC = sum_{k=1}^{K} r^2(u(t - k), y_hat_k(t))``, each
  ``y_hat_k`` a ridge readout trained on the first part of the run and scored on the rest;
  delays start at 1 (delay 0 excluded).
* Separation property (Norton & Ventura 2010 form):
  ``Sep = C_d / (C_v + 1)``, ``C_d`` = mean distance between class centroids,
  ``C_v`` = mean over classes of the mean distance of samples to their centroid.
* Top-1 accuracy and retrieval (see :mod:`neurosim.reservoir.contrastive` for embeddings).
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import as_float_array, check_int, check_probability, check_same_length

__all__ = ["nrmse", "squared_correlation", "memory_capacity", "separation", "accuracy", "top1_retrieval"]


def _pow2_normalise(x: np.ndarray) -> tuple[np.ndarray, int]:
    """``(x / 2**e, e)`` with the largest ``|x / 2**e|`` in ``[0.5, 1)`` (exact barring underflow)."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak == 0.0:
        return x, 0
    e = int(np.frexp(peak)[1])
    return np.ldexp(x, -e), e


def _rms(x: np.ndarray) -> tuple[float, int]:
    """Root mean square as ``(m, e)``, ``rms = m * 2**e``: no overflow or underflow when squaring."""
    xn, e = _pow2_normalise(x)
    return float(np.sqrt(np.mean(xn * xn))), e


def nrmse(y, y_hat) -> float:
    """Root-mean-square error normalised by the standard deviation of ``y``.

    Computed without overflow or underflow for any finite inputs (values near ``1e300`` or
    ``1e-300`` included): the error and the spread of ``y`` are each divided by a power of two
    before squaring, and the exponents are combined at the end. A ratio beyond the float64
    range raises ``ValueError``.
    """
    y = as_float_array("y", y, dtype=np.float64)
    y_hat = as_float_array("y_hat", y_hat, dtype=np.float64)
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same shape, got {y.shape} and {y_hat.shape}")
    if y.size == 0:
        raise ValueError("y is empty; NRMSE needs at least two values")
    yn, ey = _pow2_normalise(y)
    sd, e_sd = _rms(yn - np.mean(yn))
    if y.max() == y.min() or sd == 0.0:
        raise ValueError("y is constant (standard deviation 0); NRMSE is undefined, pass a y that varies")
    _, e = _pow2_normalise(np.concatenate([y.ravel(), y_hat.ravel()]))
    err, e_err = _rms(np.ldexp(y, -e) - np.ldexp(y_hat, -e))  # |difference| <= 2: no overflow
    with np.errstate(over="ignore"):
        out = float(np.ldexp(err / sd, e + e_err - (ey + e_sd)))
    if not np.isfinite(out):
        raise ValueError(f"the error of y_hat is about 2**{e + e_err - ey - e_sd} times the standard deviation of "
                         "y: beyond the float64 range; check the scales of y and y_hat")
    return out


def squared_correlation(a, b) -> float:
    """Squared Pearson correlation (0 when either side is constant).

    Scale-invariant, so each side is divided by a power of two before and after centring:
    no overflow or underflow at any finite scale.
    """
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    if a.size == 0 or a.max() == a.min() or b.max() == b.min():
        return 0.0
    an, _ = _pow2_normalise(a)
    bn, _ = _pow2_normalise(b)
    ac, _ = _pow2_normalise(an - an.mean())
    bc, _ = _pow2_normalise(bn - bn.mean())
    den = float(np.dot(ac, ac) * np.dot(bc, bc))
    return float(np.dot(ac, bc) ** 2 / den) if den > 0 else 0.0


def memory_capacity(states, u, max_delay: int, washout: int = 100, train_frac: float = 0.5,
                    alpha: float = 1e-8) -> tuple[float, np.ndarray]:
    """Linear memory capacity of ``states`` [T, N] driven by scalar input ``u`` [T].

    Returns ``(MC, mc_k)`` with ``mc_k`` [max_delay] for delays ``1..max_delay``. A ridge readout
    (regularisation ``alpha``) with bias is fit per delay on the first ``train_frac`` of the
    steps after ``washout`` and scored on the rest.
    """
    from .readouts import Ridge

    states = as_float_array("states", states, ndim=2)
    u = as_float_array("u", u).ravel()
    check_same_length(states=states, u=u)
    max_delay = check_int("max_delay", max_delay, min_value=1)
    washout = check_int("washout", washout, min_value=0)
    train_frac = check_probability("train_frac", train_frac, open_low=True, open_high=True)
    start = max(washout, max_delay)
    n = states.shape[0] - start
    if n < 20:
        raise ValueError(f"too few steps after washout/max_delay: {n}; run longer or lower max_delay/washout")
    n_train = int(train_frac * n)
    if n_train < 2 or n - n_train < 2:
        raise ValueError(f"train_frac={train_frac} splits the {n} scored steps into {n_train} training and "
                         f"{n - n_train} test steps; each part needs at least 2: pick train_frac nearer 0.5")
    split = start + n_train
    X = states
    targets = np.stack([np.roll(u, k) for k in range(1, max_delay + 1)], axis=1)  # u(t-k)
    try:
        model = Ridge(alpha=alpha).fit(X[start:split], targets[start:split])
    except ValueError as exc:  # Ridge names its X and Y: here they are states and u
        raise ValueError(f"the ridge readout of memory_capacity failed on states and u: {exc}") from exc
    pred = model.predict(X[split:])
    mc = np.array([squared_correlation(targets[split:, k], pred[:, k]) for k in range(max_delay)])
    return float(mc.sum()), mc


def separation(features, labels) -> float:
    """Separation property ``C_d / (C_v + 1)`` of features [B, F] with class labels [B]."""
    features = as_float_array("features", features, ndim=2)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (one class label per row of features), got shape {labels.shape}")
    if labels.dtype.kind not in "biufUS":
        raise TypeError(f"labels must hold numbers or strings (class labels), got dtype {labels.dtype}")
    if labels.dtype.kind in "fc" and not np.all(np.isfinite(labels)):
        raise ValueError("labels contains NaN/inf; every sample needs a class label")
    check_same_length(features=features, labels=labels)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError(f"labels must hold at least two classes for separation, got {classes.size} "
                         f"({', '.join(map(repr, classes.tolist()))})")
    cent = np.stack([features[labels == c].mean(0) for c in classes])
    diff = cent[:, None, :] - cent[None, :, :]
    cd = float(np.linalg.norm(diff, axis=-1).sum() / classes.size ** 2)
    cv = float(np.mean([np.linalg.norm(features[labels == c] - cent[i], axis=1).mean()
                        for i, c in enumerate(classes)]))
    return cd / (cv + 1.0)


def accuracy(y_true, y_pred) -> float:
    """Fraction of equal labels."""
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    check_same_length(y_true=y_true, y_pred=y_pred)
    return float(np.mean(y_true == y_pred)) if y_true.size else float("nan")


def top1_retrieval(query, query_labels, gallery, gallery_labels) -> float:
    """Fraction of queries whose most similar (dot product) gallery item has the same label."""
    q = as_float_array("query", query, ndim=2)
    g = as_float_array("gallery", gallery, ndim=2)
    ql = np.asarray(query_labels).ravel()
    gl = np.asarray(gallery_labels).ravel()
    check_same_length(query=q, query_labels=ql)
    check_same_length(gallery=g, gallery_labels=gl)
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query and gallery must have the same embedding width, got {q.shape[1]} and {g.shape[1]}")
    best = np.argmax(q @ g.T, axis=1)
    return float(np.mean(gl[best] == ql))
