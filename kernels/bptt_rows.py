"""Forward row passes of the fused LIF kernels (:mod:`neurosim.kernels.bptt`): one time step of one block.

Each function handles one step of a block of contiguous neurons; the configuration branches
sit outside the contiguous loops so that each loop is simple enough for LLVM to vectorise.
``P`` and the codes are described in :mod:`neurosim.kernels.bptt_layout`; the backward's
surrogate rows are generated into ``bptt_sg_rows.py`` from the table in ``bptt_surrogates.py``.

Written out on purpose (measured; ``tests/test_snn_fused.py`` checks that the copies agree):
:func:`_fast_row` repeats its loop for each charge form, input scaling and store kind, and its
charge expressions are those of :func:`_charge_row`.

Numba only (numpy + numba + llvmlite + neurosim.config).
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

from neurosim.config import NJIT
from neurosim.kernels.bptt_layout import (FORM_NORSE, FORM_SNNTORCH, FORM_SPIKINGJELLY, P_LEAK, P_ONE, P_TAU,
                                          P_TH_FIRE, P_V_JUMP, P_V_RESET, P_V_REST, P_V_TH, P_ZERO, RESET_NONE,
                                          RESET_SUBTRACT, RESET_ZERO)

# IEEE division (as in bptt.py): x / 0 -> inf like torch, and divisions vectorise
_NJIT = dict(NJIT, error_model="numpy")


@numba.njit(**_NJIT)
def _charge_row(xr, V, Hr, P, form, decay_input):
    """``Hr = charge(xr, V)`` for one step of one block."""
    n = V.shape[0]
    tau, vr, kb, one, zero = P[P_TAU], P[P_V_REST], P[P_LEAK], P[P_ONE], P[P_ZERO]
    if form == FORM_SPIKINGJELLY:
        if decay_input:
            for j in range(n):
                v = V[j]
                Hr[j] = v + (xr[j] - (v - vr)) / tau
        else:
            for j in range(n):
                v = V[j]
                Hr[j] = v - (v - vr) / tau + xr[j]
    elif form == FORM_SNNTORCH:
        if decay_input:
            a = one - kb
            if vr == zero:
                for j in range(n):
                    Hr[j] = kb * V[j] + xr[j] * a
            else:
                for j in range(n):
                    Hr[j] = kb * (V[j] - vr) + vr + xr[j] * a
        else:
            if vr == zero:
                for j in range(n):
                    Hr[j] = kb * V[j] + xr[j]
            else:
                for j in range(n):
                    Hr[j] = kb * (V[j] - vr) + vr + xr[j]
    elif form == FORM_NORSE:
        if decay_input:
            for j in range(n):
                v = V[j]
                Hr[j] = v + kb * ((vr - v) + xr[j])
        else:
            for j in range(n):
                v = V[j]
                Hr[j] = v + kb * (vr - v) + xr[j]
    else:
        if decay_input:
            for j in range(n):
                v = V[j]
                Hr[j] = v + (xr[j] - (v - vr)) * kb
        else:
            for j in range(n):
                v = V[j]
                Hr[j] = v - (v - vr) * kb + xr[j]


@numba.njit(**_NJIT)
def _fire_reset_row(Hr, Sr, V, P, strict, mode):
    """Spikes ``Sr = H(Hr - v_th)`` and the next state ``V`` (``mode``: a reset code;
    ``RESET_NONE`` keeps ``h``)."""
    n = V.shape[0]
    th, vres, one, zero, sub = P[P_V_TH], P[P_V_RESET], P[P_ONE], P[P_ZERO], P[P_V_JUMP]
    if strict:
        if mode == RESET_ZERO:
            for j in range(n):
                h = Hr[j]
                s = one if h > th else zero
                Sr[j] = s
                V[j] = s * vres + (one - s) * h
        elif mode == RESET_SUBTRACT:
            for j in range(n):
                h = Hr[j]
                s = one if h > th else zero
                Sr[j] = s
                V[j] = h - s * sub
        else:
            for j in range(n):
                h = Hr[j]
                Sr[j] = one if h > th else zero
                V[j] = h
    else:
        if mode == RESET_ZERO:
            for j in range(n):
                h = Hr[j]
                s = one if h >= th else zero
                Sr[j] = s
                V[j] = s * vres + (one - s) * h
        elif mode == RESET_SUBTRACT:
            for j in range(n):
                h = Hr[j]
                s = one if h >= th else zero
                Sr[j] = s
                V[j] = h - s * sub
        else:
            for j in range(n):
                h = Hr[j]
                Sr[j] = one if h >= th else zero
                V[j] = h


@numba.njit(**_NJIT)
def _delay_row(V, Vin, R, P, strict, reset):
    """snntorch's delayed reset: ``R = H(V - v_th)`` (previous spike), ``Vin`` = membrane to charge."""
    n = V.shape[0]
    th, vres, one, zero = P[P_V_TH], P[P_V_RESET], P[P_ONE], P[P_ZERO]
    for j in range(n):
        v = V[j]
        fired = v > th if strict else v >= th
        r = one if fired else zero
        R[j] = r
        if reset == RESET_ZERO:
            if vres == zero:
                Vin[j] = (one - r) * v
            else:
                Vin[j] = (one - r) * v + r * vres
        else:
            Vin[j] = v


@numba.njit(**_NJIT)
def _step_block(xr, V, Hr, Sr, Vin, R, P, form, decay_input, strict, reset, reset_delay):
    """One forward step of one block: charge, fire, reset (``Hr``, ``Sr``, ``V`` updated)."""
    if reset_delay:
        _delay_row(V, Vin, R, P, strict, reset)
        _charge_row(xr, Vin, Hr, P, form, decay_input)
        if reset == RESET_SUBTRACT:
            sub = P[P_V_JUMP]
            for j in range(Hr.shape[0]):
                Hr[j] = Hr[j] - R[j] * sub
        _fire_reset_row(Hr, Sr, V, P, strict, RESET_NONE)
    else:
        _charge_row(xr, V, Hr, P, form, decay_input)
        _fire_reset_row(Hr, Sr, V, P, strict, reset)


@numba.njit(**_NJIT)
def dvdh_mode(reset, detach, reset_delay):
    """The reset's ``dv/dh`` as a code for :func:`_dvdh_coefs` (and the Triton kernels)."""
    if reset_delay or reset == RESET_NONE:
        return 0
    if reset == RESET_ZERO:
        return 1 if detach else 2
    return 0 if detach else 3


@numba.njit(**_NJIT)
def _dvdh_coefs(gmode, P):
    """``(c0, c1, c2, c3)`` of ``dv/dh = c0 + c1 (1 - s) + (c2 - c3 h) g`` for ``gmode``:
    0 (no reset, delayed or detached subtract) -> 1; 1 (zero, detached) -> 1 - s;
    2 (zero) -> (1 - s) + (v_reset - h) g; 3 (subtract) -> 1 - (v_th - v_reset) g."""
    c = np.zeros(4, dtype=P.dtype)
    one = P[P_ONE]
    if gmode == 0:
        c[0] = one
    elif gmode == 1:
        c[1] = one
    elif gmode == 2:
        c[1] = one
        c[2] = P[P_V_RESET]
        c[3] = one
    else:
        c[0] = one
        c[2] = -P[P_V_JUMP]
    return c


@intrinsic
def _store_stream_intrinsic(typingctx, arr, idx, val):
    sig = types.void(arr, types.intp, arr.dtype)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        st = builder.store(args[2], ptr, align=32)
        st.set_metadata("nontemporal", builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)]))
        return context.get_dummy_value()

    return sig, codegen


def _store_stream(arr, idx, val):
    """``arr[idx] = val``; compiled, a non-temporal (streaming) store that claims 32-byte
    alignment, so that the vectorised loop writes whole aligned vectors with
    ``vmovntps``/``vmovntpd`` and no write-allocate read. Only for rows that start on a 32-byte
    boundary and loops whose index starts at 0 (the vector iterations then stay aligned;
    LLVM's scalar epilogue stores need none). Plain Python (``NUMBA_DISABLE_JIT``): a store."""
    arr[idx] = val


@overload(_store_stream)
def _store_stream_overload(arr, idx, val):
    def impl(arr, idx, val):
        _store_stream_intrinsic(arr, idx, val)

    return impl


@numba.njit(**_NJIT)
def _fast_row(xr, V, Hr, Sr, P, form, decay_input, reset, stream):
    """Charge (form 0 or 3), fire and reset of one step of one block in one loop per form:
    ``Hr = h``, ``Sr = H(h - v_th)``, ``V`` = next state (the reset is an arithmetic select).
    ``stream``: write ``Hr`` with streaming stores (``Hr`` 32-byte aligned; see
    :func:`_store_stream`). The loops are written out twice on purpose: with the store chosen
    inside one loop (a helper taking the flag) LLVM kept it scalar, 1.06 vs 0.25 ns per
    neuron-step in cache."""
    n = V.shape[0]
    tau, vres, vr, kb = P[P_TAU], P[P_V_RESET], P[P_V_REST], P[P_LEAK]
    one, zero, sub, thf = P[P_ONE], P[P_ZERO], P[P_V_JUMP], P[P_TH_FIRE]
    z = reset == RESET_ZERO
    u = reset == RESET_SUBTRACT
    if stream:
        if form == FORM_SPIKINGJELLY:
            if decay_input:
                for j in range(n):
                    v = V[j]
                    h = v + (xr[j] - (v - vr)) / tau
                    s = one if h >= thf else zero
                    Sr[j] = s
                    _store_stream(Hr, j, h)
                    V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
            else:
                for j in range(n):
                    v = V[j]
                    h = v - (v - vr) / tau + xr[j]
                    s = one if h >= thf else zero
                    Sr[j] = s
                    _store_stream(Hr, j, h)
                    V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
        else:
            if decay_input:
                for j in range(n):
                    v = V[j]
                    h = v + (xr[j] - (v - vr)) * kb
                    s = one if h >= thf else zero
                    Sr[j] = s
                    _store_stream(Hr, j, h)
                    V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
            else:
                for j in range(n):
                    v = V[j]
                    h = v - (v - vr) * kb + xr[j]
                    s = one if h >= thf else zero
                    Sr[j] = s
                    _store_stream(Hr, j, h)
                    V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
        return
    if form == FORM_SPIKINGJELLY:
        if decay_input:
            for j in range(n):
                v = V[j]
                h = v + (xr[j] - (v - vr)) / tau
                s = one if h >= thf else zero
                Sr[j] = s
                Hr[j] = h
                V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
        else:
            for j in range(n):
                v = V[j]
                h = v - (v - vr) / tau + xr[j]
                s = one if h >= thf else zero
                Sr[j] = s
                Hr[j] = h
                V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
    else:
        if decay_input:
            for j in range(n):
                v = V[j]
                h = v + (xr[j] - (v - vr)) * kb
                s = one if h >= thf else zero
                Sr[j] = s
                Hr[j] = h
                V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)
        else:
            for j in range(n):
                v = V[j]
                h = v - (v - vr) * kb + xr[j]
                s = one if h >= thf else zero
                Sr[j] = s
                Hr[j] = h
                V[j] = (s * vres + (one - s) * h) if z else ((h - s * sub) if u else h)


@numba.njit(**_NJIT)
def _pool_row(Sr, out, q0, W, P, tmp):
    """``out[q0 + ...]`` = 2x2 means of the row pairs in ``Sr`` (``len(Sr)`` a multiple of ``2 W``):
    vertical sums into ``tmp`` (``>= W``), then horizontal pairs (two short loops that vectorise)."""
    quarter = P[P_ONE] / (P[P_ONE] + P[P_ONE] + P[P_ONE] + P[P_ONE])
    w2 = W // 2
    for p in range(Sr.shape[0] // (2 * W)):
        a0 = p * 2 * W
        for j in range(W):
            tmp[j] = Sr[a0 + j] + Sr[a0 + W + j]
        o = q0 + p * w2
        for w in range(w2):
            out[o + w] = (tmp[2 * w] + tmp[2 * w + 1]) * quarter


@numba.njit(**_NJIT)
def _unpool_row(gp, q0, Gr, W, P, tmp):
    """``Gr`` = the pooled gradient ``gp[q0 + ...] / 4`` spread over each 2x2 window."""
    quarter = P[P_ONE] / (P[P_ONE] + P[P_ONE] + P[P_ONE] + P[P_ONE])
    w2 = W // 2
    for p in range(Gr.shape[0] // (2 * W)):
        o = q0 + p * w2
        for w in range(w2):
            g = gp[o + w] * quarter
            tmp[2 * w] = g
            tmp[2 * w + 1] = g
        a0 = p * 2 * W
        for j in range(W):
            Gr[a0 + j] = tmp[j]
            Gr[a0 + W + j] = tmp[j]
