"""Slow, independent references for the SNN layers (NumPy float64 loops, hand-written BPTT).

These do not use autograd or any neurosim code: forward is the textbook charge -> fire ->
reset loop; backward is the chain rule written out per time step.
"""
from __future__ import annotations

import math

import numpy as np


def sg_grad(name: str, p: float, x: np.ndarray) -> np.ndarray:
    """Closed-form surrogate derivatives (see neurosim.snn.surrogate's table)."""
    if name == "atan":
        return (p / 2) / (1 + (math.pi / 2 * p * x) ** 2)
    if name == "sigmoid":
        s = 1 / (1 + np.exp(-p * x))
        return p * s * (1 - s)
    if name in ("fast_sigmoid", "superspike"):
        return 1 / (p * np.abs(x) + 1) ** 2
    if name == "triangle":
        return p * np.maximum(0.0, 1 - p * np.abs(x))
    if name == "gaussian":
        return np.exp(-x ** 2 / (2 * p * p)) / (math.sqrt(2 * math.pi) * p)
    if name == "erf":
        return p / math.sqrt(math.pi) * np.exp(-(p * x) ** 2)
    raise KeyError(name)


def lif_forward(x, *, tau, v_th=1.0, v_reset=0.0, v_rest=0.0, reset="zero", decay_input=True,
                strict=False, v0=None, dtype=np.float64):
    """Spikes [T, M], charged membranes h [T, M] and the final v [M].

    Arithmetic in ``dtype`` (NumPy scalars of that dtype; the Python-float parameters are
    rounded to it, NumPy 2's weak scalars), one operation at a time in the written order.
    """
    x = np.asarray(x, dtype=dtype)
    T, M = x.shape
    v = np.full(M, v_rest, dtype=dtype) if v0 is None else np.array(v0, dtype=dtype)
    S = np.zeros((T, M), dtype=dtype)
    H = np.zeros((T, M), dtype=dtype)
    for t in range(T):
        for m in range(M):
            if decay_input:
                h = v[m] + (x[t, m] - (v[m] - v_rest)) / tau
            else:
                h = v[m] - (v[m] - v_rest) / tau + x[t, m]
            s = 1.0 if (h > v_th if strict else h >= v_th) else 0.0
            if reset == "zero":
                v[m] = v_reset if s else h
            elif reset == "subtract":
                v[m] = h - s * (v_th - v_reset)
            else:
                v[m] = h
            S[t, m], H[t, m] = s, h
    return S, H, v


def lif_backward(gs, H, *, tau, sg, sg_p, v_th=1.0, v_reset=0.0, reset="zero", decay_input=True,
                 detach_reset=False, strict=False, gv_T=None):
    """Hand-written BPTT: returns (grad_x [T, M], grad_v0 [M])."""
    gs = np.asarray(gs, dtype=np.float64)
    T, M = gs.shape
    gv = np.zeros(M) if gv_T is None else np.array(gv_T, dtype=np.float64)
    gx = np.zeros((T, M))
    for t in range(T - 1, -1, -1):
        h = H[t]
        g = sg_grad(sg, sg_p, h - v_th)
        s = (h > v_th) if strict else (h >= v_th)
        if reset == "zero":
            dv_dh = (1 - s) + (0.0 if detach_reset else (v_reset - h) * g)
        elif reset == "subtract":
            dv_dh = 1.0 - (0.0 if detach_reset else (v_th - v_reset) * g)
        else:
            dv_dh = np.ones(M)
        gh = gs[t] * g + gv * dv_dh
        gx[t] = gh / tau if decay_input else gh
        gv = gh * (1 - 1 / tau)
    return gx, gv


def norse_lif_box(x, *, tau_mem_inv=100.0, dt=1e-3, v_leak=0.0, v_th=1.0, v_reset=0.0):
    """norse LIFBox forward-Euler equations (PEERS.md): spikes [T, M] (fires on v > v_th)."""
    x = np.asarray(x, dtype=np.float64)
    v = np.full(x.shape[1], v_leak)
    out = np.zeros_like(x)
    for t in range(x.shape[0]):
        v = v + dt * tau_mem_inv * ((v_leak - v) + x[t])
        z = (v > v_th).astype(float)
        v = (1 - z) * v + z * v_reset
        out[t] = z
    return out


