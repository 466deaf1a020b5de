"""Fused Numba loop that advances a whole network (LIF + Izhikevich populations) many steps.

One call runs ``n_steps`` steps without returning to Python: per step it records state,
delivers delayed synaptic input, updates every neuron (the same ``_lif_update`` /
``_izhikevich_update`` as the single-model kernels, except that a float32 Izhikevich state is
also evaluated in float32 here), collects the spikes and scatters them
through the CSR synapses into a ring buffer. ``neurosim.sim.Network.run`` calls it once per
chunk of steps (for the progress bar and to draw the random drive of the next chunk).

Flat layout (built by ``neurosim.sim.network``; N = nL + nI neurons, LIF first)
-------------------------------------------------------------------------------
LIF        ``lv, lie, lii`` float [nL] (v, excitatory and inhibitory currents), ``lrefr`` int32;
           ``lcoef`` float [8, nL] rows ``a_m, a_e, a_i, k_e, k_i, v_inf, v_th, v_reset``
           (``v_inf = v_rest + r i_ext``), ``lnref`` int32 [nL];
           ``lgroups`` int64 [G, 5] rows ``(lo, hi, reset_code, heterogeneous, drive_channel)``;
           a homogeneous group reads its coefficients from column ``lo`` only.
Izhikevich ``iv, iu`` float [nI]; ``icoef`` float [6, nI] rows ``a, b, c, d, v_peak, i_ext``;
           ``igroups`` int64 [G, 4] rows ``(lo, hi, heterogeneous, drive_channel)`` (global ids;
           the kernel always reads the per-neuron columns).
Channels   0 = ``i_syn``/``ge`` (LIF excitatory current; Izhikevich current for one step),
           1 = ``gi`` (LIF inhibitory current; Izhikevich current), 2 = ``v`` (jump of v,
           discarded while a LIF neuron is refractory).
Synapses   one CSR over keys ``3 pre + c``: ``indptr`` int64 [3 N + 1], ``indices``
           uint16 or int32 (post; uint16 when N <= 65535), ``weights`` float, ``delays`` int32
           (steps; empty when every synapse has ``delay_const`` >= 0 steps). ``ring`` float
           [D, 3, N] with D = max delay + 1;
           ``contig`` uint8 [3 N] row flags: bit 0, the targets are consecutive ids (dense blocks
           such as all-to-all: a contiguous, vectorised add); bit 1, all weights of the row are
           equal (the scalar ``wrow[key]`` is added; the weights are not read). ``wrow`` float
           [3 N]: that scalar (0 for other rows).
Drive      ``drive`` float [T_chunk, N]: row ``t`` is added at step ``step0 + t`` to the drive
           channel of each group (Poisson counts times weight, Gaussian noise ...); with
           ``has_drive`` false no drive is added. LIF groups add it to their inbox (or, in
           direct mode, their currents) before the update; Izhikevich groups read it in the
           update itself (same sums, one pass less).

Each group is updated in two passes per step: a branch-free pass (deliver the inputs, integrate
every neuron with the shared formula; refractory neurons keep ``v``), which the compiler
vectorises (a homogeneous group passes its coefficients as scalars, a heterogeneous one as
arrays), then a pass that handles threshold, reset and the spike list. Together they are exactly
``_lif_update`` / ``_izhikevich_update`` applied to every neuron. Refractory counters are not
counted down step by step: inside a call ``lrefr`` holds the call-relative step at which each
neuron leaves its refractory period (only a spike writes it), and it is converted back to
"steps left" when the call returns.

Timing convention: step ``m`` integrates from ``m dt`` to ``(m+1) dt``; its spikes are
reported with step index ``m`` (time ``(m+1) dt``). A spike of step ``m`` over a synapse with
delay ``d`` steps is added before the integration of step ``m + 1 + d``. State is recorded at
the start of step ``m`` (time ``m dt``) when ``m % rec_every == 0``.

The loop is serial on purpose: a step of CUBA-4000 is ~10 us of work, and a Numba parallel
region per step (the only way to parallelise inside a time loop) costs as much or more to
start, so threads pay only inside the single-model kernels (``lif_integrate`` /
``izhikevich_integrate``), which run the time loop inside each parallel block of neurons.

Returns ``(steps_done, n_out, n_rec)``; it stops early (``steps_done < n_steps``) when the
spike output could overflow (fewer than N free slots) or the state record is full: the caller
grows the buffers and calls again from ``step0 + steps_done``.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

from neurosim.config import NJIT
from neurosim.kernels.lif import RESET_ZERO, _lif_integrate_v, _lif_reset

__all__ = ["network_integrate", "VAR_V", "VAR_I_E", "VAR_U", "VAR_I_I", "VAR_REFR"]

#: neurons per block of the LIF threshold pass (blocks without a crossing are skipped)
SUB = 256
#: variable codes for the state recorder (LIF: v, i_e, i_i, refr; Izhikevich: v, u)
VAR_V, VAR_I_E, VAR_I_I, VAR_REFR = 0, 1, 2, 3
VAR_U = 1


@numba.njit(**NJIT)
def _record_state(lv, lie, lii, lrefr, iv, iu, nL, rec_idx, rec_var, rec_out, n_rec, s):
    for r in range(rec_idx.shape[0]):
        g = rec_idx[r]
        var = rec_var[r]
        if g < nL:
            if var == VAR_V:
                rec_out[n_rec, r] = lv[g]
            elif var == VAR_I_E:
                rec_out[n_rec, r] = lie[g]
            elif var == VAR_I_I:
                rec_out[n_rec, r] = lii[g]
            else:  # refractory steps left (lrefr holds call-relative end steps, see network_integrate)
                rec_out[n_rec, r] = max(lrefr[g] - s, 0)
        else:
            rec_out[n_rec, r] = iv[g - nL] if var == VAR_V else iu[g - nL]


@numba.njit(**NJIT)
def _add_run(dst, src):
    """``dst += src`` over two 1-D arrays (a dense run of targets; vectorised)."""
    for k in range(dst.shape[0]):
        dst[k] += src[k]


@numba.njit(**NJIT)
def _add_indexed(dst, idx, src):
    """``dst[idx[k]] += src[k]`` in order (repeated targets accumulate)."""
    for k in range(idx.shape[0]):
        dst[idx[k]] += src[k]


@numba.njit(**NJIT)
def _add_const(dst, idx, w):
    """``dst[idx[k]] += w`` in order."""
    for k in range(idx.shape[0]):
        dst[idx[k]] += w


@numba.njit(**NJIT)
def _scatter(spk, n_spk, m, indptr, indices, weights, delays, delay_const, ring, contig, wrow, lie, lii, direct):
    """Add the synapses of the spiking neurons ``spk[:n_spk]`` (rows ``3 pre + c``, c = 0, 1, 2).

    Each destination buffer receives one channel only, so visiting the channels per spike (the
    three rows of a neuron share a cache line of ``indptr``) sums every buffer in the same order
    (spike order, then row order) as visiting the spikes per channel.
    """
    D = ring.shape[0]
    for s in range(n_spk):
        base = 3 * spk[s]
        for c in range(3):
            key = base + c
            q0 = indptr[key]
            q1 = indptr[key + 1]
            if q0 == q1:
                continue
            if delay_const >= 0:
                if direct and c == 0:    # direct mode: straight into the LIF currents
                    row = lie
                elif direct and c == 1:
                    row = lii
                else:
                    row = ring[(m + delay_const) % D, c]
                fl = contig[key]
                if fl & 1:  # consecutive targets: contiguous (vectorised) add
                    k0 = indices[q0]
                    _add_run(row[k0:k0 + (q1 - q0)], weights[q0:q1])
                elif fl & 2:  # one weight for the whole row (kept in wrow): the weights are not read
                    _add_const(row, indices[q0:q1], wrow[key])
                else:
                    _add_indexed(row, indices[q0:q1], weights[q0:q1])
            else:
                for q in range(q0, q1):
                    ring[(m + delays[q]) % D, c, indices[q]] += weights[q]


def _get(x, i):
    """``x[i]`` for an array, ``x`` for a scalar (specialised at compile time under Numba)."""
    return x[i] if np.ndim(x) else x


@overload(_get)
def _get_overload(x, i):
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


@numba.njit(**NJIT)
def _lif_pass1(v, ie, ii, refr, b0, b1, b2, a_m, a_e, a_i, k_e, k_i, v_inf, s, direct, one):
    """Deliver the inputs and integrate (refractory neurons keep v); coefficients scalar or [n].

    With ``direct`` the currents already hold this step's input (``b0``, ``b1`` are not read);
    ``direct == 2``: nothing targets ``v`` either (``b2`` is not read; the jump is 0).

    ``refr`` holds, inside one kernel call, the call-relative step at which each neuron leaves
    its refractory period: neuron ``i`` is refractory during step ``s`` of the call when
    ``refr[i] > s`` (int32 ``s``). The counters are read, never written here, so no pass stores
    ``refr`` on a step without spikes (``network_integrate`` converts to and from "steps left").

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
            vn = _lif_integrate_v(vo, jump0, _get(v_inf, i), _get(a_m, i), _get(k_e, i), e, _get(k_i, i), n)
            v[i] = vo * one if refr[i] > s else vn
            ie[i] = e * _get(a_e, i)
            ii[i] = n * _get(a_i, i)
        return
    if direct:
        for i in range(v.shape[0]):
            e = ie[i]
            n = ii[i]
            jump = b2[i]
            b2[i] = 0
            vo = v[i]
            vn = _lif_integrate_v(vo, jump, _get(v_inf, i), _get(a_m, i), _get(k_e, i), e, _get(k_i, i), n)
            v[i] = vo * one if refr[i] > s else vn
            ie[i] = e * _get(a_e, i)
            ii[i] = n * _get(a_i, i)
        return
    for i in range(v.shape[0]):
        e = ie[i] + b0[i]
        n = ii[i] + b1[i]
        jump = b2[i]
        b0[i] = 0
        b1[i] = 0
        b2[i] = 0
        vo = v[i]
        vn = _lif_integrate_v(vo, jump, _get(v_inf, i), _get(a_m, i), _get(k_e, i), e, _get(k_i, i), n)
        v[i] = vo * one if refr[i] > s else vn
        ie[i] = e * _get(a_e, i)
        ii[i] = n * _get(a_i, i)


