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

from neurosim._validation import as_float_array, check_int, check_same_length

__all__ = ["nrmse", "squared_correlation", "memory_capacity", "separation", "accuracy", "top1_retrieval"]


def nrmse(y, y_hat) -> float:
    """Root-mean-square error normalised by the standard deviation of ``y``."""
    y = as_float_array("y", y)
    y_hat = as_float_array("y_hat", y_hat)
    if y.shape != y_hat.shape:
        raise ValueError(f"y and y_hat must have the same shape, got {y.shape} and {y_hat.shape}")
    sd = float(np.std(y))
    if sd == 0.0:
        raise ValueError("y is constant; NRMSE is undefined")
    return float(np.sqrt(np.mean((y - y_hat) ** 2)) / sd)


def squared_correlation(a, b) -> float:
    """Squared Pearson correlation (0 when either side is constant)."""
    a = np.asarray(a, float).ravel()
    b = np.asarray(b, float).ravel()
    a = a - a.mean()
    b = b - b.mean()
    den = float(np.dot(a, a) * np.dot(b, b))
    return float(np.dot(a, b) ** 2 / den) if den > 0 else 0.0


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
    start = max(washout, max_delay)
    n = states.shape[0] - start
    if n < 20:
        raise ValueError(f"too few steps after washout/max_delay: {n}; run longer or lower max_delay/washout")
    split = start + int(train_frac * n)
    X = states
    targets = np.stack([np.roll(u, k) for k in range(1, max_delay + 1)], axis=1)  # u(t-k)
    model = Ridge(alpha=alpha).fit(X[start:split], targets[start:split])
    pred = model.predict(X[split:])
    mc = np.array([squared_correlation(targets[split:, k], pred[:, k]) for k in range(max_delay)])
    return float(mc.sum()), mc


def separation(features, labels) -> float:
    """Separation property ``C_d / (C_v + 1)`` of features [B, F] with class labels [B]."""
    features = as_float_array("features", features, ndim=2)
    labels = np.asarray(labels).ravel()
    check_same_length(features=features, labels=labels)
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError("separation needs at least two classes")
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
