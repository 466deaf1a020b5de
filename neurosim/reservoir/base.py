"""Node API shared by all reservoirs, and random weight construction.

A reservoir is a *node* in the reservoirpy sense: sizes are fixed lazily by
``initialize(input_dim)`` (called by the first ``run`` if needed), the one-step transition
``_step(state, u) -> state`` is pure, ``run(u[T, d]) -> states[T, N]`` loops over it (or over a
Numba kernel proven equal to it), and ``reset()`` returns to the initial state.

Randomness: each node keeps one ``numpy.random.Generator``; ``initialize`` splits it with
``Generator.spawn`` into independent streams per component (recurrent weights, input weights,
noise ...), so the same seed always builds the same reservoir and the same results.

Weights
-------
``sparse_weights(n_out, n_in, density, rng, dist)`` draws a matrix whose entries are non-zero
with probability ``density`` (Bernoulli mask), values from ``dist``. ``dale_weights`` makes the
magnitudes non-negative and gives every column the sign of its presynaptic neuron (first
``round(frac_exc * N)`` neurons excitatory: Dale's law). ``scale_spectral_radius`` rescales a
matrix to a target spectral radius ``max |eig(W)|``.
"""
from __future__ import annotations

import numpy as np

from neurosim._rng import as_generator
from neurosim._validation import as_float_array, check_int, check_positive, check_probability

from .memory import check_fits, sparse_weights_bytes

__all__ = [
    "Node", "sparse_weights", "dale_weights", "spectral_radius", "scale_spectral_radius",
    "check_size", "check_frac_exc", "n_excitatory",
]


def check_size(name: str, value) -> int:
    """A reservoir/readout size: integer >= 1."""
    return check_int(name, value, min_value=1)


def check_frac_exc(value) -> float:
    """Fraction of excitatory neurons, strictly inside (0, 1)."""
    return check_probability("frac_exc", value, open_low=True, open_high=True)


def n_excitatory(n: int, frac_exc: float) -> int:
    """Number of excitatory neurons (at least 1 E and 1 I when ``n >= 2``)."""
    ne = int(round(frac_exc * n))
    if n >= 2:
        ne = min(max(ne, 1), n - 1)
    return ne


def _draw(shape, rng, dist: str) -> np.ndarray:
    if dist == "normal":
        return rng.standard_normal(shape)
    if dist == "uniform":
        return rng.uniform(-1.0, 1.0, shape)
    if dist == "halfnormal":
        return np.abs(rng.standard_normal(shape))
    if dist == "uniform01":
        return rng.uniform(0.0, 1.0, shape)
    if dist == "bernoulli":
        return rng.choice(np.array([-1.0, 1.0]), size=shape)
    raise ValueError(f"dist must be one of 'normal', 'uniform', 'halfnormal', 'uniform01', 'bernoulli'; got {dist!r}")


def sparse_weights(n_out: int, n_in: int, density: float, rng=None, dist: str = "normal",
                   values=None) -> np.ndarray:
    """Dense ``[n_out, n_in]`` array with a Bernoulli(``density``) mask.

    ``values`` (optional callable ``values(shape, rng) -> array``) overrides ``dist``; the
    resistive-memory model passes its conductance sampler here.
    """
    n_out = check_size("n_out", n_out)
    n_in = check_size("n_in", n_in)
    density = check_probability("density", density, open_low=True)
    check_fits(f"sparse_weights({n_out}, n_in={n_in})", lambda n: sparse_weights_bytes(n, n_in), n_out,
               name="n_out")
    rng = as_generator(rng)
    r_mask, r_val = rng.spawn(2)
    mask = r_mask.random((n_out, n_in)) < density
    vals = values((n_out, n_in), r_val) if values is not None else _draw((n_out, n_in), r_val, dist)
    return np.where(mask, vals, 0.0)


def dale_weights(n: int, frac_exc: float, density: float, rng=None, dist: str = "halfnormal",
                 values=None, inh_scale: float = 1.0, self_connections: bool = False) -> np.ndarray:
    """Recurrent ``[n, n]`` matrix obeying Dale's law.

    Columns ``j < n_exc`` (excitatory presynaptic neurons) are >= 0, the others <= 0 and
    multiplied by ``inh_scale``. Magnitudes come from ``|dist|`` (or ``|values|``).
    """
    n = check_size("n", n)
    frac_exc = check_frac_exc(frac_exc)
    inh_scale = check_positive("inh_scale", inh_scale)
    mag = np.abs(sparse_weights(n, n, density, rng, dist=dist, values=values))
    if not self_connections:
        np.fill_diagonal(mag, 0.0)
    ne = n_excitatory(n, frac_exc)
    mag[:, ne:] *= -inh_scale
    return mag


def spectral_radius(w) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    w = as_float_array("w", w, ndim=2)
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"w must be square, got shape {w.shape}")
    # LAPACK's geev works on a copy of w (8 n^2 bytes) plus O(n) workspace
    check_fits(f"spectral_radius of a {w.shape[0]}x{w.shape[0]} matrix", lambda n: 8 * n * n + 64 * n,
               w.shape[0], name="n")
    return float(np.max(np.abs(np.linalg.eigvals(w)))) if w.size else 0.0


