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

In a network (``neurosim.kernels.network``) the LIF groups form one :class:`LIFPopulation`,
updated per step by :func:`lif_population_step` in two passes per group: a branch-free pass that
delivers the inputs and integrates every neuron with ``_lif_integrate_v`` (refractory neurons
keep ``v``), which the compiler vectorises, then a pass for threshold, reset and the spike list;
together they are ``_lif_update`` applied to every neuron. Inside a kernel call ``refr`` holds
the call-relative step at which each neuron leaves its refractory period (only a spike writes
it), converted back to "steps left" when the call returns (:func:`lif_population_end_call`).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
from numba import prange

from neurosim.config import NJIT, NJIT_PARALLEL
from neurosim.kernels.network_kinds import (
    CH_V, GROUP_CHANNEL, GROUP_HET, GROUP_HI, GROUP_LO, GROUP_MODE, NJIT_LOOP, REC_COL, REC_IDX, REC_VAR, any_crossing,
    get, register_population,
)

__all__ = ["RESET_ZERO", "RESET_SUBTRACT", "RESET_NONE", "RESET_CODES", "BLOCK", "lif_integrate", "LIFPopulation",
           "LIF_COEFFICIENTS", "VAR_V", "VAR_I_E", "VAR_I_I", "VAR_REFR"]

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


# ------------------------------------------------------------------------------ in a network
#: neurons per block of the threshold pass for "zero" reset (blocks without a crossing are skipped)
SUB = 256
#: codes of the recordable variables (row ``REC_VAR`` of ``LIFPopulation.rec``)
VAR_V, VAR_I_E, VAR_I_I, VAR_REFR = 0, 1, 2, 3
#: rows of ``LIFPopulation.coef`` (``LIFParams.coefficients`` plus ``v_inf = v_rest + r i_ext``, ``v_th``, ``v_reset``)
LIF_COEFFICIENTS = ("a_m", "a_e", "a_i", "k_e", "k_i", "v_inf", "v_th", "v_reset")
A_M, A_E, A_I, K_E, K_I, V_INF, V_TH, V_RESET = range(len(LIF_COEFFICIENTS))


class LIFPopulation(NamedTuple):
    """The LIF groups of a network, global ids ``start ...``, as ``lif_population_step`` reads them.

    State: ``v`` float [n]; ``i_syn`` float [2, n] (row 0 the excitatory current, channel 0;
    row 1 the inhibitory one, channel 1); ``refr`` int32 [n] (refractory steps left between
    kernel calls). ``coef`` float [len(LIF_COEFFICIENTS), n], rows ``A_M ... V_RESET``;
    ``n_ref`` int32 [n]. ``groups`` int64 [G, GROUP_COLUMNS] (``GROUP_MODE``: the reset code);
    a homogeneous group reads its coefficients at its first neuron only. ``rec`` int64 [3, R]:
    sample ``r`` is variable ``rec[REC_VAR, r]`` (``VAR_*``) of neuron ``rec[REC_IDX, r]``
    (index into the population), written to column ``rec[REC_COL, r]`` of the sample row.
    """

    start: int
    v: np.ndarray
    i_syn: np.ndarray
    refr: np.ndarray
    coef: np.ndarray
    n_ref: np.ndarray
    groups: np.ndarray
    rec: np.ndarray


