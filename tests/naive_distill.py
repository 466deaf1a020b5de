"""Slow pure-Python/numpy references for the distillation losses (kept in tests on purpose)."""
from __future__ import annotations

import math

import numpy as np


def log_softmax(z):
    m = max(z)
    s = sum(math.exp(v - m) for v in z)
    return [v - m - math.log(s) for v in z]


def wsld_loop(zs, zt, y, T):
    """WSLD loss by a per-sample loop over python floats (spec §3.2)."""
    total, weights = 0.0, []
    for i in range(len(zs)):
        pt = [math.exp(v) for v in log_softmax([v / T for v in zt[i]])]
        lps_T = log_softmax([v / T for v in zs[i]])
        soft = -sum(p * l for p, l in zip(pt, lps_T))
        ce_s = -log_softmax(zs[i])[y[i]]
        ce_t = -log_softmax(zt[i])[y[i]]
        w = 1.0 - math.exp(-max(0.0, ce_s / (ce_t + 1e-7)))
        weights.append(w)
        total += w * soft
    return T * T * total / len(zs), weights


def kd_loop(zs, zt, T):
    total = 0.0
    for i in range(len(zs)):
        lpt = log_softmax([v / T for v in zt[i]])
        lps = log_softmax([v / T for v in zs[i]])
        total += sum(math.exp(a) * (a - b) for a, b in zip(lpt, lps))
    return T * T * total / len(zs)


def conv2d_same(x, w, b):
    """x [C_in, H, W], w [C_out, C_in, k, k] (odd k), zero padding k//2, cross-correlation."""
    c_in, h, wd = x.shape
    c_out, _, k, _ = w.shape
    p = k // 2
    xp = np.zeros((c_in, h + 2 * p, wd + 2 * p))
    xp[:, p:p + h, p:p + wd] = x
    out = np.zeros((c_out, h, wd))
    for o in range(c_out):
        for i in range(h):
            for j in range(wd):
                acc = b[o]
                for c in range(c_in):
                    for di in range(k):
                        for dj in range(k):
                            acc += w[o, c, di, dj] * xp[c, i + di, j + dj]
                out[o, i, j] = acc
    return out


def bkd_loop(fs, ft, mask, w1, b1, w2, b2, alpha):
    """Blurred KD for [B, C, H, W] numpy features with a given [B, C] mask."""
    total = 0.0
    for bi in range(fs.shape[0]):
        blurred = fs[bi] * mask[bi][:, None, None]
        h = np.maximum(conv2d_same(blurred, w1, b1), 0.0)
        g = conv2d_same(h, w2, b2)
        total += ((g - ft[bi]) ** 2).sum()
    return alpha * total / fs.shape[0]
