"""Slow, obviously-correct references for the RSA tests (double loops, literal formulas)."""
from __future__ import annotations

import math

import numpy as np


def pearson(a, b):
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    den = math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))
    return num / den


def rdm_loop(X, kind):
    """Condensed RDM by a double loop over condition pairs (row-major i < j)."""
    X = np.asarray(X, float)
    n = X.shape[0]
    out = []
    for i in range(n):
        for j in range(i + 1, n):
            a, b = X[i], X[j]
            if kind == "correlation":
                out.append(1.0 - pearson(a, b))
            elif kind == "cosine":
                out.append(1.0 - float(np.dot(a, b)) / math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b))))
            elif kind == "euclidean_rsatoolbox":
                out.append(sum((x - y) ** 2 for x, y in zip(a, b)) / X.shape[1])
            elif kind == "euclidean":
                out.append(math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))))
            else:
                raise ValueError(kind)
    return np.array(out)


def crossnobis_loop(X, conditions, folds):
    """Leave-one-fold-out crossnobis (identity noise), per channel, by loops."""
    X = np.asarray(X, float)
    conds = sorted(set(conditions))
    fold_ids = sorted(set(folds))
    P = X.shape[1]
    n = len(conds)
    acc = np.zeros(n * (n - 1) // 2)
    for f in fold_ids:
        def mean(c, in_fold):
            rows = [X[k] for k in range(len(X)) if conditions[k] == c and ((folds[k] == f) == in_fold)]
            return np.mean(rows, axis=0)
        k = 0
        for i in range(n):
            for j in range(i + 1, n):
                a = mean(conds[i], False) - mean(conds[j], False)
                b = mean(conds[i], True) - mean(conds[j], True)
                acc[k] += float(np.dot(a, b)) / P
                k += 1
    return acc / len(fold_ids)


def spearman_argsort_literal(x, y):
    """The paper's code, literally: argsort(argsort(v)) ranks and 1 - 6 sum d^2 / (n^3 - n)."""
    rx = np.argsort(np.argsort(x))
    ry = np.argsort(np.argsort(y))
    n = len(x)
    d = [int(a) - int(b) for a, b in zip(rx, ry)]
    return 1.0 - 6.0 * sum(v * v for v in d) / (n ** 3 - n)


def tau_a_loop(x, y):
    n = len(x)
    s = 0
    for i in range(n):
        for j in range(i + 1, n):
            s += np.sign(x[i] - x[j]) * np.sign(y[i] - y[j])
    return s / (n * (n - 1) / 2)


def tsrsa_loop(X, Y):
    """TSRSA as the paper describes it: s_t = (corr(r_t, r_{t+p}))_{p>0}, concatenated."""
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    T = X.shape[0]
    vx, vy = [], []
    for t in range(T - 1):
        for p in range(1, T - t):
            vx.append(1.0 - pearson(X[t], X[t + p]))
            vy.append(1.0 - pearson(Y[t], Y[t + p]))
    return spearman_argsort_literal(np.array(vx), np.array(vy))


def cka_feature_space(X, Y):
    X = np.asarray(X, float) - np.mean(X, axis=0)
    Y = np.asarray(Y, float) - np.mean(Y, axis=0)
    return np.linalg.norm(Y.T @ X) ** 2 / (np.linalg.norm(X.T @ X) * np.linalg.norm(Y.T @ Y))


def inverse_permutation(order):
    """``inv[order[k]] = k``, found by searching each value (quadratic, literal)."""
    order = list(order)
    return np.array([order.index(v) for v in range(len(order))])


def rank_diff_sq_sum(rx, ry):
    """``sum (rx - ry)^2`` in Python integers (exact), returned as float."""
    return float(sum((int(a) - int(b)) ** 2 for a, b in zip(rx, ry)))


def upper_triangle(C):
    """The strict upper triangle of a square matrix, row by row."""
    n = len(C)
    return np.array([C[i][j] for i in range(n) for j in range(i + 1, n)])
