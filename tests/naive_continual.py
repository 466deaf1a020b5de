"""Slow, literal references for the continual-learning code (kept in tests only).

``naive_hebbian`` follows ALGORITHMS.md §2.1 line by line on the *full* weight matrix with a
row mask (no frozen-reconstruction shortcut), in float64 NumPy.
"""
from __future__ import annotations

import numpy as np


def naive_hebbian(H, M, X, n_frozen, eta=0.01, clamp=10.0, momentum=0.9, iterations=5,
                  quant_scale=20.0, quant_steps=0.0):
    H = np.array(H, dtype=np.float64)
    M = np.array(M, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    B = X.shape[0]
    frozen = np.zeros(H.shape[0], dtype=bool)
    frozen[:n_frozen] = True
    for _ in range(iterations):
        Y = X @ H.T
        if quant_steps > 0:
            Y = np.round(np.clip(Y, -quant_scale, quant_scale) / quant_scale * quant_steps) / quant_steps * quant_scale
        Xhat = Y @ H
        D = Y.T @ (X - Xhat) / B
        D = np.clip(D, -clamp, clamp)
        D[frozen] = 0.0
        kept = M[frozen].copy()
        M[frozen] = 0.0
        M = momentum * M + (1 - momentum) * D
        H = H + eta * M
        M[frozen] = kept
    return H, M


def naive_project(x, H):
    """``x`` minus its orthogonal projection onto the row space of ``H`` (least squares)."""
    x = np.asarray(x, dtype=np.float64)
    H = np.asarray(H, dtype=np.float64)
    coef, *_ = np.linalg.lstsq(H.T, x.T, rcond=None)
    return x - (H.T @ coef).T


def naive_acc_bwt(R):
    R = np.asarray(R, dtype=np.float64)
    T = len(R)
    acc = sum(R[T - 1][j] for j in range(T)) / T
    bwt = sum(R[T - 1][j] - R[j][j] for j in range(T - 1)) / (T - 1) if T > 1 else 0.0
    return acc, bwt
