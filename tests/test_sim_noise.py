"""Gaussian noise from raw bits (kernels/normal.py, NormalStream): distribution, reproducibility, termination."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurosim.kernels.normal import BLOCK, MAX_TRIES, ZIG_F, ZIG_K, ZIG_R, ZIG_W, normal_block
from neurosim.sim._flat import NormalStream, draw_normal


def test_moments_and_ks_against_scipy_norm():
    z = draw_normal(np.random.default_rng(11), (1000, 1000)).ravel()
    n = z.size
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 5 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24 / n)
    # the rare paths: wedges (layers 1..255) and the tail beyond r are both exercised and right
    for q in (0.5, 2.0, 3.0, ZIG_R, 4.0):
        expect = 2 * stats.norm.sf(q) * n
        assert abs((np.abs(z) > q).sum() - expect) < 5 * np.sqrt(expect) + 1


def test_same_bits_same_numbers_and_mean_std_scaling():
    a = draw_normal(np.random.default_rng(5), (50, 300))
    b = draw_normal(np.random.default_rng(5), (50, 300), mean=2.0, std=3.0)
    c = draw_normal(np.random.default_rng(6), (50, 300))
    np.testing.assert_allclose(b, 2.0 + 3.0 * a, rtol=0, atol=1e-12)
    assert not np.array_equal(a, c)
    # float32 output holds the float64 values rounded once
    d = draw_normal(np.random.default_rng(5), (50, 300), dtype=np.float32)
    np.testing.assert_array_equal(d, a.astype(np.float32))


@pytest.mark.parametrize("pieces", [[1, 2, 3, 994], [333, 333, 334], [1000]])
def test_stream_does_not_depend_on_request_sizes(pieces):
    ref = draw_normal(np.random.default_rng(9), (1000, 7))
    stream = NormalStream(np.random.default_rng(9))
    out = np.zeros((1000, 7))
    t = 0
    for p in pieces:
        stream.fill(out[t:t + p], 0, np.zeros(7), np.ones(7))
        t += p
    np.testing.assert_array_equal(out, ref)


def test_block_needs_enough_units_and_reports_it():
    units = np.random.default_rng(1).bit_generator.random_raw(BLOCK).view(np.int32)  # 2 BLOCK units
    z = np.zeros(BLOCK)
    assert normal_block(units[:BLOCK - 1], 0, z, ZIG_K, ZIG_W, ZIG_F, ZIG_R) == -1
    p = normal_block(units, 0, z, ZIG_K, ZIG_W, ZIG_F, ZIG_R)
    assert BLOCK < p <= 2 * BLOCK and np.isfinite(z).all()


def test_always_rejecting_bits_terminate():
    """Bits that fail every ziggurat test (layer 1, top of the wedge) end in the Box-Muller fallback."""
    h = np.int32(np.uint32(0xFFFFFF01).view(np.int32))
    units = np.full(BLOCK * (MAX_TRIES * 2 + 4), h, dtype=np.int32)
    z = np.zeros(BLOCK)
    p = normal_block(units, 0, z, ZIG_K, ZIG_W, ZIG_F, ZIG_R)
    assert p == BLOCK + BLOCK * (2 * MAX_TRIES + 2)  # per sample: (wedge unit + new unit) x tries + 2
    assert np.isfinite(z).all() and (np.abs(z) < 6).all()
    # not enough units for the repair pass: "need more", never a hang
    assert normal_block(units[:BLOCK + 100], 0, z, ZIG_K, ZIG_W, ZIG_F, ZIG_R) == -1


class _StuckBits:
    """A bit generator stand-in that returns the always-rejecting pattern."""

    def random_raw(self, n):
        return np.full(n, 0xFFFFFF01FFFFFF01, dtype=np.uint64)


class _StuckGen:
    bit_generator = _StuckBits()


def test_stream_over_rejecting_bits_finishes():
    out = NormalStream(_StuckGen()).fill(np.zeros((3, 500)), 0, np.zeros(500), np.ones(500))
    assert np.isfinite(out).all()
