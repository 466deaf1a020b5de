"""Gaussian numbers from caller-supplied raw random bits (a blocked, vectorised ziggurat).

The kernels draw no random numbers: the caller passes 32-bit units taken from its numpy
Generator (``gen.bit_generator.random_raw(n).view(np.int32)``) and the kernels only turn
them into ``z ~ N(0, 1)``.

Method: the exact 256-layer ziggurat of Marsaglia & Tsang (2000) in numpy's float32 layout
(8 bits choose the layer, 1 bit the sign, 23 bits the position), run one fixed-size block of
``B`` samples at a time:

1. the *fast pass* gives sample ``k`` of the block unit ``p0 + k`` and accepts it when it falls
   inside the layer's inner rectangle (~98.8 % of samples). It is branch-free, so the compiler
   vectorises it (table gathers);
2. the *repair pass* visits the rejected samples in order and resolves each with the usual
   ziggurat retry (wedge test, Marsaglia's tail beyond ``r``, new units on rejection), taking
   extra units sequentially from ``p0 + B``.

Termination is guaranteed: every retry consumes at least one unit and the kernel stops with a
"need more units" answer when the buffer runs out (the caller appends bits and repeats the
block from the same position, which gives the same block); after ``MAX_TRIES`` rejections of
one sample (probability < 1e-100) the sample is drawn by Box-Muller from two more units. As
every ziggurat attempt that is accepted yields an exact N(0, 1) value independent of the number
of attempts, truncating the retries and falling back to another exact method keeps the
distribution exact (up to the 23/24-bit resolution of the uniforms).

Blocks have a fixed size, so the numbers depend only on the bit stream, not on how a caller
splits its requests (``neurosim.sim._flat.NormalStream`` keeps the unused rest of a block).
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import NJIT

__all__ = ["ZIG_K", "ZIG_W", "ZIG_F", "ZIG_R", "BLOCK", "MAX_TRIES", "normal_block", "scaled_copy"]

#: samples per ziggurat block (the fast pass runs over a whole block)
BLOCK = 1024
#: ziggurat attempts per sample before the Box-Muller fallback
MAX_TRIES = 64


def _ziggurat_tables():
    """256-layer ziggurat for N(0, 1) with 23-bit uniforms (Marsaglia & Tsang 2000; numpy's float32 layout).

    Layer ``i`` has right edge ``x_i`` (``x_255 = r``, the base strip 0 holds the tail beyond r):
    ``wi[i] = x_i / 2^23``, ``ki[i] = 2^23 x_{i-1} / x_i`` (accept without the density test),
    ``fi[i] = exp(-x_i^2 / 2)``.
    """
    m1 = float(2 ** 23)
    dn = tn = 3.6541528853610088
    vn = 0.00492867323399
    q = vn / np.exp(-0.5 * dn * dn)
    ki = np.zeros(256, dtype=np.uint32)
    wi = np.zeros(256)
    fi = np.zeros(256)
    ki[0] = np.uint32((dn / q) * m1)
    ki[1] = 0
    wi[0] = q / m1
    wi[255] = dn / m1
    fi[0] = 1.0
    fi[255] = np.exp(-0.5 * dn * dn)
    for i in range(254, 0, -1):
        dn = np.sqrt(-2.0 * np.log(vn / dn + np.exp(-0.5 * dn * dn)))
        ki[i + 1] = np.uint32((dn / tn) * m1)
        tn = dn
        fi[i] = np.exp(-0.5 * dn * dn)
        wi[i] = dn / m1
    return ki, wi, fi, 3.6541528853610088


_KI, _WI, ZIG_F, ZIG_R = _ziggurat_tables()
#: accept thresholds (int32) and signed widths [512] in the layout ``normal_block`` reads
ZIG_K = _KI.astype(np.int32)
ZIG_W = np.concatenate([_WI, -_WI])


@numba.njit(**NJIT)
def _unit_float(h):
    """Uniform in [0, 1) from the top 24 bits of a 32-bit unit (int32)."""
    return ((h >> 8) & 0xFFFFFF) * (1.0 / 16777216.0)


@numba.njit(**NJIT)
def _resolve(units, p, h, ki, wis, fi, r):
    """Resolve a sample whose first unit ``h`` was rejected by the fast pass.

    Extra units are read from ``units[p:]``. Returns ``(z, p)`` with the next unread unit, or
    ``(0, -1)`` when the units ran out (the caller fetches more and redoes the block).
    """
    n_units = units.shape[0]
    for _ in range(MAX_TRIES):
        idx = h & 0xFF
        rabs = (h >> 9) & 0x7FFFFF
        x = rabs * wis[h & 0x1FF]  # signed
        if rabs < ki[idx]:
            return x, p
        if idx == 0:  # the tail beyond r (Marsaglia 1964): exponential proposals, bounded retries
            for _t in range(MAX_TRIES):
                if p + 2 > n_units:
                    return 0.0, -1
                xx = -np.log1p(-_unit_float(units[p])) / r
                yy = -np.log1p(-_unit_float(units[p + 1]))
                p += 2
                if yy + yy > xx * xx:
                    return -(r + xx) if (h >> 8) & 1 else r + xx, p
            break
        if p + 1 > n_units:
            return 0.0, -1
        y = (fi[idx - 1] - fi[idx]) * _unit_float(units[p]) + fi[idx]
        p += 1
        if y < np.exp(-0.5 * x * x):
            return x, p
        if p + 1 > n_units:  # rejected: a fresh unit starts a new attempt
            return 0.0, -1
        h = units[p]
        p += 1
    # Box-Muller from two units (reached with probability < 1e-100)
    if p + 2 > n_units:
        return 0.0, -1
    u1 = 1.0 - _unit_float(units[p])  # (0, 1]
    u2 = _unit_float(units[p + 1])
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2), p + 2


@numba.njit(**NJIT)
def normal_block(units, p0, z, ki, wis, fi, r):
    """Fill ``z`` (float64 [B]) with N(0, 1) samples from ``units[p0:]`` (int32 view of the bits).

    Unit bits: 0-7 layer, 8 sign, 9-31 position. ``ki`` int32 [256], ``wis`` float64 [512] the
    signed layer widths (``wis[s * 256 + i] = (1 - 2 s) wi[i]``, indexed by bits 0-8).
    Returns the next unread unit, or -1 when ``units`` ran out before the block was complete
    (nothing is consumed then: append units and call again with the same ``p0``).
    """
    B = z.shape[0]
    if p0 + B > units.shape[0]:
        return -1
    bad = np.empty(B, dtype=np.int32)
    n_bad = 0
    # fast pass: one unit per sample, no branch (the index of a rejected sample is stored
    # unconditionally and kept by advancing n_bad)
    for k in range(B):
        h = units[p0 + k]
        rabs = (h >> 9) & 0x7FFFFF
        z[k] = rabs * wis[h & 0x1FF]
        bad[n_bad] = k
        n_bad += rabs >= ki[h & 0xFF]
    # repair pass: the ~1.5 % rejected samples, in order, with extra units from p0 + B
    p = p0 + B
    for j in range(n_bad):
        k = bad[j]
        zk, p = _resolve(units, p, units[p0 + k], ki, wis, fi, r)
        if p < 0:
            return -1
        z[k] = zk
    return p


@numba.njit(**NJIT)
def scaled_copy(units, p, zbuf, zpos, out, lo, k0, mean, std, accumulate, ki, wi, fi, r):
    """Write (or add) ``mean + std z`` into ``out[t, lo + i]`` from flat sample ``k0`` on.

    Samples ``z`` come from ``zbuf[zpos:]`` and then from fresh blocks made from ``units[p:]`` (int32)
    (``normal_block``); ``out`` is [T, W] with ``lo + mean.size <= W``, filled row-major over
    ``(t, i)``. Returns ``(p, zpos, k)``: ``k < T * mean.size`` when the units ran out (append
    units and call again with these values; the result is the same as one long call).
    """
    n = mean.shape[0]
    total = out.shape[0] * n
    B = zbuf.shape[0]
    k = k0
    t = k0 // n
    i = k0 - t * n
    while k < total:
        if zpos == B:
            q = normal_block(units, p, zbuf, ki, wi, fi, r)
            if q < 0:
                break
            p = q
            zpos = 0
        m = min(B - zpos, n - i)
        row = out[t, lo + i:lo + i + m]
        zs = zbuf[zpos:zpos + m]
        mu = mean[i:i + m]
        sd = std[i:i + m]
        if accumulate:
            for j in range(m):
                row[j] += mu[j] + sd[j] * zs[j]
        else:
            for j in range(m):
                row[j] = mu[j] + sd[j] * zs[j]
        zpos += m
        i += m
        k += m
        if i == n:
            i = 0
            t += 1
    return p, zpos, k
