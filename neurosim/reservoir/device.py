"""Resistive-memory (RRAM) device model: random reservoir weights as device conductances.

In the resistive-memory LSM (ALGORITHMS.md §4.1) the fixed random weights are the
conductances left by *stochastic resistive switching*: every cell receives the same SET pulse,
switches to the low-resistance state (LRS) only with probability ``p_set`` and otherwise stays
in the high-resistance state (HRS); the conductance within each state varies from cycle to
cycle. This module is a documented *template* of that physics (the paper's device code is not
public), every choice a parameter:

Programming (one sample per device, frozen afterwards)::

    state   ~ Bernoulli(p_set)                           (1 = LRS, 0 = HRS)
    ln G0   ~ Normal(ln g_lrs, sigma_lrs)  if LRS        (cycle-to-cycle lognormal spread)
            ~ Normal(ln g_hrs, sigma_hrs)  if HRS
    G       = G0 * exp(sigma_d2d * z),  z ~ N(0, 1)     (device-to-device variability)
    G       = clip(G, g_min, g_max), then quantised to n_levels equally spaced levels in
              [g_min, g_max] (n_levels = None: analog)

Reading (every ``read``)::

    G_read  = G * (1 + sigma_read * N(0, 1))             (read noise, relative)

Signed weights use a differential pair of two independently programmed devices,
``w = w_scale * (G_plus - G_minus) / g_ref``; non-negative magnitudes (for Dale's-law
matrices) use one device, ``w = w_scale * G / g_ref``. Conductances are in microsiemens (uS).

Moments without clipping/quantisation (used by the tests): with ``s_L^2 = sigma_lrs^2 +
sigma_d2d^2`` and ``m_L = g_lrs * exp(s_L^2 / 2)`` (same for HRS),
``E[G] = p m_L + (1 - p) m_H`` and
``E[G^2] = p g_lrs^2 exp(2 s_L^2) + (1 - p) g_hrs^2 exp(2 s_H^2)``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import check_int, check_nonnegative, check_positive, check_probability

__all__ = ["ResistiveDevice"]


@dataclass(frozen=True)
class ResistiveDevice:
    """Stochastic-switching resistive-memory cell (parameters in uS unless noted).

    Parameters
    ----------
    g_lrs, g_hrs : median conductance of the low/high-resistance state (uS), g_lrs > g_hrs.
    sigma_lrs, sigma_hrs : lognormal (natural-log) spread of each state, cycle to cycle.
    p_set : probability that the SET pulse switches a cell to LRS (stochastic switching);
        ``p_set = 1`` gives a unimodal lognormal device.
    sigma_d2d : lognormal device-to-device variability (multiplicative, log units).
    sigma_read : relative read noise, drawn at every ``read``.
    n_levels : number of quantised conductance levels in [g_min, g_max]; None = analog.
    g_min, g_max : physical conductance window (uS); samples are clipped into it.
    g_ref : conductance that maps to weight ``w_scale`` (uS).
    w_scale : weight per ``g_ref`` (dimensionless software weight).
    """

    g_lrs: float = 40.0
    g_hrs: float = 4.0
    sigma_lrs: float = 0.25
    sigma_hrs: float = 0.5
    p_set: float = 0.5
    sigma_d2d: float = 0.1
    sigma_read: float = 0.02
    n_levels: int | None = None
    g_min: float = 0.1
    g_max: float = 200.0
    g_ref: float = 40.0
    w_scale: float = 1.0

    def __post_init__(self):
        for f in ("g_lrs", "g_hrs", "g_min", "g_max", "g_ref", "w_scale"):
            check_positive(f, getattr(self, f), unit="uS" if f.startswith("g") else "")
        for f in ("sigma_lrs", "sigma_hrs", "sigma_d2d", "sigma_read"):
            check_nonnegative(f, getattr(self, f))
        check_probability("p_set", self.p_set)
        if self.g_hrs >= self.g_lrs:
            raise ValueError(f"g_hrs must be < g_lrs (HRS conducts less), got g_hrs={self.g_hrs}, g_lrs={self.g_lrs}")
        if self.g_min >= self.g_max:
            raise ValueError(f"g_min must be < g_max, got {self.g_min} >= {self.g_max}")
        if self.n_levels is not None:
            check_int("n_levels", self.n_levels, min_value=2)

    # ------------------------------------------------------------------ conductances
    def program(self, shape, rng=None) -> np.ndarray:
        """Sample programmed conductances (uS) for an array of devices of ``shape``."""
        rng = as_generator(rng)
        r_state, r_c2c, r_d2d = rng.spawn(3)
        lrs = r_state.random(shape) < self.p_set
        mu = np.where(lrs, np.log(self.g_lrs), np.log(self.g_hrs))
        sig = np.where(lrs, self.sigma_lrs, self.sigma_hrs)
        g = np.exp(mu + sig * r_c2c.standard_normal(shape))
        g = g * np.exp(self.sigma_d2d * r_d2d.standard_normal(shape))
        g = np.clip(g, self.g_min, self.g_max)
        return self.quantize(g)

    def quantize(self, g) -> np.ndarray:
        """Round to the nearest of ``n_levels`` equally spaced levels (identity if analog)."""
        g = np.asarray(g, dtype=float)
        if self.n_levels is None:
            return g
        step = (self.g_max - self.g_min) / (self.n_levels - 1)
        return self.g_min + np.round((g - self.g_min) / step) * step

    def read(self, g, rng=None) -> np.ndarray:
        """One noisy read of conductances ``g`` (relative Gaussian read noise)."""
        g = np.asarray(g, dtype=float)
        if self.sigma_read == 0.0:
            return g.copy()
        return g * (1.0 + self.sigma_read * as_generator(rng).standard_normal(g.shape))

    def moments(self) -> tuple[float, float]:
        """Analytic mean and variance of programmed conductance (no clipping/quantisation)."""
        p = self.p_set
        s2l = self.sigma_lrs ** 2 + self.sigma_d2d ** 2
        s2h = self.sigma_hrs ** 2 + self.sigma_d2d ** 2
        m1 = p * self.g_lrs * np.exp(s2l / 2) + (1 - p) * self.g_hrs * np.exp(s2h / 2)
        m2 = p * self.g_lrs ** 2 * np.exp(2 * s2l) + (1 - p) * self.g_hrs ** 2 * np.exp(2 * s2h)
        return float(m1), float(m2 - m1 ** 2)

    # ------------------------------------------------------------------ weights
    def magnitudes(self, shape, rng=None) -> np.ndarray:
        """Non-negative weights from single devices (read once): ``w_scale * G / g_ref``."""
        r_prog, r_read = as_generator(rng).spawn(2)
        return self.w_scale * self.read(self.program(shape, r_prog), r_read) / self.g_ref

    def signed(self, shape, rng=None) -> np.ndarray:
        """Signed weights from differential pairs: ``w_scale * (G+ - G-) / g_ref``."""
        r_p, r_m, r_read = as_generator(rng).spawn(3)
        gp = self.read(self.program(shape, r_p), r_read)
        gm = self.read(self.program(shape, r_m), r_read)
        return self.w_scale * (gp - gm) / self.g_ref

    def sampler(self, signed: bool = True):
        """A ``values(shape, rng)`` callable for :func:`neurosim.reservoir.base.sparse_weights`."""
        return (lambda shape, rng: self.signed(shape, rng)) if signed else \
            (lambda shape, rng: self.magnitudes(shape, rng))
