"""Visual stimuli for models: drifting gratings as in the Allen Brain Observatory, frame helpers.

Drifting grating (luminance in [0, 1], ``mean_luminance`` = grey):

    L(x, y, t) = m * (1 + c * cos(2 pi (f_s * u(x, y) - f_t * t) + phi))
    u(x, y)    = x cos(theta) + y sin(theta)          (degrees of visual angle)

with ``f_s`` the spatial frequency (cycles/degree), ``f_t`` the temporal frequency (Hz),
``theta`` the drift direction (degrees; 0 = drifting towards +x, i.e. vertical bars moving
right; 90 = upward), ``c`` the Michelson contrast and ``t = k / frame_rate`` for frame ``k``.
Pixel ``(row, col)`` sits at ``x = (col - (W-1)/2) * deg_per_pixel``,
``y = ((H-1)/2 - row) * deg_per_pixel``. Between frames the phase advances by
``-2 pi f_t / frame_rate`` (the grating moves by ``f_t / (f_s * frame_rate)`` degrees along
``theta``).

Allen "Brain Observatory 1.1" drifting gratings (:data:`ALLEN_DRIFTING_GRATINGS`): full
field, f_s = 0.04 cycles/degree, f_t in {1, 2, 4, 8, 15} Hz, 8 directions (0..315 by 45),
contrast 0.8, 2 s per trial, on a 60 Hz monitor spanning about 120 x 95 degrees (the
spherical warping of the real monitor is not modelled).
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import (as_float_array, check_int, check_memory, check_number, check_positive,
                                  check_probability)

__all__ = ["ALLEN_DRIFTING_GRATINGS", "drifting_grating", "resize_frames", "to_model_input"]

ALLEN_DRIFTING_GRATINGS = {
    "spatial_freq_cpd": 0.04,
    "temporal_freqs_hz": (1.0, 2.0, 4.0, 8.0, 15.0),
    "directions_deg": tuple(range(0, 360, 45)),
    "contrast": 0.8,
    "duration_s": 2.0,
    "frame_rate_hz": 60.0,
    "field_of_view_deg": (120.0, 95.0),
}


def drifting_grating(n_frames: int, *, size=(64, 64), direction_deg: float = 0.0,
                     spatial_freq_cpd: float = 0.04, temporal_freq_hz: float = 2.0,
                     frame_rate_hz: float = 60.0, deg_per_pixel: float | None = None,
                     field_of_view_deg: float = 120.0, contrast: float = 0.8,
                     phase_deg: float = 0.0, mean_luminance: float = 0.5,
                     dtype=np.float32) -> np.ndarray:
    """Movie of a full-field drifting sinusoidal grating, shape [n_frames, H, W].

    ``deg_per_pixel`` defaults to ``field_of_view_deg / W`` (the frame spans the monitor's
    horizontal extent).
    """
    check_int("n_frames", n_frames, min_value=1)
    if len(size) != 2:
        raise ValueError(f"size must be (height, width), got {size!r}")
    H = check_int("size[0]", size[0], min_value=1)
    W = check_int("size[1]", size[1], min_value=1)
    theta = np.deg2rad(check_number("direction_deg", direction_deg))
    fs = check_positive("spatial_freq_cpd", spatial_freq_cpd, unit="cycles/degree")
    ft = check_number("temporal_freq_hz", temporal_freq_hz)
    if ft < 0:
        raise ValueError(f"temporal_freq_hz must be >= 0 Hz, got {temporal_freq_hz}; the drift direction is "
                         "direction_deg (add 180 to it for the opposite drift)")
    fr = check_positive("frame_rate_hz", frame_rate_hz, unit="Hz")
    if deg_per_pixel is None:
        deg_per_pixel = check_positive("field_of_view_deg", field_of_view_deg, unit="degrees") / W
    dpp = check_positive("deg_per_pixel", deg_per_pixel, unit="degrees")
    c = check_probability("contrast", contrast)
    m = check_number("mean_luminance", mean_luminance)
    if not (0.0 <= m * (1 - c) and m * (1 + c) <= 1.0):
        raise ValueError(f"mean_luminance {m} with contrast {c} leaves [0, 1]; lower one of them")
    phase0 = np.deg2rad(check_number("phase_deg", phase_deg))
    # the float64 phase and cosine plus the output: about 3 x 8 bytes per pixel and frame
    check_memory("n_frames x size", n_frames * H * W, 24.0, "the grating movie")
    x = (np.arange(W) - (W - 1) / 2.0) * dpp
    y = ((H - 1) / 2.0 - np.arange(H)) * dpp
    u = x[None, :] * np.cos(theta) + y[:, None] * np.sin(theta)
    t = np.arange(n_frames) / fr
    phase = 2 * np.pi * (fs * u[None] - ft * t[:, None, None]) + phase0
    return (m * (1.0 + c * np.cos(phase))).astype(dtype)


def resize_frames(frames, size, *, order: int = 1) -> np.ndarray:
    """Resize [T, H, W] (or [T, C, H, W]) frames to ``size`` = (H', W') by spline interpolation."""
    from scipy.ndimage import zoom

    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim not in (3, 4):
        raise ValueError(f"frames must be [T, H, W] or [T, C, H, W], got shape {frames.shape}")
    H, W = frames.shape[-2:]
    fy, fx = size[0] / H, size[1] / W
    factors = (1,) * (frames.ndim - 2) + (fy, fx)
    out = zoom(frames, factors, order=order, grid_mode=True, mode="nearest")
    return out[..., : size[0], : size[1]]


def to_model_input(frames, *, size=None, channels: int = 3, scale: float = 1.0,
                   mean: float = 0.5, std: float = 0.5) -> np.ndarray:
    """Grey frames [T, H, W] -> float32 [T, C, H', W'] normalised as ``(x / scale - mean) / std``.

    ``scale`` = 255 for 8-bit images; the default mean/std (0.5, 0.5) are the UCF101
    normalisation of the LoRaFB-SNet training code.
    """
    raw = np.asarray(frames)  # integer images convert straight to float32 (exact, no float64 copy)
    frames = as_float_array("frames", raw, dtype=np.float32 if raw.dtype.kind in "biu" else None)
    if frames.ndim != 3:
        raise ValueError(f"frames must be grey [T, H, W], got shape {frames.shape}")
    channels = check_int("channels", channels, min_value=1)
    scale = check_positive("scale", scale)
    mean = check_number("mean", mean)
    std = check_positive("std", std)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        frames = frames.astype(np.float32, copy=False)
        if size is not None and tuple(size) != frames.shape[1:]:
            frames = resize_frames(frames, size)
        x = (frames / scale - mean) / std
    if not np.all(np.isfinite(x)):
        raise ValueError(f"(frames / scale - mean) / std overflows float32 (|value| > 3.4e38) with "
                         f"scale={scale}, mean={mean}, std={std}: std or scale is too small for these frames "
                         "(or the frames too large); use std and scale of the order of the frame values")
    return np.ascontiguousarray(np.repeat(x[:, None], channels, axis=1), dtype=np.float32)
