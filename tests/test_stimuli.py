"""Drifting-grating generator against the analytic formula; frame helpers."""
from __future__ import annotations

import numpy as np
import pytest

from neurosim.data.stimuli import ALLEN_DRIFTING_GRATINGS, drifting_grating, resize_frames, to_model_input


def test_grating_matches_formula_pixelwise():
    H, W, fr, ft, fs, dpp = 5, 7, 60.0, 2.0, 0.04, 2.0
    g = drifting_grating(4, size=(H, W), direction_deg=30, spatial_freq_cpd=fs, temporal_freq_hz=ft,
                         frame_rate_hz=fr, deg_per_pixel=dpp, contrast=0.8, dtype=np.float64)
    th = np.deg2rad(30)
    for k in range(4):
        for r in range(H):
            for c in range(W):
                x, y = (c - (W - 1) / 2) * dpp, ((H - 1) / 2 - r) * dpp
                ref = 0.5 * (1 + 0.8 * np.cos(2 * np.pi * (fs * (x * np.cos(th) + y * np.sin(th)) - ft * k / fr)))
                assert g[k, r, c] == pytest.approx(ref, abs=1e-12)


def test_phase_advance_per_frame_and_drift_direction():
    fr, ft, fs = 30.0, 3.0, 0.05
    g = drifting_grating(3, size=(1, 400), direction_deg=0, spatial_freq_cpd=fs, temporal_freq_hz=ft,
                         frame_rate_hz=fr, deg_per_pixel=0.25, contrast=1.0, dtype=np.float64)
    # drift towards +x by ft / (fs * fr) degrees = 8 pixels per frame at 0.25 deg/pixel
    shift_px = int(round(ft / (fs * fr) / 0.25))
    assert shift_px == 8
    assert np.allclose(g[1, 0, shift_px:], g[0, 0, :-shift_px], atol=1e-12)
    # frame k equals frame 0 with the phase advanced by -2 pi ft k / fr
    kw = dict(size=(6, 9), direction_deg=70, spatial_freq_cpd=fs, frame_rate_hz=fr, contrast=0.6,
              dtype=np.float64)
    mov = drifting_grating(4, temporal_freq_hz=ft, **kw)
    for k in range(4):
        still = drifting_grating(1, temporal_freq_hz=0.0, phase_deg=-360.0 * ft * k / fr, **kw)
        assert np.allclose(mov[k], still[0], atol=1e-12)
    # temporal period: frame fr/ft repeats frame 0
    g2 = drifting_grating(11, size=(8, 8), temporal_freq_hz=3.0, frame_rate_hz=30.0)
    assert np.allclose(g2[10], g2[0], atol=1e-6)


def test_grating_range_and_defaults():
    g = drifting_grating(2, size=(16, 32))
    assert g.dtype == np.float32 and g.shape == (2, 16, 32)
    assert g.min() >= 0.5 * (1 - 0.8) - 1e-6 and g.max() <= 0.5 * (1 + 0.8) + 1e-6
    assert ALLEN_DRIFTING_GRATINGS["spatial_freq_cpd"] == 0.04


def test_grating_validation():
    with pytest.raises(ValueError, match="spatial_freq_cpd"):
        drifting_grating(2, spatial_freq_cpd=0)
    with pytest.raises(ValueError, match="contrast"):
        drifting_grating(2, contrast=1.5)
    with pytest.raises(ValueError, match="n_frames"):
        drifting_grating(0)
    with pytest.raises(ValueError, match="mean_luminance"):
        drifting_grating(2, mean_luminance=0.9, contrast=0.5)


def test_resize_and_model_input():
    f = np.random.default_rng(0).random((3, 31, 31)) * 255
    x = to_model_input(f, size=(64, 64), scale=255.0)
    assert x.shape == (3, 3, 64, 64) and x.dtype == np.float32
    assert np.array_equal(x[:, 0], x[:, 2])
    const = resize_frames(np.full((2, 5, 5), 7.0), (9, 11))
    assert const.shape == (2, 9, 11) and np.allclose(const, 7.0)
    with pytest.raises(ValueError, match="frames"):
        to_model_input(np.zeros((2, 3, 4, 4)))


def test_model_input_overflow_and_argument_types():
    """``std=1e-300`` gave inf frames; now an error naming std and scale. Finite results are
    unchanged (independent formula in float64, float32 rounding)."""
    f = np.random.default_rng(1).random((4, 5, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="std") as err:
        to_model_input(f, channels=3, scale=0.5, mean=0.87, std=1e-300)
    assert "scale" in str(err.value)
    with pytest.raises(ValueError, match="overflows float32"):
        to_model_input(np.full((1, 2, 2), 1e300), std=1.0)
    for kw, exc, name in ((dict(mean=float("nan")), ValueError, "mean"), (dict(mean="0.5"), TypeError, "mean"),
                          (dict(channels=2.0), TypeError, "channels"), (dict(std=0.0), ValueError, "std")):
        with pytest.raises(exc, match=name):
            to_model_input(f, **kw)
    with pytest.raises(ValueError, match="frames"):
        to_model_input(np.array([[[np.nan]]]))
    x = to_model_input(f, channels=2, scale=0.5, mean=0.25, std=2.0)
    ref = (f.astype(np.float64) / 0.5 - 0.25) / 2.0
    assert x.shape == (4, 2, 5, 3) and np.allclose(x[:, 1], ref, rtol=1e-6, atol=1e-7)
