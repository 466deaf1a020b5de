"""Heterogeneous Izhikevich spiking reservoir (2003-style heterogeneity, ALGORITHMS.md §6-§7).

Neurons (Izhikevich 2003; v in mV, t in ms, 1 ms steps made of two 0.5 ms half steps for v)::

    v' = 0.04 v^2 + 5 v + 140 - u + I,   u' = a (b v - u),   v >= 30 mV -> v = c, u += d

Heterogeneity as in the 2003 network: ``r ~ U(0, 1)`` per neuron;
excitatory ``a = 0.02, b = 0.2, c = -65 + 15 r^2, d = 8 - 6 r^2`` (RS..CH);
inhibitory ``a = 0.02 + 0.08 r, b = 0.25 - 0.05 r, c = -65, d = 2`` (LTS..FS).

Synapses: sparse random (probability ``density``), excitatory weights ``w_exc * U(0, 1)``,
inhibitory ``-w_inh * U(0, 1)`` (Dale's law), delivered as a current jump on the step after a
spike (as in the 2003 listing). External current per step::

    I_t = W_in u_t + noise_exc/inh * N(0, 1)     (thalamic noise; 5 and 2 in the 2003 network)

Readout features are exponential synaptic traces ``x_j <- x_j exp(-dt / tau_j) + s_j``, with one
``tau_trace`` for all neurons or, given ``(lo, hi)``, per-neuron time constants drawn
log-uniformly in ``[lo, hi]`` ms (heterogeneous synaptic/readout time scales: with them a linear
readout can represent delays far longer than the ~30 ms spiking transient after a cue).
The reservoir template (network size, input coupling, trace constant) is ours: the paper
(Yamada & Chao 2025) gives no equations.
"""
from __future__ import annotations

import numpy as np

from neurosim._validation import check_nonnegative, check_positive, check_probability
from neurosim.kernels.reservoir import izhikevich_reservoir_integrate

from .base import Node, check_frac_exc, n_excitatory, sparse_weights
from .memory import sparse_weights_bytes

__all__ = ["IzhikevichReservoir"]


