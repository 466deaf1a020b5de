"""Slow, obviously-correct references for the reservoir code (pure Python loops)."""
from __future__ import annotations

import math
from collections import deque

import numpy as np


def narma10_naive(u):
    """NARMA-10 term by term; terms before t = 0 are zero."""
    y = [0.0] * len(u)
    for t in range(len(u) - 1):
        total = sum(y[t - i] for i in range(10) if t - i >= 0)
        u9 = u[t - 9] if t >= 9 else 0.0
        y[t + 1] = 0.3 * y[t] + 0.05 * y[t] * total + 1.5 * u9 * u[t] + 0.1
    return np.array(y)


def mackey_glass_naive(n_samples, tau=17.0, beta=0.2, gamma=0.1, n=10.0, dt=0.1, x0=1.2):
    lag = int(round(tau / dt))
    every = int(round(1.0 / dt))
    hist = deque([x0] * (lag + 1), maxlen=lag + 1)  # hist[0] = x(t - tau), hist[-1] = x(t)
    out = [x0]
    step = 0
    while len(out) < n_samples:
        xt, xd = hist[-1], hist[0]
        hist.append(xt + dt * (beta * xd / (1.0 + xd ** n) - gamma * xt))
        step += 1
        if step % every == 0:
            out.append(hist[-1])
    return np.array(out)


def lsm_naive(currents, W, decay, v_th, reset="zero", margin=False):
    """currents [T, N] -> spikes [T, N] (discrete LIF template); with ``margin``, also the smallest
    distance of a membrane to the threshold."""
    T, N = currents.shape
    mem = [0.0] * N
    spk = [0.0] * N
    out = np.zeros((T, N))
    gap = math.inf
    for t in range(T):
        new_mem = []
        for i in range(N):
            m = mem[i] * decay * (1 - spk[i]) if reset == "zero" else mem[i] * decay - v_th * spk[i]
            m += currents[t, i] + sum(W[i][j] * spk[j] for j in range(N))
            new_mem.append(m)
        mem = new_mem
        gap = min([gap] + [abs(m - v_th) for m in mem])
        spk = [1.0 if m > v_th else 0.0 for m in mem]
        out[t] = spk
    return (out, gap) if margin else out


def ei_naive(drive, WE, WI, g, leak, eta, target):
    T, N = drive.shape
    r = [0.0] * N
    g = list(g)
    out = np.zeros((T, N))
    for t in range(T):
        new = []
        for i in range(N):
            h = sum(WE[i][j] * r[j] for j in range(N)) - g[i] * sum(WI[i][j] * r[j] for j in range(N)) + drive[t][i]
            new.append((1 - leak) * r[i] + leak / (1 + math.exp(-h)))
        r = new
        for i in range(N):
            g[i] = max(g[i] + eta * (r[i] - target[i]), 0.0)
        out[t] = r
    return out, np.array(g)


def izhikevich_naive(I, W, a, b, c, d, trace_decay, margin=False):
    """The 2003 listing (two half steps), v capped at 30 mV, plus exponential traces; with
    ``margin``, also the smallest distance of an uncapped v to the 30 mV peak."""
    T, N = I.shape
    v = [-65.0] * N
    u = [b[i] * -65.0 for i in range(N)]
    x = [0.0] * N
    spikes = np.zeros((T, N))
    traces = np.zeros((T, N))
    gap = math.inf
    for t in range(T):
        fired = [i for i in range(N) if v[i] >= 30.0]
        for i in fired:
            v[i] = c[i]
            u[i] += d[i]
        for i in range(N):
            cur = I[t][i] + sum(W[i][j] for j in fired)
            vi = v[i]
            for _ in range(2):
                vi = vi + 0.5 * (0.04 * vi * vi + 5 * vi + 140 - u[i] + cur)
            gap = min(gap, abs(vi - 30.0))
            vi = min(vi, 30.0)
            v[i] = vi
            u[i] = u[i] + a[i] * (b[i] * vi - u[i])
            x[i] = x[i] * trace_decay[i] + (1.0 if i in fired else 0.0)
            spikes[t, i] = 1.0 if i in fired else 0.0
            traces[t, i] = x[i]
    return (spikes, traces, gap) if margin else (spikes, traces)


def three_factor_naive(x, y, gate, eta, decay, n_out):
    T, N = x.shape
    w = [[0.0] * N for _ in range(n_out)]
    zs = np.zeros((T, n_out))
    for t in range(T):
        z = [sum(w[k][j] * x[t][j] for j in range(N)) for k in range(n_out)]
        zs[t] = z
        if gate[t] != 0:
            for k in range(n_out):
                e = y[t][k] - z[k]
                for j in range(N):
                    w[k][j] += eta * gate[t] * e * x[t][j] - decay * w[k][j]
    return np.array(w), zs


def force_naive(x, y, alpha, n_out):
    """RLS written with numpy matrices, one step at a time."""
    T, N = x.shape
    P = np.eye(N) / alpha
    w = np.zeros((n_out, N))
    zs = np.zeros((T, n_out))
    for t in range(T):
        xt = x[t][:, None]
        zs[t] = (w @ xt).ravel()
        k = P @ xt
        c = 1.0 / (1.0 + (xt.T @ k).item())
        P = P - c * (k @ k.T)
        w = w - c * np.outer(zs[t] - y[t], k.ravel())
    return w, zs


def ridge_naive(X, Y, alpha):
    """Augmented least squares: minimise ||[X 1] beta - Y||^2 + alpha ||w||^2 (bias unpenalised)."""
    n, f = X.shape
    A = np.hstack([X, np.ones((n, 1))])
    R = np.sqrt(alpha) * np.hstack([np.eye(f), np.zeros((f, 1))])
    beta = np.linalg.lstsq(np.vstack([A, R]), np.vstack([Y, np.zeros((f, Y.shape[1]))]), rcond=None)[0]
    return beta[:f], beta[f]
