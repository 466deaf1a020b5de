"""Hebbian / anti-Hebbian subspace rule (Oja's subspace rule, batch form) for HLOP.

Lateral "subspace neurons" with weights ``H`` (``K x n``, one row per neuron) read a batch of
presynaptic activity ``X`` (``B x n``)::

    Y     = X Hᵀ                       (Hebbian forward pass, y = H x)
    X̂     = Y H                        (anti-Hebbian / recurrent reconstruction)
    ΔH    = clip(Yᵀ (X − X̂) / B, −c, c)
    M     = β M + (1 − β) ΔH           (momentum, β = 0.9)
    H     = H + η M

repeated ``iterations`` times per batch. The first ``n_frozen`` rows (consolidated subspaces
of earlier tasks) are never changed, nor is their momentum. Because those rows are constant
during the iterations, their reconstruction ``Y_f H_f`` is computed once per batch and only
the ``k = K − n_frozen`` free rows are iterated on: per iteration the cost is ``3 B k n``
multiply-adds instead of ``3 B K n`` (the naive form in ``tests/naive_continual.py``).

Spiking lateral neurons (HLOP ``-hlop_spiking``) quantise the responses,
``y ← round(clip(y, −s, s) / s · T_h) / T_h · s``; ``quant_steps = 0`` disables it.

Numba only (numpy + numba + neurosim.config). The kernels write into caller-allocated
arrays; ``hebbian_subspace_update`` validates and allocates the work buffers.
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import NJIT

__all__ = ["hebbian_integrate", "hebbian_subspace_update"]


@numba.njit(**NJIT)
def _quantise(Y, scale, steps):
    if steps > 0.0:
        for i in range(Y.shape[0]):
            for j in range(Y.shape[1]):
                v = Y[i, j]
                if v > scale:
                    v = scale
                elif v < -scale:
                    v = -scale
                Y[i, j] = np.round(v / scale * steps) / steps * scale


@numba.njit(**NJIT)
def _hebbian_update(Hu, Mu, X, Xr, eta, clamp, beta, scale, steps, Y, R, D):
    """One iteration on the free rows ``Hu`` (views into H), residual input ``Xr``."""
    B = X.shape[0]
    np.dot(X, Hu.T, Y)                      # Y = X Huᵀ            (B x k)
    _quantise(Y, scale, steps)
    np.dot(Y, Hu, R)                        # R = Y Hu             (B x n)
    for b in range(B):                      # R = Xr − Y Hu
        for j in range(R.shape[1]):
            R[b, j] = Xr[b, j] - R[b, j]
    np.dot(Y.T, R, D)                       # D = Yᵀ R             (k x n)
    inv_b = 1.0 / B
    one_m_beta = 1.0 - beta
    for i in range(D.shape[0]):
        for j in range(D.shape[1]):
            d = D[i, j] * inv_b
            if d > clamp:
                d = clamp
            elif d < -clamp:
                d = -clamp
            m = beta * Mu[i, j] + one_m_beta * d
            Mu[i, j] = m
            Hu[i, j] += eta * m


@numba.njit(**NJIT)
def hebbian_integrate(H, M, X, n_frozen, eta, clamp, beta, iterations, scale, steps, Yf, Xr, Y, R, D):
    """Run ``iterations`` Hebbian updates of the free rows ``H[n_frozen:]`` in place.

    Work arrays: ``Yf`` (B x n_frozen), ``Xr`` (B x n), ``Y`` (B x k), ``R`` (B x n),
    ``D`` (k x n), with ``k = K − n_frozen``; all C-contiguous, dtype of ``H``.
    """
    B, n = X.shape
    if n_frozen > 0:
        Hf = H[:n_frozen]
        np.dot(X, Hf.T, Yf)
        _quantise(Yf, scale, steps)
        np.dot(Yf, Hf, Xr)
        for b in range(B):
            for j in range(n):
                Xr[b, j] = X[b, j] - Xr[b, j]
    else:
        Xr[:, :] = X
    Hu = H[n_frozen:]
    Mu = M[n_frozen:]
    for _ in range(iterations):
        _hebbian_update(Hu, Mu, X, Xr, eta, clamp, beta, scale, steps, Y, R, D)


def hebbian_subspace_update(H, M, X, n_frozen=0, *, eta=0.01, clamp=10.0, momentum=0.9, iterations=5,
                            quant_scale=20.0, quant_steps=0.0):
    """Validate, allocate work buffers and update ``H`` and ``M`` in place.

    Parameters
    ----------
    H, M : ndarray (K, n), float32 or float64, C-contiguous
        Lateral weights and their momentum; rows ``[:n_frozen]`` stay unchanged.
    X : ndarray (B, n), same dtype
        Presynaptic activity (one row per sample / time step).
    n_frozen : int
        Number of leading frozen rows (0 <= n_frozen <= K).
    eta, clamp, momentum, iterations : learning rate, clip bound of ΔH, momentum β, iterations.
    quant_scale, quant_steps : spiking-lateral-neuron quantisation (``quant_steps = 0``: off).

    Returns
    -------
    H, M : the same arrays, updated.
    """
    for name, a in (("H", H), ("M", M), ("X", X)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
        if a.dtype != H.dtype:
            raise TypeError(f"{name} dtype {a.dtype} differs from H dtype {H.dtype}; convert first")
    if not (H.flags.c_contiguous and M.flags.c_contiguous):
        raise ValueError("H and M must be C-contiguous (they are updated in place)")
    if M.shape != H.shape:
        raise ValueError(f"M must have the shape of H {H.shape}, got {M.shape}")
    if X.shape[1] != H.shape[1]:
        raise ValueError(f"X has {X.shape[1]} features but H has {H.shape[1]} columns")
    K, n = H.shape
    n_frozen = int(n_frozen)
    if not 0 <= n_frozen <= K:
        raise ValueError(f"n_frozen must lie in [0, {K}], got {n_frozen}")
    if int(iterations) < 0:
        raise ValueError(f"iterations must be >= 0, got {iterations}")
    if not np.isfinite(eta) or not np.isfinite(clamp) or clamp <= 0:
        raise ValueError(f"eta must be finite and clamp > 0, got eta={eta}, clamp={clamp}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum must lie in [0, 1), got {momentum}")
    if quant_steps < 0 or quant_scale <= 0:
        raise ValueError(f"quant_scale must be > 0 and quant_steps >= 0, got {quant_scale}, {quant_steps}")
    k = K - n_frozen
    B = X.shape[0]
    if k == 0 or B == 0 or iterations == 0:
        return H, M
    X = np.ascontiguousarray(X)
    dt = H.dtype
    Yf = np.empty((B, n_frozen), dt)
    Xr = np.empty((B, n), dt)
    Y = np.empty((B, k), dt)
    R = np.empty((B, n), dt)
    D = np.empty((k, n), dt)
    hebbian_integrate(H, M, X, n_frozen, float(eta), float(clamp), float(momentum), int(iterations),
                      float(quant_scale), float(quant_steps), Yf, Xr, Y, R, D)
    return H, M