@numba.njit(**NJIT)
def _lif_pass2(lo, v, refr, v_th, v_reset, n_ref, reset_mode, s, spk, cnt):
    """Threshold and reset of non-refractory neurons; a spike sets ``refr = s + n_ref + 1``."""
    for i in range(v.shape[0]):
        if refr[i] <= s and v[i] >= _get(v_th, i):
            v[i] = _lif_reset(v[i], _get(v_th, i), _get(v_reset, i), reset_mode)
            refr[i] = s + _get(n_ref, i) + 1
            spk[cnt] = lo + i
            cnt += 1
    return cnt


@numba.njit(**NJIT)
def _lif_pass2_zero(lo, v, refr, v_th, v_reset, n_ref, s, spk, cnt):
    """Threshold and "zero" reset (refractory neurons sit at ``v_reset < v_th``: no refractory test).

    Blocks of ``SUB`` neurons: a branch-free, vectorised ``any(v >= v_th)`` first; only blocks
    with a crossing are scanned neuron by neuron (spikes are rare). The blocks are index ranges
    inside one call: a call or array slice per block costs more than the test.
    """
    n = v.shape[0]
    for b0 in range(0, n, SUB):
        b1 = min(n, b0 + SUB)
        hit = False
        for i in range(b0, b1):
            hit |= v[i] >= _get(v_th, i)
        if not hit:
            continue
        for i in range(b0, b1):
            if v[i] >= _get(v_th, i):
                v[i] = _get(v_reset, i)
                refr[i] = s + _get(n_ref, i) + 1
                spk[cnt] = lo + i
                cnt += 1
    return cnt


@numba.njit(**NJIT)
def _refr_to_steps_left(refr, steps_done):
    """End of a call: call-relative end steps back to refractory steps left (the state kept)."""
    for i in range(refr.shape[0]):
        r = refr[i] - steps_done
        refr[i] = r if r > 0 else 0


@numba.njit(**NJIT)
def _izh_integrate(v, u, current, a, b, k):
    """``neurosim.kernels.izhikevich._izhikevich_integrate`` evaluated in the state dtype.

    ``k`` = ``[0.04, 5, 140, dt / 2, dt]`` in the state dtype. float64: the same operations in
    the same order (identical results, the 2003 listing); float32: float32 arithmetic, twice
    the SIMD width of the float64 evaluation used by ``izhikevich_run``.
    """
    h = k[3]
    v = v + h * (k[0] * (v * v) + k[1] * v + k[2] - u + current)
    v = v + h * (k[0] * (v * v) + k[1] * v + k[2] - u + current)
    u = u + (k[4] * a) * (b * v - u)
    return v, u


@numba.njit(**NJIT)
def _izh_pass1(v, u, b0, b1, b2, x, c0, c1, c2, a, b, i_ext, k):
    """Deliver the inputs and integrate; the drive row ``x`` is read here, not through the ring.

    ``c0, c1, c2`` (0 or 1 in the state dtype) say which channel ``x`` goes to; ``b_c + x c_c``
    is exactly what the ring slot held when the drive was added to it after the synapses.
    """
    for i in range(v.shape[0]):
        xi = x[i]
        cur = _get(i_ext, i) + (b0[i] + xi * c0) + (b1[i] + xi * c1)
        vi = v[i] + (b2[i] + xi * c2)
        b0[i] = 0
        b1[i] = 0
        b2[i] = 0
        vi, ui = _izh_integrate(vi, u[i], cur, _get(a, i), _get(b, i), k)
        v[i] = vi
        u[i] = ui


