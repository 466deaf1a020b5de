"""Numba Hebbian subspace kernel vs the literal NumPy reference (tests/naive_continual.py)."""
from __future__ import annotations

import numpy as np
import pytest

from neurosim.kernels.plasticity import hebbian_subspace_update
from naive_continual import naive_hebbian


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 2e-4)])
@pytest.mark.parametrize("B,n,K,nf", [(1, 1, 1, 0), (7, 13, 5, 2), (32, 50, 12, 12), (16, 30, 9, 0), (5, 17, 8, 7)])
def test_kernel_matches_naive(dtype, tol, B, n, K, nf):
    rng = np.random.default_rng(B * 1000 + n)
    X = rng.standard_normal((B, n)).astype(dtype)
    H = (rng.standard_normal((K, n)) / np.sqrt(n)).astype(dtype)
    M = (0.01 * rng.standard_normal((K, n))).astype(dtype)
    Hn, Mn = naive_hebbian(H, M, X, nf, eta=0.05, iterations=3)
    H2, M2 = H.copy(), M.copy()
    hebbian_subspace_update(H2, M2, X, nf, eta=0.05, iterations=3)
    np.testing.assert_allclose(H2, Hn, atol=tol, rtol=tol)
    np.testing.assert_allclose(M2, Mn, atol=tol, rtol=tol)
    np.testing.assert_array_equal(H2[:nf], H[:nf])  # frozen rows bit-identical
    np.testing.assert_array_equal(M2[:nf], M[:nf])


def test_kernel_clamp_and_quantisation_match_naive():
    rng = np.random.default_rng(1)
    X = 30 * rng.standard_normal((9, 11))   # large inputs: clip of ΔH and of y both active
    H = rng.standard_normal((6, 11))
    M = np.zeros_like(H)
    kw = dict(eta=1e-3, clamp=10.0, iterations=2, quant_scale=20.0, quant_steps=40.0)
    Hn, Mn = naive_hebbian(H, M, X, 2, **kw)
    hebbian_subspace_update(H, M, X, 2, **kw)
    np.testing.assert_allclose(H, Hn, atol=1e-10)
    np.testing.assert_allclose(M, Mn, atol=1e-10)
    # two momentum steps of a clipped ΔH reach at most (1 − 0.9²)·10; the clip is active here
    assert np.abs(Mn).max() == pytest.approx((1 - 0.9 ** 2) * 10.0)


def test_kernel_validation():
    H = np.zeros((3, 4))
    M = np.zeros((3, 4))
    with pytest.raises(ValueError, match="n_frozen"):
        hebbian_subspace_update(H, M, np.zeros((2, 4)), 4)
    with pytest.raises(ValueError, match="features"):
        hebbian_subspace_update(H, M, np.zeros((2, 5)), 0)
    with pytest.raises(TypeError, match="dtype"):
        hebbian_subspace_update(H, M, np.zeros((2, 4), np.float32), 0)
    with pytest.raises(ValueError, match="momentum"):
        hebbian_subspace_update(H, M, np.zeros((2, 4)), 0, momentum=1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        hebbian_subspace_update(np.zeros((4, 3)).T, M, np.zeros((2, 4)), 0)
