"""Numba kernels for the leaky integrate-and-fire neuron with current-based synapses.

Model (time in ms; see ``neurosim.neurons.params`` for the parameter dataclass)::

    tau_mem dv/dt = -(v - v_rest) + r (i_e + i_i + x)
    tau_e di_e/dt = -i_e ,  tau_i di_i/dt = -i_i

Exact integration over a step ``dt`` with ``x`` constant and the currents at the start of the
step (coefficients from ``LIFParams.coefficients``)::

    v_inf = v_rest + r x
    v'    = v_inf + (v + jump - v_inf) a_m + k_e i_e + k_i i_i
    i_e'  = a_e i_e ,  i_i' = a_i i_i

Step order for one neuron (``_lif_update``): if the neuron is refractory (``refr > 0``) the
currents decay, ``v`` is held and ``refr`` decrements (a ``jump`` is discarded); otherwise ``v``
is integrated, and a spike is emitted when ``v' >= v_th``, followed by the reset
(``RESET_ZERO``: ``v <- v_reset``; ``RESET_SUBTRACT``: ``v <- v - (v_th - v_reset)``;
``RESET_NONE``: unchanged) and ``refr <- n_ref``. A spike at step ``s`` therefore holds ``v``
for exactly ``n_ref`` steps (``s+1 ... s+n_ref``) and integration resumes at ``s+n_ref+1``.

Kernels write into caller-allocated arrays and draw no random numbers. Arithmetic happens in
the dtype of the state arrays (float32 or float64): all coefficient arrays must have that dtype.
"""
from __future__ import annotations

import numba
from numba import prange

from neurosim.config import NJIT, NJIT_PARALLEL

__all__ = ["RESET_ZERO", "RESET_SUBTRACT", "RESET_NONE", "RESET_CODES", "BLOCK", "lif_integrate"]

RESET_ZERO, RESET_SUBTRACT, RESET_NONE = 0, 1, 2
#: reset name (``LIFParams.reset``) -> integer code used by the kernels
RESET_CODES = {"zero": RESET_ZERO, "subtract": RESET_SUBTRACT, "none": RESET_NONE}
#: neurons per parallel block (time loop inside a block, contiguous inner loop)
BLOCK = 2048


@numba.njit(**NJIT)
def _lif_integrate_v(v, jump, v_inf, a_m, k_e, i_e, k_i, i_i):
    """Exact membrane update over one step (the single formula shared by every LIF kernel)."""
    return v_inf + (v + jump - v_inf) * a_m + k_e * i_e + k_i * i_i


@numba.njit(**NJIT)
def _lif_reset(v, v_th, v_reset, reset_mode):
    """Membrane potential after a spike."""
    if reset_mode == RESET_ZERO:
        return v_reset
    if reset_mode == RESET_SUBTRACT:
        return v - (v_th - v_reset)
    return v


@numba.njit(**NJIT)
def _lif_update(v, i_e, i_i, refr, jump, v_inf, a_m, a_e, a_i, k_e, k_i, v_th, v_reset, n_ref, reset_mode):
    """One step of one neuron; returns ``(v, i_e, i_i, refr, spiked)``."""
    if refr > 0:
        return v, i_e * a_e, i_i * a_i, refr - 1, False
    v = _lif_integrate_v(v, jump, v_inf, a_m, k_e, i_e, k_i, i_i)
    i_e = i_e * a_e
    i_i = i_i * a_i
    if v >= v_th:
        return _lif_reset(v, v_th, v_reset, reset_mode), i_e, i_i, n_ref, True
    return v, i_e, i_i, refr, False


@numba.njit(**NJIT)
def _lif_block(lo, hi, xs, v, i_syn, refr, v_rest, r, a_m, a_s, k_s, v_th, v_reset, n_ref, reset_mode, spikes):
    """Time loop over neurons ``[lo, hi)`` (contiguous inner loop); see :func:`lif_integrate`."""
    if hi <= lo:
        return
    zero = a_m[lo] - a_m[lo]  # 0 in the state dtype (a literal 0.0 would promote float32 to float64)
    for t in range(xs.shape[0]):
        for i in range(lo, hi):
            v_inf = v_rest[i] + r[i] * xs[t, i]
            vi, ie, ii, ri, s = _lif_update(v[i], i_syn[i], zero, refr[i], zero, v_inf, a_m[i], a_s[i],
                                            a_s[i], k_s[i], zero, v_th[i], v_reset[i], n_ref[i], reset_mode)
            v[i] = vi
            i_syn[i] = ie
            refr[i] = ri
            spikes[t, i] = 1 if s else 0


@numba.njit(**NJIT_PARALLEL)
def lif_integrate(xs, v, i_syn, refr, v_rest, r, a_m, a_s, k_s, v_th, v_reset, n_ref, reset_mode, spikes):
    """Integrate ``T = xs.shape[0]`` steps in place, in parallel over blocks of ``BLOCK`` neurons.

    Parameters
    ----------
    xs : float [T, N]
        External current per step (held constant over the step).
    v, i_syn : float [N]
        State, updated in place.
    refr : int32 [N]
        Refractory steps left, updated in place.
    v_rest, r, a_m, a_s, k_s, v_th, v_reset : float [N]
        Per-neuron coefficients (same dtype as ``v``); ``a_m``, ``a_s``, ``k_s`` from
        ``LIFParams.coefficients`` (``a_e``, ``k_e``).
    n_ref : int32 [N]
        Refractory steps after a spike.
    reset_mode : int
        ``RESET_ZERO``, ``RESET_SUBTRACT`` or ``RESET_NONE``.
    spikes : uint8 [T, N]
        Output: 1 where a neuron spiked.

    For ``N <= BLOCK`` call ``_lif_block(0, N, ...)`` directly (same loop, no thread start-up);
    ``neurosim.neurons.lif_run`` does.
    """
    N = xs.shape[1]
    nb = (N + BLOCK - 1) // BLOCK
    for b in prange(nb):
        _lif_block(b * BLOCK, min(N, (b + 1) * BLOCK), xs, v, i_syn, refr, v_rest, r, a_m, a_s, k_s, v_th,
                   v_reset, n_ref, reset_mode, spikes)
