"""The vectorisable float32 exp of the surrogate loops (kernels/vexp.py) against a float64 exp.

Bounds: float32 within 2 ulp of the float64 exp (the Cephes polynomial, measured 1.34 ulp);
float64 ``vexp`` is the C library's ``exp`` (bit-equal to ``math.exp``) and within 1 ulp of
NumPy's ``np.exp``, a different implementation that depends on the CPU's features.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from neurosim.kernels.vexp import vexp


@numba.njit(error_model="numpy")
def _apply(x, out):
    for i in range(x.shape[0]):
        out[i] = vexp(x[i])


def _run(x):
    out = np.empty_like(x)
    _apply(x, out)
    return out


def test_float32_within_two_ulp_of_float64_exp():
    x = np.linspace(-87.0, 88.0, 1_000_001, dtype=np.float32)
    x = np.concatenate([x, np.float32([-1e-30, 0.0, 1e-30, 0.3466, -0.3466, 1.0, -1.0])])
    ref = np.exp(x.astype(np.float64))
    rel = np.abs(_run(x).astype(np.float64) - ref) / ref
    assert rel.max() < 2 * 2.0**-24, rel.max()  # below 2 ulp (measured 1.34 ulp)
    assert _run(np.float32([0.0]))[0] == 1.0


def test_float32_ends_and_nan():
    x = np.float32([-np.inf, -1e4, -87.5, 88.5, 1e4, np.inf, np.nan])
    out = _run(x)
    np.testing.assert_array_equal(out[:3], 0.0)  # true values below the smallest normal float32
    np.testing.assert_array_equal(out[3:6], np.inf)
    assert np.isnan(out[6])


def test_float64_is_the_c_library_exp():
    """float64 ``vexp`` is Numba's ``np.exp``: a call of the C library's ``exp``, which
    ``math.exp`` calls too (same function, same process: 0 ulp). NumPy's own ``np.exp`` is a
    different implementation chosen by CPU features (its AVX-512 version differs from glibc's in
    the last bit at ~5 % of the points): each is within 1 ulp of the true value (measured: glibc
    0.51 ulp, NumPy AVX-512 0.68 ulp, against a long-double reference), so they agree to 1 ulp."""
    x = np.linspace(-700, 700, 10_001)
    out = _run(x)
    assert out.tolist() == [math.exp(v) for v in x.tolist()]
    np.testing.assert_array_max_ulp(out, np.exp(x), maxulp=1)