class IzhikevichReservoir(Node):
    """Spiking Izhikevich reservoir; ``run`` returns synaptic traces [T, N] (1 ms steps).

    Parameters
    ----------
    units : neurons (>= 1); frac_exc : excitatory fraction in (0, 1) (0.8 as in 2003).
    density : connection probability; w_exc, w_inh : max excitatory / inhibitory jump (mV-like
        current units of the 2003 model; 0.5 and 1.0 there with all-to-all coupling of 1000).
    input_scale, input_density : ``W_in = input_scale * U(-1, 1)`` on a Bernoulli mask.
    noise_exc, noise_inh : std of the thalamic noise current for E / I neurons.
    tau_trace : time constant of the readout traces (ms), or ``(lo, hi)`` for per-neuron
        log-uniform time constants.
    rng : seed or Generator; streams: recurrent weights, input weights + heterogeneity, noise.
    """

    _n_streams = 3

    def __init__(self, units: int = 500, *, frac_exc: float = 0.8, density: float = 0.1, w_exc: float = 0.5,
                 w_inh: float = 1.0, input_scale: float = 10.0, input_density: float = 0.3,
                 noise_exc: float = 5.0, noise_inh: float = 2.0, tau_trace: float = 20.0, rng=None):
        super().__init__(units, rng)
        self.frac_exc = check_frac_exc(frac_exc)
        self.density = check_probability("density", density, open_low=True)
        self.w_exc = check_nonnegative("w_exc", w_exc)
        self.w_inh = check_nonnegative("w_inh", w_inh)
        self.input_scale = check_nonnegative("input_scale", input_scale)
        self.input_density = check_probability("input_density", input_density, open_low=True)
        self.noise_exc = check_nonnegative("noise_exc", noise_exc)
        self.noise_inh = check_nonnegative("noise_inh", noise_inh)
        if np.ndim(tau_trace) == 0:
            self.tau_trace = check_positive("tau_trace", tau_trace, unit="ms")
        else:
            if isinstance(tau_trace, (str, bytes)) or len(tau_trace) != 2:
                raise ValueError(f"tau_trace must be one time constant or a (lo, hi) pair in ms, got {tau_trace!r}")
            lo, hi = (check_positive("tau_trace", t, unit="ms") for t in tau_trace)
            if lo > hi:
                raise ValueError(f"tau_trace (lo, hi) must have lo <= hi, got {tau_trace}")
            self.tau_trace = (lo, hi)
        self._check_memory()

    def _memory(self, n, d):
        """Phases of ``_build``: recurrent draw; ``W`` and ``_w_t``; input draw and scale."""
        kept = 16 * n * n + 8 * n * d
        return max(sparse_weights_bytes(n, n), 16 * n * n + sparse_weights_bytes(n, d), kept), kept

    def _build(self, input_dim, rngs):
        r_rec, r_in, r_noise = rngs
        n = self.units
        ne = n_excitatory(n, self.frac_exc)
        self.n_exc = ne
        w = sparse_weights(n, n, self.density, r_rec, dist="uniform01")
        w[:, :ne] *= self.w_exc
        w[:, ne:] *= -self.w_inh
        self.W = w
        self._w_t = np.ascontiguousarray(w.T)
        r_w, r_het = r_in.spawn(2)
        self.W_in = self.input_scale * sparse_weights(n, input_dim, self.input_density, r_w, dist="uniform")
        r = r_het.random(n)
        exc = np.arange(n) < ne
        self.a = np.where(exc, 0.02, 0.02 + 0.08 * r)
        self.b = np.where(exc, 0.2, 0.25 - 0.05 * r)
        self.c = np.where(exc, -65.0 + 15.0 * r ** 2, -65.0)
        self.d = np.where(exc, 8.0 - 6.0 * r ** 2, 2.0)
        self._noise_sd = np.where(exc, self.noise_exc, self.noise_inh)
        self._noise_rng = r_noise
        if isinstance(self.tau_trace, tuple):
            lo, hi = self.tau_trace
            self.tau = np.exp(r_het.uniform(np.log(lo), np.log(hi), n))
        else:
            self.tau = np.full(n, self.tau_trace)
        self.trace_decay = np.exp(-1.0 / self.tau)

    def initial_state(self):
        v = np.full(self.units, -65.0)
        return (v, self.b * v, np.zeros(self.units))

    def _currents(self, u):
        noise = self._noise_sd * self._noise_rng.standard_normal((u.shape[0], self.units))
        return np.ascontiguousarray(u @ self.W_in.T + noise)

    def _step(self, state, u):
        """Pure numpy step given the *total* current ``u`` (input + noise already applied).

        Used as the reference of the kernel; ``run`` draws noise and calls the kernel.
        """
        v, uu, x = (np.array(s, dtype=float) for s in state)
        fired = v >= 30.0
        v[fired] = self.c[fired]
        uu[fired] += self.d[fired]
        i_tot = u + self.W[:, fired].sum(1)
        for _ in range(2):
            v = v + 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - uu + i_tot)
        v = np.minimum(v, 30.0)
        uu = uu + self.a * (self.b * v - uu)
        x = x * self.trace_decay + fired
        return (v, uu, x)

    def _readout_state(self, state):
        return state[2]

    def run_full(self, u, reset: bool = False):
        """Run over ``u`` [T, d]; returns ``(spikes [T, N], traces [T, N])``."""
        u = self._check_input(u)
        if reset:
            self.reset()
        v, uu, x = (np.array(s, dtype=float) for s in self.state)
        cur = self._currents(u)
        sp = np.empty((u.shape[0], self.units))
        tr = np.empty((u.shape[0], self.units))
        izhikevich_reservoir_integrate(cur, self._w_t, self.a, self.b, self.c, self.d, self.trace_decay,
                                       v, uu, x, sp, tr)
        self.state = (v, uu, x)
        return sp, tr

    def _run(self, u, state):
        self.state = state
        _, tr = self.run_full(u)
        return tr, self.state
