"""E/I-balanced self-adapting rate reservoir (template of ALGORITHMS.md §5).

The paper (Srinivasan, Plenz & Girvan 2025) states: sigmoid rate units, Dale's law, per-neuron
local adaptation of inhibition toward target firing rates (homogeneous or heterogeneous), and a
globally tuned baseline. Its Methods (exact equations) were not available, so this module
implements the documented *template* (not the paper's equations), with every choice a
parameter::

    r_t = (1 - a) r_{t-1} + a * sigma( W_E r_{t-1} - g * (W_I r_{t-1}) + W_in u_t + b )
    sigma(h) = 1 / (1 + exp(-h))                       (rates in (0, 1))
    W_E >= 0 (columns of excitatory units), W_I >= 0 (columns of inhibitory units), E:I = 4:1
    adaptation:  g_i <- max(g_i + eta_g (r_i - rho_i), 0)      (row i of W_I scaled by g_i)

``rho_i`` are target rates: one value (homogeneous) or drawn per neuron (heterogeneous,
``Uniform(rho_lo, rho_hi)``). The *globally tuned* baseline uses one inhibitory scale ``g``
for all neurons, chosen by a search over a grid (:func:`tune_global_inhibition`).

The kernel uses CSR copies of ``W_E``/``W_I`` made by ``initialize``: treat the dense
attributes as read-only afterwards.

``W_E`` and ``W_I`` have entries ``|N(0, 1)| / sqrt(density * N)`` on a Bernoulli(density)
mask, then ``W_E`` is multiplied by ``exc_scale`` and ``W_I`` by ``inh_scale``; input weights
are ``input_scale * U(-1, 1)`` on a Bernoulli(``input_density``) mask; biases ``b`` are
``bias + bias_std * N(0, 1)``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse

from neurosim._validation import as_float_array, check_choice, check_nonnegative, check_number, check_probability
from neurosim.kernels.reservoir import ei_rate_integrate

from .base import Node, check_frac_exc, n_excitatory, sparse_weights
from .memory import sparse_weights_bytes

__all__ = ["EIReservoir", "tune_global_inhibition"]


def _csr(w):
    m = scipy.sparse.csr_matrix(w)
    return (m.indptr.astype(np.int64), m.indices.astype(np.int64), np.ascontiguousarray(m.data, dtype=np.float64))


class EIReservoir(Node):
    """Sigmoid E/I rate reservoir with per-neuron homeostatic inhibitory gains.

    Parameters
    ----------
    units : neurons (>= 1).
    frac_exc : excitatory fraction in (0, 1) (default 0.8 = E:I 4:1).
    density : recurrent connection probability.
    leak : leak rate ``a`` in (0, 1].
    exc_scale, inh_scale : scale of excitatory / inhibitory weights.
    g_init : initial inhibitory gain of every neuron (the global scale of the tuned baseline).
    input_scale, input_density : input weights ``input_scale * U(-1, 1)``.
    bias, bias_std : bias ``b_i ~ bias + bias_std * N(0, 1)``.
    target : "homogeneous" or "heterogeneous" target rates.
    rho, rho_lo, rho_hi : homogeneous target; heterogeneous range ``U(rho_lo, rho_hi)``.
    eta : adaptation rate of the gains (used by :meth:`adapt`).
    rng : seed or Generator; streams: recurrent weights, input weights, biases/targets.
    """

    _n_streams = 3

    def __init__(self, units: int = 200, *, frac_exc: float = 0.8, density: float = 0.1, leak: float = 1.0,
                 exc_scale: float = 1.0, inh_scale: float = 1.0, g_init: float = 1.0,
                 input_scale: float = 1.0, input_density: float = 1.0, bias: float = 0.0, bias_std: float = 0.0,
                 target: str = "homogeneous", rho: float = 0.2, rho_lo: float = 0.05, rho_hi: float = 0.35,
                 eta: float = 0.05, rng=None):
        super().__init__(units, rng)
        self.frac_exc = check_frac_exc(frac_exc)
        self.density = check_probability("density", density, open_low=True)
        self.leak = check_probability("leak", leak, open_low=True)
        self.exc_scale = check_nonnegative("exc_scale", exc_scale)
        self.inh_scale = check_nonnegative("inh_scale", inh_scale)
        self.g_init = check_nonnegative("g_init", g_init)
        self.input_scale = check_nonnegative("input_scale", input_scale)
        self.input_density = check_probability("input_density", input_density, open_low=True)
        self.bias = check_number("bias", bias)
        self.bias_std = check_nonnegative("bias_std", bias_std)
        self.target = check_choice("target", target, ("homogeneous", "heterogeneous"))
        self.rho = check_probability("rho", rho, open_low=True, open_high=True)
        self.rho_lo = check_probability("rho_lo", rho_lo, open_low=True, open_high=True)
        self.rho_hi = check_probability("rho_hi", rho_hi, open_low=True, open_high=True)
        if self.rho_lo > self.rho_hi:
            raise ValueError(f"rho_lo must be <= rho_hi, got {rho_lo} > {rho_hi}")
        self.eta = check_nonnegative("eta", eta)
        self._check_memory()

    def _memory(self, n, d):
        """Phases of ``_build``: the magnitude draw; ``mag``, ``W_E``, ``W_I`` (24 n^2) plus a
        scaled block; the input draw; the CSR copies (about 32 bytes per non-zero while one is
        built, 16 kept), with the expected non-zero counts ``density * n * n_exc`` etc."""
        ne = n_excitatory(n, self.frac_exc)
        nnz_e, nnz_i = self.density * n * ne, self.density * n * (n - ne)
        base = 24 * n * n
        kept = 16 * n * n + 8 * n * d + 16 * (nnz_e + nnz_i)
        peak = max(sparse_weights_bytes(n, n), base + 8 * n * max(ne, n - ne), base + sparse_weights_bytes(n, d),
                   base + 8 * n * d + max(32 * nnz_e, 16 * nnz_e + 32 * nnz_i))
        return int(peak), int(kept)

    def _build(self, input_dim, rngs):
        r_rec, r_in, r_b = rngs
        n = self.units
        ne = n_excitatory(n, self.frac_exc)
        mag = np.abs(sparse_weights(n, n, self.density, r_rec, dist="normal")) / np.sqrt(self.density * n)
        np.fill_diagonal(mag, 0.0)
        self.n_exc = ne
        self.W_E = np.zeros((n, n))
        self.W_I = np.zeros((n, n))
        self.W_E[:, :ne] = self.exc_scale * mag[:, :ne]
        self.W_I[:, ne:] = self.inh_scale * mag[:, ne:]
        self.W_in = self.input_scale * sparse_weights(n, input_dim, self.input_density, r_in, dist="uniform")
        r_bias, r_rho = r_b.spawn(2)
        self.b = self.bias + self.bias_std * r_bias.standard_normal(n)
        if self.target == "homogeneous":
            self.rho_target = np.full(n, self.rho)
        else:
            self.rho_target = r_rho.uniform(self.rho_lo, self.rho_hi, n)
        self.g = np.full(n, self.g_init)
        self._csr = _csr(self.W_E) + _csr(self.W_I)

    # ------------------------------------------------------------------ node API
    def initial_state(self):
        return np.zeros(self.units)

    def _step(self, state, u):
        h = self.W_E @ state - self.g * (self.W_I @ state) + self.W_in @ u + self.b
        return (1.0 - self.leak) * state + self.leak / (1.0 + np.exp(-h))

    def _readout_state(self, state):
        return state

    def _integrate(self, u, eta):
        drive = np.ascontiguousarray(u @ self.W_in.T + self.b)
        r = np.array(self.state, dtype=float)
        out = np.empty((u.shape[0], self.units))
        ei_rate_integrate(drive, *self._csr, self.g, self.leak, eta, self.rho_target, r, out)
        self.state = r
        return out

    def _run(self, u, state):
        self.state = state
        out = self._integrate(u, 0.0)
        return out, self.state

    def adapt(self, u, eta: float | None = None) -> np.ndarray:
        """Run over ``u`` while adapting the per-neuron inhibitory gains toward the targets.

        Returns the states [T, N]; the gains ``self.g`` are updated in place and stay fixed
        during later ``run`` calls.
        """
        u = self._check_input(u)
        eta = self.eta if eta is None else check_nonnegative("eta", eta)
        return self._integrate(u, eta)

    def set_global_inhibition(self, g: float):
        """Set one inhibitory gain for every neuron (the globally tuned baseline)."""
        g = check_nonnegative("g", g)
        if not self.initialized:
            raise ValueError("initialize(input_dim) the reservoir before setting its inhibition")
        self.g[:] = g
        return self


def tune_global_inhibition(make_reservoir, score, grid, higher_is_better: bool = True):
    """Globally tuned baseline: try each ``g`` in ``grid`` and keep the best.

    ``make_reservoir()`` returns a fresh initialized :class:`EIReservoir` (same seed each call);
    ``score(res) -> float`` evaluates it on validation data. Returns ``(best_g, scores)``.
    """
    grid = as_float_array("grid", grid, ndim=1)
    if grid.size == 0:
        raise ValueError("grid must contain at least one inhibition value")
    scores = []
    for g in grid:
        res = make_reservoir()
        res.set_global_inhibition(float(g))
        scores.append(float(score(res)))
    scores = np.array(scores)
    best = int(np.nanargmax(scores) if higher_is_better else np.nanargmin(scores))
    return float(grid[best]), scores