def alif_forward(x, *, tau, tau_adapt, beta_adapt, v_th=1.0, reset="subtract"):
    """Adaptive-threshold LIF (decay_input, fire >=), spikes [T, M] and thresholds [T, M]."""
    x = np.asarray(x, dtype=np.float64)
    T, M = x.shape
    v = np.zeros(M)
    a = np.zeros(M)
    rho = math.exp(-1.0 / tau_adapt)
    S = np.zeros((T, M))
    TH = np.zeros((T, M))
    for t in range(T):
        h = v + (x[t] - v) / tau
        th = v_th + beta_adapt * a
        s = (h >= th).astype(float)
        v = h - s * th if reset == "subtract" else np.where(s > 0, 0.0, h)
        a = rho * a + (1 - rho) * s
        S[t], TH[t] = s, th
    return S, TH


def recurrent_lif_forward(x, W, *, tau):
    """LIF (decay_input, hard reset to 0, fire >=) driven by x_t + W s_{t-1}; spikes [T, M]."""
    x = np.asarray(x, dtype=np.float64)
    T, M = x.shape
    v = np.zeros(M)
    s = np.zeros(M)
    out = np.zeros((T, M))
    for t in range(T):
        i = x[t] + W @ s
        h = v + (i - v) / tau
        s = (h >= 1.0).astype(float)
        v = np.where(s > 0, 0.0, h)
        out[t] = s
    return out


def batchnorm_train(x, gamma, beta, eps, dy):
    """Training-mode batch norm of ``x`` [N, C, H, W] per channel, float64: returns ``y``, the
    biased variance, and the gradients ``dx``, ``dgamma``, ``dbeta`` for upstream ``dy``."""
    x = np.asarray(x, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    y = np.empty_like(x)
    dx = np.empty_like(x)
    C = x.shape[1]
    var_out, dg, db = np.zeros(C), np.zeros(C), np.zeros(C)
    for c in range(C):
        xc = x[:, c]
        m = xc.size
        mean = xc.sum() / m
        var = ((xc - mean) ** 2).sum() / m
        xhat = (xc - mean) / math.sqrt(var + eps)
        y[:, c] = xhat * gamma[c] + beta[c]
        db[c] = dy[:, c].sum()
        dg[c] = (dy[:, c] * xhat).sum()
        dx[:, c] = gamma[c] / math.sqrt(var + eps) * (dy[:, c] - db[c] / m - xhat * dg[c] / m)
        var_out[c] = var
    return y, var_out, dx, dg, db


def zero_pad(x, p, K):
    """``x`` [N, C, H, W] zero-padded by ``p`` on each side, and the output size ``(Ho, Wo)`` of a
    stride-1 ``K x K`` convolution over it."""
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    xp[:, :, p:p + H, p:p + W] = x
    return xp, (H + 2 * p - K + 1, W + 2 * p - K + 1)


def conv2d(x, w, b, p):
    """Cross-correlation with stride 1 and zero padding ``p``: x [N, C, H, W], w [O, C, K, K]."""
    N, C = x.shape[:2]
    O, _, K, _ = w.shape
    xp, (Ho, Wo) = zero_pad(x, p, K)
    out = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    acc = float(b[o])
                    for c in range(C):
                        for u in range(K):
                            for v in range(K):
                                acc += float(w[o, c, u, v]) * float(xp[n, c, i + u, j + v])
                    out[n, o, i, j] = acc
    return out


def conv2d_backward(x, w, dy, p):
    """Gradients ``(dx, dw, db)`` of :func:`conv2d` for upstream ``dy`` [N, O, Ho, Wo]."""
    N, C, H, W = x.shape
    O, _, K, _ = w.shape
    xp = np.zeros((N, C, H + 2 * p, W + 2 * p))
    xp[:, :, p:p + H, p:p + W] = x
    dxp = np.zeros_like(xp)
    dw = np.zeros(w.shape)
    db = np.zeros(O)
    Ho, Wo = dy.shape[2:]
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    g = float(dy[n, o, i, j])
                    db[o] += g
                    for c in range(C):
                        for u in range(K):
                            for v in range(K):
                                dw[o, c, u, v] += g * float(xp[n, c, i + u, j + v])
                                dxp[n, c, i + u, j + v] += g * float(w[o, c, u, v])
    return dxp[:, :, p:p + H, p:p + W], dw, db