@numba.njit(**NJIT)
def _izh_pass2(lo, v, u, c, d, v_peak, spk, cnt):
    for i in range(v.shape[0]):
        if v[i] >= _get(v_peak, i):
            v[i] = _get(c, i)
            u[i] = u[i] + _get(d, i)
            spk[cnt] = lo + i
            cnt += 1
    return cnt


@numba.njit(**NJIT)
def network_integrate(step0, n_steps,
                      lv, lie, lii, lrefr, lcoef, lnref, lgroups,
                      iv, iu, icoef, igroups, izh_k,
                      drive, has_drive,
                      indptr, indices, weights, delays, delay_const, ring, contig, wrow, direct, one,
                      spk, n_spk,
                      rec_mask, out_step, out_id, n_out,
                      rec_idx, rec_var, rec_every, rec_out, n_rec):
    """Advance the network ``n_steps`` steps from global step ``step0`` (see the module docstring).

    ``direct`` (int; only for LIF-only networks whose synapses all have delay 0, so ``ring`` has
    one slot): 1 or 2: spikes and drive for channels 0 and 1 are added straight into ``lie`` /
    ``lii`` (after this step's decay, in scatter then drive order) instead of through ``ring``,
    which saves two loads and two stores per neuron and step; 2: besides, nothing targets
    channel 2 (``v``), so the ring is not read at all.
    ``one``: 1 in the state dtype, given at run time (see ``_lif_pass1``). ``izh_k``: the
    Izhikevich constants ``[0.04, 5, 140, dt / 2, dt]`` in the state dtype (``_izh_integrate``).
    ``spk`` int32 [N] / ``n_spk`` int64 [1] hold the spikes of the previous step (they are
    scattered at the start of the next step, also across calls). Spikes of neurons with
    ``rec_mask[i] != 0`` are appended to ``out_step`` / ``out_id`` from position ``n_out``.
    """
    nL = lv.shape[0]
    N = nL + iv.shape[0]
    D = ring.shape[0]
    R = rec_idx.shape[0]
    if N == 0:
        return n_steps, n_out, n_rec
    # lrefr holds refractory steps left between calls; inside the call, the call-relative step at
    # which each neuron leaves its refractory period (the same numbers at s = 0)
    done = n_steps
    for s in range(n_steps):
        m = step0 + s
        s32 = np.int32(s)
        if n_out + N > out_step.shape[0]:
            done = s
            break
        if R > 0 and m % rec_every == 0:
            if n_rec >= rec_out.shape[0]:
                done = s
                break
            _record_state(lv, lie, lii, lrefr, iv, iu, nL, rec_idx, rec_var, rec_out, n_rec, s)
            n_rec += 1
        # 1. deliver the spikes of the previous step and this step's drive
        _scatter(spk, n_spk[0], m, indptr, indices, weights, delays, delay_const, ring, contig, wrow, lie, lii,
                 direct)
        buf = ring[m % D]
        if has_drive:
            for g in range(lgroups.shape[0]):
                ch = lgroups[g, 4]
                if direct and ch == 0:
                    row = lie
                elif direct and ch == 1:
                    row = lii
                else:
                    row = buf[ch]
                for i in range(lgroups[g, 0], lgroups[g, 1]):
                    row[i] += drive[s, i]
        b0 = buf[0]
        b1 = buf[1]
        b2 = buf[2]
        cnt = n_spk[0] * 0  # int64, not Literal[int](0): one compiled variant per callee
        # 2. LIF populations
        for g in range(lgroups.shape[0]):
            lo = lgroups[g, 0]
            hi = lgroups[g, 1]
            zero_reset = lgroups[g, 2] == RESET_ZERO
            het = lgroups[g, 3] != 0
            # one vectorised pass over the whole group (a call per block costs ~100 ns of set-up)
            if het:
                _lif_pass1(lv[lo:hi], lie[lo:hi], lii[lo:hi], lrefr[lo:hi], b0[lo:hi], b1[lo:hi], b2[lo:hi],
                           lcoef[0, lo:hi], lcoef[1, lo:hi], lcoef[2, lo:hi], lcoef[3, lo:hi], lcoef[4, lo:hi],
                           lcoef[5, lo:hi], s32, direct, one)
            else:
                _lif_pass1(lv[lo:hi], lie[lo:hi], lii[lo:hi], lrefr[lo:hi], b0[lo:hi], b1[lo:hi], b2[lo:hi],
                           lcoef[0, lo], lcoef[1, lo], lcoef[2, lo], lcoef[3, lo], lcoef[4, lo], lcoef[5, lo],
                           s32, direct, one)
            if not zero_reset:
                if het:
                    cnt = _lif_pass2(lo, lv[lo:hi], lrefr[lo:hi], lcoef[6, lo:hi], lcoef[7, lo:hi], lnref[lo:hi],
                                     lgroups[g, 2], s32, spk, cnt)
                else:
                    cnt = _lif_pass2(lo, lv[lo:hi], lrefr[lo:hi], lcoef[6, lo], lcoef[7, lo], lnref[lo],
                                     lgroups[g, 2], s32, spk, cnt)
                continue
            # zero reset: only blocks of SUB neurons with a crossing are scanned
            if het:
                cnt = _lif_pass2_zero(lo, lv[lo:hi], lrefr[lo:hi], lcoef[6, lo:hi], lcoef[7, lo:hi], lnref[lo:hi],
                                      s32, spk, cnt)
            else:
                cnt = _lif_pass2_zero(lo, lv[lo:hi], lrefr[lo:hi], lcoef[6, lo], lcoef[7, lo], lnref[lo], s32, spk,
                                      cnt)
        # 3. Izhikevich populations (arrays iv, iu, icoef are indexed from nL)
        for g in range(igroups.shape[0]):
            lo = igroups[g, 0]
            hi = igroups[g, 1]
            a = lo - nL
            z = hi - nL
            # the drive row is read by the update itself (without drive: row 0 of a zero array, weight 0)
            ch = igroups[g, 3] if has_drive else -1
            x = drive[s if has_drive else 0, lo:hi]
            zero = one - one
            # always the array form: Izhikevich groups are usually heterogeneous (one compiled variant)
            _izh_pass1(iv[a:z], iu[a:z], b0[lo:hi], b1[lo:hi], b2[lo:hi], x, one if ch == 0 else zero,
                       one if ch == 1 else zero, one if ch == 2 else zero, icoef[0, a:z], icoef[1, a:z],
                       icoef[5, a:z], izh_k)
            cnt = _izh_pass2(lo, iv[a:z], iu[a:z], icoef[2, a:z], icoef[3, a:z], icoef[4, a:z], spk, cnt)
        n_spk[0] = cnt
        # 4. record
        for q in range(cnt):
            g = spk[q]
            if rec_mask[g]:
                out_step[n_out] = m
                out_id[n_out] = g
                n_out += 1
    _refr_to_steps_left(lrefr, done)
    return done, n_out, n_rec
