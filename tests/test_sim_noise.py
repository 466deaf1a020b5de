"""Gaussian noise from raw bits (kernels/normal.py, NormalStream): distribution, accuracy, reproducibility."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurosim.kernels.normal import BLOCK, normal_block
from neurosim.sim.noise import NormalStream, draw_normal


def test_moments_and_ks_against_scipy_norm():
    z = draw_normal(np.random.default_rng(11), (1000, 1000)).ravel()
    n = z.size
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    for q in (0.5, 1.0, 2.0, 3.0, 3.5, 4.0):     # tail masses
        expect = 2 * stats.norm.sf(q) * n
        assert abs((np.abs(z) > q).sum() - expect) < 5 * np.sqrt(expect) + 1
    # quadrant reduction: the sign pattern of the (cos, sin) pairs is uniform
    half = BLOCK // 2
    blocks = z[: n // BLOCK * BLOCK].reshape(-1, BLOCK)
    quad = 2 * (blocks[:, :half] < 0) + (blocks[:, half:] < 0)
    counts = np.bincount(quad.ravel(), minlength=4)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_block_is_box_muller_of_its_bits():
    """float32 series vs float64 Box-Muller on the same units: |error| < 1e-6 over the whole range.

    ``U1`` is ``float32(m + 1) 2^-30`` (24 significant bits, finer towards 0), the reference too.
    """
    units = np.random.default_rng(2).bit_generator.random_raw(BLOCK * 50).view(np.int32)
    # extreme units too: U1 = 2^-30 (largest radius) and U1 = 1 (radius 0), every quadrant edge
    units[:4] = [0, 0x7FFFFFFF, -1, -4]
    units[BLOCK // 2:BLOCK // 2 + 4] = [0, 0x3FFFFFFF << 1, 0x7FFFFF00, 0xBFFFFF00 - 2 ** 32]
    z = np.empty(BLOCK, np.float32)
    scratch = np.empty(BLOCK // 2, np.float32)
    h = BLOCK // 2
    for b in range(50):
        u = units[b * BLOCK:(b + 1) * BLOCK]
        assert normal_block(units, b * BLOCK, z, scratch) == (b + 1) * BLOCK
        u1 = (((u[:h] >> 2) & 0x3FFFFFFF) + 1).astype(np.float32).astype(np.float64) * 2.0 ** -30
        u2 = ((u[h:] >> 8) & 0xFFFFFF) * 2.0 ** -24
        rho = np.sqrt(-2 * np.log(u1))
        np.testing.assert_allclose(z[:h], rho * np.cos(2 * np.pi * u2), rtol=0, atol=1e-6)
        np.testing.assert_allclose(z[h:], rho * np.sin(2 * np.pi * u2), rtol=0, atol=1e-6)
        assert np.abs(z).max() <= np.sqrt(60 * np.log(2)) + 1e-5
    assert normal_block(units, units.size - BLOCK + 1, z, scratch) == -1   # too few units left


def test_same_bits_same_numbers_and_mean_std_scaling():
    a = draw_normal(np.random.default_rng(5), (50, 300))
    b = draw_normal(np.random.default_rng(5), (50, 300), mean=2.0, std=3.0)
    c = draw_normal(np.random.default_rng(6), (50, 300))
    np.testing.assert_allclose(b, 2.0 + 3.0 * a, rtol=0, atol=1e-12)
    assert not np.array_equal(a, c)
    d = draw_normal(np.random.default_rng(5), (50, 300), dtype=np.float32)
    np.testing.assert_array_equal(d, a.astype(np.float32))


@pytest.mark.parametrize("pieces", [[1, 2, 3, 994], [333, 333, 334], [1000]])
def test_stream_does_not_depend_on_request_sizes(pieces):
    ref = draw_normal(np.random.default_rng(9), (1000, 7))
    gen = np.random.default_rng(9)
    stream = NormalStream(gen)
    out = np.zeros((1000, 7))
    t = 0
    for p in pieces:
        stream.fill(out[t:t + p], 0, np.zeros(7), np.ones(7))
        t += p
    np.testing.assert_array_equal(out, ref)
    # exactly the bits of the blocks used were drawn: 7 blocks of BLOCK units
    after = np.random.default_rng(9)
    after.bit_generator.random_raw(-(-7000 // BLOCK) * BLOCK // 2)
    assert gen.bit_generator.state == after.bit_generator.state
