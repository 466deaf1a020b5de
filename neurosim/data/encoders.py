"""Spike encoders for images (numpy; time first).

Rate (Bernoulli) coding: at each of ``n_steps`` steps a pixel of intensity ``x`` in [0, 1]
spikes with probability ``gain * x`` (``gain`` in (0, 1])::

    s[t, ...] ~ Bernoulli(gain * x)

Latency (time-to-first-spike) coding: one spike per pixel brighter than ``threshold``, earlier
for brighter pixels::

    linear:  t_spike = round((1 - x) * (n_steps - 1))
    log:     t_spike = round(min(tau * ln(x / (x - threshold)), n_steps - 1))   (RC-charging time)

uint8 images are scaled by 1/255; float images must lie in [0, 1].
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_choice, check_int, check_memory, check_positive, check_probability

__all__ = ["to_unit", "rate_encode", "latency_encode"]


def to_unit(images) -> np.ndarray:
    """uint8 -> float in [0, 1]; float arrays are checked to lie in [0, 1] (at least one dimension)."""
    a = np.asarray(images)
    if a.ndim == 0:
        raise ValueError(f"images must be an array with at least one dimension, got a scalar ({images!r}); "
                         "wrap a single pixel as np.array([x])")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if a.dtype.kind not in "fiu":
        raise TypeError(f"images must be numeric, got dtype {a.dtype}")
    a = a.astype(np.float64)
    if a.size and (not np.all(np.isfinite(a)) or a.min() < 0 or a.max() > 1):
        raise ValueError("images must lie in [0, 1] (or be uint8 0-255); rescale them first")
    return a


def rate_encode(images, n_steps: int, rng=None, gain: float = 1.0) -> np.ndarray:
    """Bernoulli spikes ``[n_steps, *images.shape]`` (uint8)."""
    n_steps = check_int("n_steps", n_steps, min_value=1)
    gain = check_probability("gain", gain, open_low=True)
    g = as_generator(rng)
    x = to_unit(images)
    check_memory("n_steps", n_steps * x.size, 9.0, f"{n_steps} steps of {x.size} pixels")
    return (g.random((n_steps,) + x.shape) < gain * x).astype(np.uint8)


def latency_encode(images, n_steps: int, threshold: float = 0.01, mode: str = "linear",
                   tau: float = 5.0) -> np.ndarray:
    """One spike per pixel above ``threshold``: ``[n_steps, *images.shape]`` (uint8)."""
    n_steps = check_int("n_steps", n_steps, min_value=1)
    threshold = check_probability("threshold", threshold, open_high=True)
    check_choice("mode", mode, ("linear", "log"))
    tau = check_positive("tau", tau)
    x = to_unit(images)
    check_memory("n_steps", n_steps * x.size, 1.0, f"{n_steps} steps of {x.size} pixels")
    fire = x > threshold
    if mode == "linear":
        t = np.rint((1.0 - x) * (n_steps - 1))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = tau * np.log(np.where(fire, x / np.maximum(x - threshold, 1e-300), 1.0))
        t = np.rint(np.minimum(t, n_steps - 1))
    t = np.where(fire, t, -1).astype(np.int64)
    out = np.zeros((n_steps,) + x.shape, np.uint8)
    idx = np.nonzero(fire)
    out[(t[idx],) + idx] = 1
    return out
