"""Liquid-state machine: a spiking discrete-LIF reservoir on the Numba kernels.

Neuron update (template of ALGORITHMS.md §4.2; the paper's ``models.py`` is not public, so the
form is the inferred STBP-style update and every choice is a parameter)::

    I_t   = W_in x_t                                         (x_t: input spikes/events/frames)
    mem_t = mem_{t-1} * decay * (1 - s_{t-1}) + I_t + W_rec s_{t-1}     reset="zero"
    mem_t = mem_{t-1} * decay - v_th s_{t-1}  + I_t + W_rec s_{t-1}     reset="subtract"
    s_t   = 1[mem_t > v_th]

``decay`` is the per-step membrane factor ``exp(-dt / tau_mem)`` (0.9 = tau 9.5 steps; the
paper used 0.9, v_th 5.0 for N-MNIST). Units are dimensionless (the paper's discrete model).

Connectivity: sparse random recurrent weights (probability ``density``) obeying Dale's law
when ``frac_exc`` is given (columns of the first ``round(frac_exc N)`` neurons >= 0, the
others <= 0, inhibitory magnitudes times ``inh_scale``), otherwise signed; optional rescaling
to a spectral radius; sparse random signed input weights (probability ``input_density``)
times ``input_scale``. Weight *values* come from a Gaussian ("software", the paper's Gau_LSM)
or from a :class:`~neurosim.reservoir.device.ResistiveDevice` (conductance samples: single
devices for Dale magnitudes, differential pairs for signed weights).

Features: ``transform(x[B, T, d])`` runs every sample from rest (batched Numba kernel, parallel
over samples) and returns spike counts (``feature="count"``), mean rates, or the spikes.
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import check_choice, check_int, check_positive, check_probability
from neurosim.kernels.reservoir import RESET_SUBTRACT, RESET_ZERO, lsm_integrate, lsm_integrate_batch_sparse

from .base import Node, check_frac_exc, dale_weights, scale_spectral_radius, sparse_weights
from .device import ResistiveDevice
from .memory import sparse_weights_bytes

__all__ = ["LSM", "LSMState"]

_RESETS = {"zero": RESET_ZERO, "subtract": RESET_SUBTRACT}


class LSMState(tuple):
    """``(mem [N], spike [N])``."""


class LSM(Node):
    """Spiking liquid-state machine (node API: ``initialize``, ``_step``, ``run``, ``reset``).

    Parameters
    ----------
    units : reservoir neurons (>= 1).
    frac_exc : fraction of excitatory neurons in (0, 1) for Dale's law; None = signed weights.
    density : recurrent connection probability.
    input_density : input connection probability.
    decay : membrane decay per step, in (0, 1].
    v_th : firing threshold (> 0).
    reset : "zero" (template, ``(1 - s)`` factor) or "subtract".
    input_scale : multiplies the input weights (the paper's ``const``).
    rec_scale : multiplies the recurrent weights (ignored when ``spectral_radius`` is given).
    spectral_radius : rescale the recurrent matrix to this spectral radius (> 0) if not None.
    inh_scale : inhibitory/excitatory magnitude ratio (Dale only); None = ``frac_exc/(1-frac_exc)``
        (balanced in expectation).
    weights : "gaussian" (software) or a :class:`ResistiveDevice` ("hardware" weights).
    rng : seed or Generator; streams: recurrent weights, input weights.
    """

    _n_streams = 2

    def __init__(self, units: int = 200, *, frac_exc: float | None = 0.8, density: float = 0.1,
                 input_density: float = 0.2, decay: float = 0.9, v_th: float = 5.0, reset: str = "zero",
                 input_scale: float = 1.0, rec_scale: float = 1.0, spectral_radius: float | None = None,
                 inh_scale: float | None = None, weights="gaussian", rng=None):
        super().__init__(units, rng)
        self.frac_exc = None if frac_exc is None else check_frac_exc(frac_exc)
        self.density = check_probability("density", density, open_low=True)
        self.input_density = check_probability("input_density", input_density, open_low=True)
        self.decay = check_probability("decay", decay, open_low=True)
        self.v_th = check_positive("v_th", v_th)
        self.reset_mode = check_choice("reset", reset, tuple(_RESETS))
        self.input_scale = check_positive("input_scale", input_scale)
        self.rec_scale = check_positive("rec_scale", rec_scale)
        self.spectral_radius = None if spectral_radius is None else check_positive("spectral_radius", spectral_radius)
        if inh_scale is None:
            inh_scale = 1.0 if self.frac_exc is None else self.frac_exc / (1.0 - self.frac_exc)
        self.inh_scale = check_positive("inh_scale", inh_scale)
        if not (weights == "gaussian" or isinstance(weights, ResistiveDevice)):
            raise TypeError(f"weights must be 'gaussian' or a ResistiveDevice, got {weights!r}")
        self.weights = weights
        self._check_memory()

    def _memory(self, n, d):
        """Phases of ``_build``: recurrent draw; rescale (+ LAPACK's copy for a spectral radius);
        input draw and scale next to ``W``; the transposed copies ``_w_t``, ``_w_in_t``."""
        dev = isinstance(self.weights, ResistiveDevice)
        rec = sparse_weights_bytes(n, n, ("device_signed" if self.frac_exc is None else "device_magnitudes")
                                   if dev else "dist")
        inp = max(sparse_weights_bytes(n, d, "device_signed" if dev else "dist"), 16 * n * d)
        kept = 16 * n * n + 16 * n * d
        peak = max(rec, (24 if self.spectral_radius is not None else 16) * n * n, 8 * n * n + inp, kept)
        return peak, kept

    # ------------------------------------------------------------------ build
    def _build(self, input_dim, rngs):
        r_rec, r_in = rngs
        dev = self.weights if isinstance(self.weights, ResistiveDevice) else None
        n = self.units
        if self.frac_exc is not None:
            vals = dev.sampler(signed=False) if dev else None
            w = dale_weights(n, self.frac_exc, self.density, r_rec, dist="halfnormal", values=vals,
                             inh_scale=self.inh_scale)
        else:
            vals = dev.sampler(signed=True) if dev else None
            w = sparse_weights(n, n, self.density, r_rec, dist="normal", values=vals)
        if self.spectral_radius is not None:
            w = scale_spectral_radius(w, self.spectral_radius)
        else:
            w = w * self.rec_scale
        vals = dev.sampler(signed=True) if dev else None
        self.W = np.ascontiguousarray(w)
        self.W_in = np.ascontiguousarray(
            self.input_scale * sparse_weights(n, input_dim, self.input_density, r_in, dist="normal", values=vals))
        self._w_t = np.ascontiguousarray(self.W.T)
        self._w_in_t = np.ascontiguousarray(self.W_in.T)

    # ------------------------------------------------------------------ node API
    def initial_state(self):
        return LSMState((np.zeros(self.units), np.zeros(self.units)))

    def _step(self, state, u):
        """Pure numpy step (reference for the kernel): returns a new ``(mem, spike)``."""
        mem, spike = state
        if self.reset_mode == "zero":
            mem = mem * self.decay * (1.0 - spike)
        else:
            mem = mem * self.decay - self.v_th * spike
        mem = mem + self.W_in @ u + self.W @ spike
        return LSMState((mem, (mem > self.v_th).astype(float)))

    def _readout_state(self, state):
        return state[1]

    def _run(self, u, state):
        mem, spike = (np.array(a, dtype=float) for a in state)
        cur = np.ascontiguousarray(u @ self.W_in.T)
        out = np.empty((u.shape[0], self.units))
        lsm_integrate(cur, self._w_t, self.decay, self.v_th, _RESETS[self.reset_mode], mem, spike, out)
        return out, LSMState((mem, spike))

    # ------------------------------------------------------------------ batches
    def spikes(self, x, chunk: int = 256) -> np.ndarray:
        """Spikes ``[B, T, N]`` (uint8) of every sample ``x[b]`` [T, d], each run from rest.

        ``x`` may be any numeric array (uint8/float32 spikes, event counts or frames); the input
        drive is accumulated event by event, so sparse inputs are cheap.
        """
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"x must have shape [B, T, input_dim], got {x.shape}")
        if x.dtype.kind not in "biuf":
            raise TypeError(f"x must be numeric, got dtype {x.dtype}")
        if not self.initialized:
            self.initialize(x.shape[-1])
        if x.shape[-1] != self.input_dim:
            raise ValueError(f"input width mismatch: x has {x.shape[-1]} features, node input_dim={self.input_dim}")
        chunk = check_int("chunk", chunk, min_value=1)
        b, t = x.shape[:2]
        out = np.empty((b, t, self.units), dtype=np.uint8)
        for s in range(0, b, chunk):
            xb = np.ascontiguousarray(x[s:s + chunk], dtype=np.float32)
            if not np.all(np.isfinite(xb)):
                raise ValueError("x contains NaN/inf values")
            sp = np.empty((len(xb), t, self.units), dtype=np.uint8)
            lsm_integrate_batch_sparse(xb, self._w_in_t, self._w_t, self.decay, self.v_th,
                                       _RESETS[self.reset_mode], sp)
            out[s:s + chunk] = sp
        return out

    def transform(self, x, feature: str = "count", chunk: int = 256, n_windows: int = 1) -> np.ndarray:
        """Features ``[B, F]`` of samples ``x`` [B, T, d].

        ``feature``: "count" (spike counts per neuron, per time window when ``n_windows > 1``,
        F = N * n_windows) or "rate" (counts / window length).
        """
        check_choice("feature", feature, ("count", "rate"))
        n_windows = check_int("n_windows", n_windows, min_value=1)
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"x must have shape [B, T, input_dim], got {x.shape}")
        if n_windows > x.shape[1]:
            raise ValueError(f"n_windows must be <= T={x.shape[1]}, got {n_windows}")
        feats = []
        for s in range(0, x.shape[0], chunk):
            sp = self.spikes(x[s:s + chunk], chunk=chunk).astype(np.float32)
            edges = np.linspace(0, sp.shape[1], n_windows + 1).astype(int)
            f = np.concatenate([sp[:, a:b].sum(1, dtype=np.float64) / ((b - a) if feature == "rate" else 1.0)
                                for a, b in zip(edges[:-1], edges[1:])], axis=1)
            feats.append(f)
        return np.concatenate(feats, axis=0) if feats else np.zeros((0, self.units * n_windows))