@numba.njit(**NJIT_LOOP)
def _lif_pass1(v, ie, ii, refr, b0, b1, b2, a_m, a_e, a_i, k_e, k_i, v_inf, s, direct, one):
    """Deliver the inputs and integrate (refractory neurons keep v); coefficients scalar or [n].

    With ``direct`` the currents already hold this step's input (``b0``, ``b1`` are not read);
    ``direct == 2``: nothing targets ``v`` either (``b2`` is not read; the jump is 0).

    ``refr`` holds, inside one kernel call, the call-relative step at which each neuron leaves
    its refractory period: neuron ``i`` is refractory during step ``s`` of the call when
    ``refr[i] > s`` (int32 ``s``). The counters are read, never written here, so no pass stores
    ``refr`` on a step without spikes.

    ``one`` is 1 in the state dtype, passed at run time: a refractory neuron stores ``vo * one``
    (exactly ``vo``) instead of ``vo``. Storing the loaded value back lets LLVM turn the select
    into a masked store (``vmaskmovps``), which is slow on AMD Zen (it halved the pass's speed);
    a product it cannot fold keeps a blend and a plain vector store.
    """
    if direct == 2:  # no input on v either: nothing to read from the ring
        jump0 = b2[0] - b2[0]  # 0 in the state dtype (a literal 0 would promote float32 to float64)
        for i in range(v.shape[0]):
            e = ie[i]
            n = ii[i]
            vo = v[i]
            vn = _lif_integrate_v(vo, jump0, get(v_inf, i), get(a_m, i), get(k_e, i), e, get(k_i, i), n)
            v[i] = vo * one if refr[i] > s else vn
            ie[i] = e * get(a_e, i)
            ii[i] = n * get(a_i, i)
        return
    if direct:
        for i in range(v.shape[0]):
            e = ie[i]
            n = ii[i]
            jump = b2[i]
            b2[i] = 0
            vo = v[i]
            vn = _lif_integrate_v(vo, jump, get(v_inf, i), get(a_m, i), get(k_e, i), e, get(k_i, i), n)
            v[i] = vo * one if refr[i] > s else vn
            ie[i] = e * get(a_e, i)
            ii[i] = n * get(a_i, i)
        return
    for i in range(v.shape[0]):
        e = ie[i] + b0[i]
        n = ii[i] + b1[i]
        jump = b2[i]
        b0[i] = 0
        b1[i] = 0
        b2[i] = 0
        vo = v[i]
        vn = _lif_integrate_v(vo, jump, get(v_inf, i), get(a_m, i), get(k_e, i), e, get(k_i, i), n)
        v[i] = vo * one if refr[i] > s else vn
        ie[i] = e * get(a_e, i)
        ii[i] = n * get(a_i, i)


@numba.njit(**NJIT_LOOP)
def _lif_pass2(lo, v, refr, v_th, v_reset, n_ref, reset_mode, s, spk, cnt):
    """Threshold and reset of non-refractory neurons; a spike sets ``refr = s + n_ref + 1``."""
    for i in range(v.shape[0]):
        if refr[i] <= s and v[i] >= get(v_th, i):
            v[i] = _lif_reset(v[i], get(v_th, i), get(v_reset, i), reset_mode)
            refr[i] = s + get(n_ref, i) + 1
            spk[cnt] = lo + i
            cnt += 1
    return cnt


@numba.njit(**NJIT_LOOP)
def _lif_pass2_zero(lo, v, refr, v_th, v_reset, n_ref, s, spk, cnt):
    """Threshold and "zero" reset (refractory neurons sit at ``v_reset < v_th``: no refractory test).

    Blocks of ``SUB`` neurons: a branch-free, vectorised ``any(v >= v_th)`` first; only blocks
    with a crossing are scanned neuron by neuron (spikes are rare). The blocks are index ranges
    inside one call: a call or array slice per block costs more than the test.
    """
    n = v.shape[0]
    for b0 in range(0, n, SUB):
        b1 = min(n, b0 + SUB)
        if not any_crossing(v, v_th, b0, b1, False):
            continue
        for i in range(b0, b1):
            if v[i] >= get(v_th, i):
                v[i] = get(v_reset, i)
                refr[i] = s + get(n_ref, i) + 1
                spk[cnt] = lo + i
                cnt += 1
    return cnt