def scale_spectral_radius(w, rho: float) -> np.ndarray:
    """Return ``w * rho / spectral_radius(w)`` (``rho``, the target spectral radius, must be > 0)."""
    rho = check_positive("rho", rho)
    w = as_float_array("w", w, ndim=2)
    cur = spectral_radius(w)
    if cur == 0.0:
        raise ValueError("w has spectral radius 0 (too sparse?), so it cannot be scaled to rho; increase density")
    if not np.isfinite(cur):
        raise ValueError(f"w has spectral radius {cur} (entries too large for float64); rescale w first")
    out = w * (rho / cur)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"w scaled to spectral radius rho={rho} overflows float64; rescale w first")
    return out


#: allowance for a reservoir's per-neuron vectors (biases, gains, Izhikevich a/b/c/d, CSR row pointers)
_PER_UNIT_BYTES = 256


class Node:
    """Base class: lazy ``initialize``, pure ``_step``, ``run``, ``reset``.

    Subclasses implement ``_build(input_dim, rngs)`` (draw weights), ``_n_streams`` (how many
    rng streams ``_build`` needs), ``initial_state()``, ``_step(state, u)`` and
    ``_readout_state(state) -> [N]`` (what ``run`` records), and may override ``_run`` with a
    fused kernel that equals the loop over ``_step``.
    """

    _n_streams = 3

    def __init__(self, units: int, rng=None):
        self.units = check_size("units", units)
        self._rng = as_generator(rng)
        self.input_dim: int | None = None
        self.state = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def initialized(self) -> bool:
        return self.input_dim is not None

    def initialize(self, input_dim: int):
        """Fix the input width and draw all weights (one rng stream per component)."""
        input_dim = check_size("input_dim", input_dim)
        self._check_memory(input_dim)
        rngs = self._rng.spawn(self._n_streams)
        self._build(input_dim, rngs)
        self.input_dim = input_dim
        self.reset()
        return self

    def reset(self):
        """Return to the initial state."""
        self.state = self.initial_state()
        return self

    # ------------------------------------------------------------------ memory
    def memory_bytes(self, input_dim: int = 1, units: int | None = None) -> int:
        """Estimated peak bytes of ``initialize(input_dim)`` (drawing the dense weights).

        ``units`` (default: this node's) evaluates the same construction at another size.
        The dense ``[n, n]`` and ``[n, input_dim]`` arrays are counted phase by phase (see each
        class's ``_memory``), plus 256 bytes per unit for the per-neuron vectors.
        """
        n = self.units if units is None else units
        return int(self._memory(n, input_dim)[0]) + _PER_UNIT_BYTES * n

    def weight_bytes(self, input_dim: int = 1, units: int | None = None) -> int:
        """Estimated bytes the weights keep after ``initialize(input_dim)``."""
        n = self.units if units is None else units
        return int(self._memory(n, input_dim)[1]) + _PER_UNIT_BYTES * n

    def _memory(self, n: int, d: int) -> tuple[int, int]:
        """``(peak, kept)`` bytes of ``_build`` for ``n`` units and ``d`` inputs (0, 0 if unknown)."""
        return 0, 0

    def _check_memory(self, input_dim: int = 1) -> None:
        """``ValueError`` (estimate, available memory, largest ``units`` that fits) if the
        weights cannot fit; subclasses call it at the end of ``__init__`` and ``initialize``
        calls it again with the real input width."""
        check_fits(f"{type(self).__name__} weights (input_dim={input_dim})",
                   lambda n: self.memory_bytes(input_dim, n), self.units, name="units",
                   fix="use fewer units or a machine with more memory")

    # ------------------------------------------------------------------ running
    def _check_input(self, u, ndim: int = 2) -> np.ndarray:
        if np.ndim(u) == 0 and np.asarray(u).dtype.kind in "biuf":
            raise ValueError(f"u must be a sequence [T] or [T, input_dim], got a scalar ({u!r}); "
                             "for one step pass [[value]] to run or use step(value)")
        u = as_float_array("u", u)
        if ndim == 2 and u.ndim == 1:  # a scalar input sequence [T] -> [T, 1]
            u = u[:, None]
        if u.ndim != ndim:
            raise ValueError(f"u must have {ndim} dimensions ([..., T, input_dim]), got shape {u.shape}")
        if not self.initialized:
            self.initialize(u.shape[-1])
        if u.shape[-1] != self.input_dim:
            raise ValueError(
                f"input width mismatch: u has {u.shape[-1]} features but the node was initialized "
                f"with input_dim={self.input_dim}; pass the same width or build a new node")
        return u

    def step(self, u) -> np.ndarray:
        """Advance one step with input ``u`` [input_dim]; returns the recorded state [N]."""
        u = self._check_input(np.atleast_1d(as_float_array("u", u))[None, :])[0]
        self.state = self._step(self.state, u)
        return self._readout_state(self.state)

    def run(self, u, reset: bool = False) -> np.ndarray:
        """Run over ``u`` [T, input_dim] from the current state; returns states [T, N]."""
        u = self._check_input(u)
        if reset:
            self.reset()
        states, self.state = self._run(u, self.state)
        return states

    def _run(self, u, state):
        out = np.empty((u.shape[0], self.units))
        for t in range(u.shape[0]):
            state = self._step(state, u[t])
            out[t] = self._readout_state(state)
        return out, state

    # ------------------------------------------------------------------ to implement
    def _build(self, input_dim: int, rngs) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def initial_state(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _step(self, state, u):  # pragma: no cover - abstract
        raise NotImplementedError

    def _readout_state(self, state) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError
