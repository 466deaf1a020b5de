"""Synthetic neural responses to a movie, for examples and tests that need no recorded data.

:func:`synthetic_cortex` is a linear-nonlinear-Poisson population ("V1"-like units): each unit
sees the mean-subtracted frame through a random linear filter, the drive is smoothed over time by
an exponential filter and passed through a softplus, and every repeat draws Poisson counts:

    d_t = (f_t - mean(f)) W,   W_ij ~ N(0, 1 / n_pixels)
    a_0 = d_0,   a_t = d_t + 0.6 a_{t-1}            (time constant about 2 frames)
    rate_t = log(1 + exp(3 a_t))
    counts[t, r, :] ~ Poisson(rate_t)                (independent repeats r)

Used by the TSRSA demo stage and notebook 06.
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_int

__all__ = ["synthetic_cortex"]


def synthetic_cortex(movie, n_units: int, n_repeats: int, rng=None) -> np.ndarray:
    """Spike counts ``[frames, repeats, units]`` (float64) of an LN-Poisson population watching ``movie``.

    Parameters
    ----------
    movie : array [frames, ...]
        Frames (any shape after the first axis, e.g. ``[frames, H, W]``), finite real numbers.
    n_units, n_repeats : int
        Number of units and of repeats (trials) of the movie.
    rng : numpy.random.Generator or int, optional
        The filters are drawn first, then the counts.
    """
    movie = np.asarray(movie)  # its own dtype: the mean is taken in it (float32 movies stay float32 there)
    if movie.dtype.kind not in "uif":
        raise TypeError(f"movie must hold real numbers, got dtype {movie.dtype}")
    if movie.ndim < 2 or movie.shape[0] < 1 or movie[0].size < 1:
        raise ValueError(f"movie must be an array [frames, ...] with at least one frame and one pixel, "
                         f"got shape {movie.shape}")
    if not np.all(np.isfinite(movie)):
        raise ValueError("movie holds NaN or infinite values; pass finite frames")
    n_units = check_int("n_units", n_units, min_value=1)
    n_repeats = check_int("n_repeats", n_repeats, min_value=1)
    rng = as_generator(rng)
    T = movie.shape[0]
    flat = movie.reshape(T, -1)
    W = rng.normal(size=(flat.shape[1], n_units)) / np.sqrt(flat.shape[1])
    drive = (flat - flat.mean()) @ W
    for t in range(1, T):  # exponential temporal filter (tau = 2 frames)
        drive[t] += 0.6 * drive[t - 1]
    rate = np.log1p(np.exp(3.0 * drive))
    return rng.poisson(rate[:, None, :], size=(T, n_repeats, n_units)).astype(np.float64)
