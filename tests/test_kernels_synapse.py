"""Synaptic propagation kernels and connectivity generators vs naive loops.

Propagation is compared bit for bit (0 ulp): the naive loops add the same weights in the same
order (spike order, then synapse order), one correctly rounded addition at a time.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

import naive
from neurosim.kernels import csr_order, csr_propagate, csr_propagate_delayed, dense_propagate
from neurosim.sim import fixed_in_degree, fixed_probability


def _csr(rng, n_pre, n_post, density, dtype):
    m = sparse.random(n_pre, n_post, density=density, random_state=rng.integers(1 << 30), format="csr",
                      dtype=np.float64)
    return (m.indptr.astype(np.int64), m.indices.astype(np.int32), m.data.astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_pre, n_post, n_spk", [(1, 1, 1), (7, 3, 0), (13, 29, 5), (64, 1, 64)])
def test_propagation_matches_naive(dtype, n_pre, n_post, n_spk):
    rng = np.random.default_rng(n_pre * 31 + n_post)
    spikes = np.sort(rng.choice(n_pre, n_spk, replace=False)).astype(np.int32)
    w = rng.normal(size=(n_pre, n_post)).astype(dtype)
    out0 = rng.normal(size=n_post).astype(dtype)
    out = out0.copy()
    dense_propagate(spikes, w, out)
    np.testing.assert_array_equal(out, naive.dense_propagate(spikes, w, out0))

    indptr, indices, weights = _csr(rng, n_pre, n_post, 0.5, dtype)
    out = out0.copy()
    csr_propagate(spikes, indptr, indices, weights, out)
    np.testing.assert_array_equal(out, naive.csr_propagate(spikes, indptr, indices, weights, out0))

    delays = rng.integers(0, 4, indices.size).astype(np.int32)
    ring0 = rng.normal(size=(4, n_post)).astype(dtype)
    for t in (0, 5):
        ring = ring0.copy()
        csr_propagate_delayed(spikes, indptr, indices, weights, delays, ring, t)
        np.testing.assert_array_equal(ring, naive.csr_propagate_delayed(spikes, indptr, indices, weights, delays,
                                                                        ring0, t))


def test_dense_equals_matrix_product():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(50, 20))
    spikes = np.array([3, 7, 7, 49], dtype=np.int64)   # a repeated id counts twice
    out = np.zeros(20)
    dense_propagate(spikes, w, out)
    np.testing.assert_allclose(out, np.bincount(spikes, minlength=50) @ w, rtol=1e-12)


def test_csr_order_is_a_stable_counting_sort():
    rng = np.random.default_rng(1)
    for n_keys, n in ((1, 0), (1, 5), (17, 200)):
        keys = rng.integers(0, n_keys, n)
        indptr = np.empty(n_keys + 1, dtype=np.int64)
        order = np.empty(n, dtype=np.int64)
        csr_order(keys, indptr, order)
        np.testing.assert_array_equal(order, np.argsort(keys, kind="stable"))
        np.testing.assert_array_equal(indptr, np.r_[0, np.cumsum(np.bincount(keys, minlength=n_keys))])


def test_fixed_probability_statistics():
    rng = np.random.default_rng(2)
    pre, post = fixed_probability(300, 200, 0.1, rng)
    n = pre.size
    assert abs(n - 6000) < 5 * np.sqrt(6000 * 0.9)
    assert np.all(np.diff(pre * 200 + post) > 0)          # sorted, no duplicate pair
    assert pre.max() < 300 and post.max() < 200
    counts = np.bincount(post, minlength=200)             # in-degree ~ Binomial(300, 0.1)
    assert abs(counts.mean() - 30) < 1.0 and abs(counts.var() - 27) < 8
    pre, post = fixed_probability(50, 50, 1.0, rng, allow_self=False)
    assert pre.size == 50 * 49 and not np.any(pre == post)
    assert fixed_probability(5, 5, 0.0, rng)[0].size == 0
    with pytest.raises(ValueError, match="p"):
        fixed_probability(5, 5, 1.5, rng)


def test_fixed_in_degree_exact():
    rng = np.random.default_rng(3)
    pre, post = fixed_in_degree(40, 25, 7, rng, allow_self=False)
    np.testing.assert_array_equal(np.bincount(post, minlength=25), np.full(25, 7))
    assert not np.any(pre == post) and np.all(np.diff(pre) >= 0)
    with pytest.raises(ValueError, match="in_degree"):
        fixed_in_degree(1, 5, 2, rng, allow_self=False)
    with pytest.raises(ValueError, match="in_degree"):
        fixed_in_degree(10, 5, -1, rng)


def test_csr_contiguous_rows():
    from neurosim.kernels import csr_contiguous_rows

    indptr = np.array([0, 3, 3, 5, 8, 9])
    indices = np.array([4, 5, 6, 2, 2, 0, 1, 3, 7], dtype=np.int32)   # dense, empty, duplicate, gap, single
    out = np.empty(5, dtype=np.uint8)
    csr_contiguous_rows(indptr, indices, out)
    np.testing.assert_array_equal(out, [1, 0, 0, 0, 1])


def test_csr_uniform_rows_sets_bit_1_only():
    from neurosim.kernels.synapse import csr_uniform_rows

    indptr = np.array([0, 3, 3, 5, 8, 9])
    weights = np.array([0.5, 0.5, 0.5, 1.0, 2.0, np.nan, np.nan, 1.0, -3.0], dtype=np.float32)
    out = np.array([1, 0, 0, 1, 0], dtype=np.uint8)   # bit 0 (contiguous) is kept
    csr_uniform_rows(indptr, weights, out)
    np.testing.assert_array_equal(out, [3, 0, 0, 1, 2])   # equal, empty, differ, NaN never equal, single