@numba.njit(**NJIT_LOOP)
def _lif_group(v, ie, ii, refr, n_ref, b0, b1, b2, coef, a, z, het, reset_mode, lo, s, direct, one, spk, cnt):
    """Both passes over one group: state and inbox sliced to the group, its coefficients
    ``coef[:, a:z]``, global ids ``lo ...``."""
    # one vectorised pass over the whole group (a call per block costs ~100 ns of set-up)
    if het:
        _lif_pass1(v, ie, ii, refr, b0, b1, b2, coef[A_M, a:z], coef[A_E, a:z], coef[A_I, a:z], coef[K_E, a:z],
                   coef[K_I, a:z], coef[V_INF, a:z], s, direct, one)
    else:
        _lif_pass1(v, ie, ii, refr, b0, b1, b2, coef[A_M, a], coef[A_E, a], coef[A_I, a], coef[K_E, a], coef[K_I, a],
                   coef[V_INF, a], s, direct, one)
    if reset_mode != RESET_ZERO:
        if het:
            return _lif_pass2(lo, v, refr, coef[V_TH, a:z], coef[V_RESET, a:z], n_ref, reset_mode, s, spk, cnt)
        return _lif_pass2(lo, v, refr, coef[V_TH, a], coef[V_RESET, a], n_ref[0], reset_mode, s, spk, cnt)
    # zero reset: only blocks of SUB neurons with a crossing are scanned
    if het:
        return _lif_pass2_zero(lo, v, refr, coef[V_TH, a:z], coef[V_RESET, a:z], n_ref, s, spk, cnt)
    return _lif_pass2_zero(lo, v, refr, coef[V_TH, a], coef[V_RESET, a], n_ref[0], s, spk, cnt)


@numba.njit(**NJIT_LOOP)
def lif_population_step(p, buf, x, has_drive, direct, s, one, spk, cnt):
    """One network step of every LIF group (see ``neurosim.kernels.network_kinds``).

    The drive row ``x`` is added to each group's drive channel first (with ``direct``: channels
    0 and 1 straight into the currents, after the synaptic input), then each group is updated.
    """
    groups = p.groups
    st = p.start
    i_syn = p.i_syn
    if has_drive:
        for g in range(groups.shape[0]):
            lo = groups[g, GROUP_LO]
            hi = groups[g, GROUP_HI]
            ch = groups[g, GROUP_CHANNEL]
            if direct and ch != CH_V:
                row = i_syn[ch, lo - st:hi - st]
            else:
                row = buf[ch, lo:hi]
            for i in range(hi - lo):
                row[i] += x[lo + i]
    v = p.v
    refr = p.refr
    coef = p.coef
    n_ref = p.n_ref
    for g in range(groups.shape[0]):
        lo = groups[g, GROUP_LO]
        hi = groups[g, GROUP_HI]
        a = lo - st
        z = hi - st
        cnt = _lif_group(v[a:z], i_syn[0, a:z], i_syn[1, a:z], refr[a:z], n_ref[a:z], buf[0, lo:hi], buf[1, lo:hi],
                         buf[2, lo:hi], coef, a, z, groups[g, GROUP_HET] != 0, groups[g, GROUP_MODE], lo, s, direct,
                         one, spk, cnt)
    return cnt


@numba.njit(**NJIT_LOOP)
def lif_population_record(p, row, s):
    """Write the sampled variables into ``row`` (refractory steps left at step ``s`` of the call)."""
    rec = p.rec
    for r in range(rec.shape[1]):
        i = rec[REC_IDX, r]
        var = rec[REC_VAR, r]
        col = rec[REC_COL, r]
        if var == VAR_V:
            row[col] = p.v[i]
        elif var == VAR_I_E:
            row[col] = p.i_syn[0, i]
        elif var == VAR_I_I:
            row[col] = p.i_syn[1, i]
        else:  # refr holds call-relative end steps inside a call
            row[col] = max(p.refr[i] - s, 0)


@numba.njit(**NJIT_LOOP)
def lif_population_end_call(p, steps_done):
    """Call-relative end steps of the refractory periods back to steps left (the state kept)."""
    refr = p.refr
    for i in range(refr.shape[0]):
        r = refr[i] - steps_done
        refr[i] = r if r > 0 else 0


register_population(LIFPopulation, step=lif_population_step, record=lif_population_record,
                    end_call=lif_population_end_call)
