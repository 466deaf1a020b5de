"""The register-accumulated event products of ``neurosim.kernels.vfma`` and the mask helpers of the event kernels.

References: a NumPy loop over the events in float64. On dyadic data (values k/4, weights multiples of
2^-8 below 8 in magnitude) every product and partial sum is exact in float32, so the kernel must equal the
reference bit for bit (0 ulp) whatever its order; on random normal data the bound is the summation bound
``2 (m + 1) eps Σ |terms|``. The sequential-chain property (same value for every vector width / chunk) is
checked against a scalar ``math.fma`` chain where Python has it (3.13+), else against the kernel on
``n = 1`` slices (the scalar path, no vectors).
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from neurosim.kernels import event as kev
from neurosim.kernels.vfma import axpy_events, axpy_segments, compress_events


@numba.njit
def _axpy(z, d0, wf, ks, vals, m, n, first):
    axpy_events(z, d0, wf, ks, vals, m, n, first)


@numba.njit
def _segs(z, d0, wf, ks, vals, starts, counts, offs, nseg, n):
    axpy_segments(z, d0, wf, ks, vals, starts, counts, offs, nseg, n)


@numba.njit
def _compress(x, i0, n, R, base, ks, vals, pos):
    if n == 16:
        return compress_events(x, i0, 16, R, base, ks, vals, pos)
    return compress_events(x, i0, 8, R, base, ks, vals, pos)


@numba.njit
def _nonzero(px, R, ks, vals):
    return kev._nonzero(px, R, ks, vals)


def _dyadic(rng, shape, dtype):
    return (rng.integers(-2047, 2048, shape) / 256).astype(dtype)


LENGTHS = [1, 3, 15, 16, 17, 47, 64, 100, 192, 193, 256, 576, 600]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("first", [True, False])
def test_axpy_events_exact_on_dyadic_data(dtype, first):
    rng = np.random.default_rng(0)
    for n in LENGTHS:
        for m in (0, 1, 2, 5, 13):
            C = 16
            wf = _dyadic(rng, C * n + 3, dtype)
            ks = np.sort(rng.choice(C, m, replace=False)).astype(np.int64) * n
            vals = rng.choice([0.25, 0.5, 0.75, 1.0], m).astype(dtype)
            z0 = _dyadic(rng, n + 9, dtype)
            z = z0.copy()
            _axpy(z, 4, wf, ks, vals, m, n, first)
            ref = np.zeros(n) if first and m else z0[4:4 + n].astype(np.float64)
            for q in range(m):
                ref = ref + float(vals[q]) * wf[ks[q]:ks[q] + n].astype(np.float64)
            np.testing.assert_array_equal(z[4:4 + n], ref.astype(dtype))
            np.testing.assert_array_equal(z[:4], z0[:4])           # nothing outside the range is written
            np.testing.assert_array_equal(z[4 + n:], z0[4 + n:])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_events_random_within_the_summation_bound(dtype):
    rng = np.random.default_rng(1)
    eps = np.finfo(dtype).eps
    for n in LENGTHS:
        m = 9
        wf = rng.standard_normal(12 * n).astype(dtype)
        ks = np.sort(rng.choice(12, m, replace=False)).astype(np.int64) * n
        vals = rng.standard_normal(m).astype(dtype)
        z0 = rng.standard_normal(n).astype(dtype)
        z = z0.copy()
        _axpy(z, 0, wf, ks, vals, m, n, False)
        terms = [z0.astype(np.float64)] + [float(vals[q]) * wf[ks[q]:ks[q] + n].astype(np.float64) for q in range(m)]
        ref = np.sum(terms, axis=0)
        assert np.all(np.abs(z - ref) <= 2 * (m + 1) * eps * np.sum(np.abs(terms), axis=0))


def test_axpy_events_is_one_chain_per_element_whatever_the_chunking():
    """Each element is v_0 w_0 then one fused multiply-add per event: the result of a long row equals the
    kernel on each single element (the scalar path) and, where Python has math.fma, a scalar fma chain."""
    rng = np.random.default_rng(2)
    n, m = 600, 11
    wf = rng.standard_normal(m * n).astype(np.float32)
    ks = np.arange(m, dtype=np.int64) * n
    vals = rng.standard_normal(m).astype(np.float32)
    z = np.empty(n, np.float32)
    _axpy(z, 0, wf, ks, vals, m, n, True)
    for o in range(0, n, 37):
        one = np.empty(1, np.float32)
        _axpy(one, 0, wf, ks + o, vals, m, 1, True)
        assert one[0] == z[o]
        if hasattr(math, "fma"):
            a = np.float32(vals[0] * wf[o])
            for q in range(1, m):
                a = np.float32(math.fma(float(vals[q]), float(wf[ks[q] + o]), float(a)))  # one rounding each
            assert a == z[o]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axpy_segments_equals_the_events_concatenated(dtype):
    """Segments with offsets = one event list with the offsets added, in segment order (the same chain)."""
    rng = np.random.default_rng(3)
    for n in (16, 64, 100, 200):
        wf = rng.standard_normal(40 * n).astype(dtype)
        ks = (rng.integers(0, 30, 20) * n).astype(np.int64)
        vals = rng.standard_normal(20).astype(dtype)
        starts = np.array([0, 5, 5, 12], np.int64)
        counts = np.array([5, 0, 7, 8], np.int64)
        offs = np.array([0, 3, n, 2 * n + 5], np.int64)
        z0 = rng.standard_normal(n + 2).astype(dtype)
        a = z0.copy()
        _segs(a, 1, wf, ks, vals, starts, counts, offs, 4, n)
        flat_k = np.concatenate([ks[s:s + c] + o for s, c, o in zip(starts, counts, offs)])
        flat_v = np.concatenate([vals[s:s + c] for s, c in zip(starts, counts)])
        b = z0.copy()
        _axpy(b, 1, wf, flat_k, flat_v, len(flat_k), n, False)
        np.testing.assert_array_equal(a, b)                       # the same code path: bit equal
        ref = z0[1:1 + n].astype(np.float64) + sum(float(v) * wf[k:k + n].astype(np.float64)
                                                   for k, v in zip(flat_k, flat_v))
        np.testing.assert_allclose(a[1:1 + n], ref, rtol=0, atol=50 * np.finfo(dtype).eps * np.abs(ref).max() + 1e-30)
        assert a[0] == z0[0] and a[-1] == z0[-1]


def _sample(rng, n, dtype):
    x = (rng.random(n) < 0.3) * rng.choice([-1.0, 0.25, 1.0, 1e-40 if dtype == np.float32 else 1e-310], n)
    x = x.astype(dtype)
    x[rng.random(n) < 0.1] = np.nan          # NaN is non-zero
    x[rng.random(n) < 0.1] = -0.0            # -0 is zero
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compress_events(dtype):
    rng = np.random.default_rng(4)
    for n in (8, 16):
        for _ in range(50):
            x = _sample(rng, n + 3, dtype)
            ks = np.full(n + 5, -7, np.int64)
            vals = np.full(n + 5, 9, dtype)
            m = _compress(x, 2, n, 5, 11, ks, vals, 3)
            idx = np.flatnonzero(x[2:2 + n] != 0)
            assert m == len(idx)
            np.testing.assert_array_equal(ks[3:3 + m], 11 + 5 * idx)
            np.testing.assert_array_equal(vals[3:3 + m], x[2 + idx])
            assert np.all(ks[:3] == -7) and np.all(vals[:3] == 9)     # nothing before pos
            assert np.all(ks[3 + n:] == -7) and np.all(vals[3 + n:] == 9)  # at most n values from pos


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonzero_gathers_in_order_within_its_room(dtype):
    rng = np.random.default_rng(5)
    for C in (1, 3, 7, 8, 9, 16, 17, 31, 32, 63, 64, 65, 130):
        x = _sample(rng, C, dtype)
        ks = np.full(C + 4, -1, np.int64)
        vals = np.zeros(C + 4, dtype)
        m = _nonzero(x, 7, ks, vals)
        idx = np.flatnonzero(x != 0)
        assert m == len(idx)
        np.testing.assert_array_equal(ks[:m], idx * 7)
        np.testing.assert_array_equal(vals[:m], x[idx])
        assert np.all(ks[C:] == -1)                          # no write beyond len(px)


def test_compress_events_rejects_other_widths():
    @numba.njit
    def f(x, ks, vals):
        return compress_events(x, 0, 4, 1, 0, ks, vals, 0)

    with pytest.raises(numba.core.errors.TypingError):
        f(np.zeros(8, np.float32), np.zeros(8, np.int64), np.zeros(8, np.float32))


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (33, 70), (256, 3136)])
def test_transpose(shape):
    w = np.random.default_rng(5).standard_normal(shape).astype(np.float32)
    out = np.empty(shape[::-1], np.float32)
    kev.transpose(w, out)
    np.testing.assert_array_equal(out, w.T)                   # a copy: the same values
