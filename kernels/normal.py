"""Gaussian numbers from caller-supplied raw random bits (vectorised float32 Box-Muller).

The kernels draw no random numbers: the caller passes 32-bit units taken from its numpy
Generator (``gen.bit_generator.random_raw(n).view(np.int32)``) and the kernels only turn
them into ``z ~ N(0, 1)``.

Method: Box-Muller, ``z0 = rho cos(theta)``, ``z1 = rho sin(theta)`` with
``rho = sqrt(-2 ln U1)``, ``theta = 2 pi U2``, on blocks of ``BLOCK`` samples: unit ``k`` of a
block gives ``U1 = float32(m + 1) 2^-30`` (``m`` its top 30 bits; ``U1`` in (0, 1] with 24
significant bits, finer towards 0, so ``rho`` is finite and at most 6.45), unit
``BLOCK / 2 + k`` gives ``U2`` (top 24 bits); sample ``k`` of the block is ``z0`` and sample
``BLOCK / 2 + k`` is ``z1``. Exactly one unit per sample, no rejection, so nothing can loop
and the bits a block needs are known in advance.

``ln`` and ``sin``/``cos`` are evaluated in float32 with short series (``ln f`` on
[1/sqrt 2, sqrt 2] by the atanh series, ``sin``/``cos`` on [-pi/4, pi/4] after quadrant
reduction): |error| < 1e-6 against float64 Box-Muller of the same ``U1``, ``U2`` (tested), far
below what a million-sample KS test resolves. The loops have no branches or library calls, so
the compiler vectorises them (8 float32 lanes with AVX2): with the raw bits, ~3.5x faster than
numpy's float32 ``standard_normal`` and the transform ~1.7x faster than a branch-light Numba
ziggurat here (its table lookups do not vectorise on this CPU). The exponent of ``U1`` is read
from the bits of ``float32(m + 1)`` through an int32 view of a scratch array (no bit casts in
Numba's Python dialect).

Blocks have a fixed size, so the numbers depend only on the bit stream, not on how a caller
splits its requests (``neurosim.sim.noise.NormalStream`` keeps the unused rest of a block).
"""
from __future__ import annotations

import numba
import numpy as np

from neurosim.config import NJIT

__all__ = ["BLOCK", "normal_block", "scaled_copy"]

#: samples per block (even); a block reads exactly BLOCK units
BLOCK = 1024
# division without Python's zero check (the divisor is >= 1.7), so the loop vectorises
_NJIT = dict(NJIT, error_model="numpy")
_LN2 = np.float32(np.log(2.0))


@numba.njit(**_NJIT)
def normal_block(units, p0, z, scratch):
    """Fill ``z`` (float32 [B]) with N(0, 1) samples from ``units[p0:p0 + B]`` (int32).

    ``scratch``: float32 [B / 2] work array. Returns ``p0 + B`` (the next unread unit), or -1
    if fewer than ``B`` units are left (nothing is written then).
    """
    B = z.shape[0]
    H = B // 2
    if p0 + B > units.shape[0]:
        return -1
    one = np.float32(1.0)
    # pass 1: U1 2^30 = m + 1 as float32 (exact up to rounding of the top value)
    for k in range(H):
        scratch[k] = np.float32(((units[p0 + k] >> 2) & 0x3FFFFFFF) + 1)
    bits = scratch.view(np.int32)
    # pass 2: ln U1 from exponent and mantissa, sqrt, sin/cos of 2 pi U2, branch-free
    for k in range(H):
        b = bits[k]
        e = (b >> 23) - 157                      # U1 = 2^e f, f in [1, 2)
        f = np.float32((b & 0x7FFFFF) | 0x800000) * np.float32(1.0 / 8388608.0)
        big = f > np.float32(1.4142135)
        f = f * np.float32(0.5) if big else f    # f in [1/sqrt 2, sqrt 2]
        e = e + 1 if big else e
        s = (f - one) / (f + one)                # ln f = 2 atanh(s), |s| <= 0.172
        s2 = s * s
        lnf = s * (np.float32(2.0) + s2 * (np.float32(2.0 / 3.0) + s2 * (np.float32(0.4) + s2 * (
            np.float32(2.0 / 7.0) + s2 * np.float32(2.0 / 9.0)))))
        rho = np.sqrt(np.float32(-2.0) * (np.float32(e) * _LN2 + lnf))
        t4 = np.float32((units[p0 + H + k] >> 8) & 0xFFFFFF) * np.float32(4.0 / 16777216.0)  # 4 U2
        q = np.int32(t4 + np.float32(0.5))       # quadrant (4 = 0)
        y = (t4 - np.float32(q)) * np.float32(np.pi / 2)   # theta - q pi/2, in [-pi/4, pi/4]
        y2 = y * y
        sn = y * (one + y2 * (np.float32(-1.0 / 6.0) + y2 * (np.float32(1.0 / 120.0) + y2 * (
            np.float32(-1.0 / 5040.0) + y2 * np.float32(1.0 / 362880.0)))))
        cs = one + y2 * (np.float32(-0.5) + y2 * (np.float32(1.0 / 24.0) + y2 * (
            np.float32(-1.0 / 720.0) + y2 * np.float32(1.0 / 40320.0))))
        odd = (q & 1) == 1
        cq = sn if odd else cs                   # |cos theta|, |sin theta| after the quadrant swap
        sq = cs if odd else sn
        z[k] = rho * cq * np.float32(1 - 2 * ((q ^ (q >> 1)) & 1))
        z[H + k] = rho * sq * np.float32(1 - 2 * ((q >> 1) & 1))
    return p0 + B


@numba.njit(**_NJIT)
def scaled_copy(units, p, zbuf, zpos, scratch, out, lo, mean, std, accumulate):
    """Write (or add) ``mean + std z`` into ``out[:, lo:lo + mean.size]``, row-major over ``(t, i)``.

    Samples come from ``zbuf[zpos:]`` (the rest of the current block), then from fresh blocks
    made from ``units[p:]``. Returns ``(p, zpos)``, or ``(-1, zpos)`` if the units ran out
    (the caller supplies ``BLOCK`` units per block it asks for, so this does not happen).
    """
    n = mean.shape[0]
    B = zbuf.shape[0]
    for t in range(out.shape[0]):
        i = 0
        while i < n:
            if zpos == B:
                p = normal_block(units, p, zbuf, scratch)
                if p < 0:
                    return -1, zpos
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
    return p, zpos
