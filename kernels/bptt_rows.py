"""Row passes of the fused LIF kernels (:mod:`neurosim.kernels.bptt`): one time step of one block.

Each function handles one step of a block of contiguous neurons; the configuration branches
sit outside the contiguous loops so that each loop is simple enough for LLVM to vectorise.
``P`` and the flags are described in :mod:`neurosim.kernels.bptt`.

Numba only (numpy + numba + neurosim.config).
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

from neurosim.config import NJIT
from neurosim.kernels.vexp import vexp

# IEEE division (as in bptt.py): x / 0 -> inf like torch, and divisions vectorise
_NJIT = dict(NJIT, error_model="numpy")


@numba.njit(**_NJIT)
def _charge_row(xr, V, Hr, P, form, decay_input):
    """``Hr = charge(xr, V)`` for one step of one block."""
    n = V.shape[0]
    tau, vr, kb, one, zero = P[0], P[3], P[4], P[7], P[8]
    if form == 0:
        if decay_input:
            for j in range(n):
                v = V[j]
                Hr[j] = v + (xr[j] - (v - vr)) / tau
        else:
            for j in range(n):
                v = V[j]
                Hr[j] = v - (v - vr) / tau + xr[j]
    elif form == 1:
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
    elif form == 2:
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
    """Spikes ``Sr = H(Hr - v_th)`` and the next state ``V`` (mode 0 zero, 1 subtract, 2 keep h)."""
    n = V.shape[0]
    th, vres, one, zero, sub = P[1], P[2], P[7], P[8], P[9]
    if strict:
        if mode == 0:
            for j in range(n):
                h = Hr[j]
                s = one if h > th else zero
                Sr[j] = s
                V[j] = s * vres + (one - s) * h
        elif mode == 1:
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
        if mode == 0:
            for j in range(n):
                h = Hr[j]
                s = one if h >= th else zero
                Sr[j] = s
                V[j] = s * vres + (one - s) * h
        elif mode == 1:
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
    th, vres, one, zero = P[1], P[2], P[7], P[8]
    for j in range(n):
        v = V[j]
        fired = v > th if strict else v >= th
        r = one if fired else zero
        R[j] = r
        if reset == 0:
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
        if reset == 1:
            sub = P[9]
            for j in range(Hr.shape[0]):
                Hr[j] = Hr[j] - R[j] * sub
        _fire_reset_row(Hr, Sr, V, P, strict, 2)
    else:
        _charge_row(xr, V, Hr, P, form, decay_input)
        _fire_reset_row(Hr, Sr, V, P, strict, reset)


@numba.njit(**_NJIT)
def _bwd_row(Hr, gsr, G, gxr, Ghr, P, sid, c, dhdx, dhdv, keep):
    """Surrogate and gradient of one step in one loop per surrogate: with ``g = sg(h - v_th)``,
    ``s = H(h - v_th)``, ``dv/dh = c0 + c1 (1 - s) + (c2 - c3 h) g`` (``c`` from
    :func:`_dvdh_coefs`): ``gh = gs g + G dv/dh``, ``gx = gh dh/dx``, ``G = gh dh/dv`` and, when
    ``keep`` (or for the less common surrogates), ``Ghr = gh``."""
    n = G.shape[0]
    th, c1, c2, one, zero, thf = P[1], P[5], P[6], P[7], P[8], P[10]
    k0, k1, k2, k3 = c[0], c[1], c[2], c[3]
    if not keep and sid == 0:  # atan without the gh row
        for j in range(n):
            h = Hr[j]
            ax = c1 * (h - th)
            g = c2 / (one + ax * ax)
            gh = gsr[j] * g + G[j] * (k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g)
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
    elif not keep and sid == 1:  # sigmoid without the gh row
        for j in range(n):
            h = Hr[j]
            e = one / (one + vexp(-(c1 * (h - th))))
            g = (one - e) * e * c1
            gh = gsr[j] * g + G[j] * (k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g)
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
    elif sid == 0:
        for j in range(n):
            h = Hr[j]
            ax = c1 * (h - th)
            g = c2 / (one + ax * ax)
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == 1:
        for j in range(n):
            h = Hr[j]
            e = one / (one + vexp(-(c1 * (h - th))))
            g = (one - e) * e * c1
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == 2:
        for j in range(n):
            h = Hr[j]
            e = c1 * abs(h - th) + one
            g = one / (e * e)
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == 3:
        for j in range(n):
            h = Hr[j]
            r = one - c1 * abs(h - th)
            g = r * c1 if r > zero else zero
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    elif sid == 4:
        for j in range(n):
            h = Hr[j]
            u = h - th
            g = vexp(-(u * u) * c1) * c2
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh
    else:
        for j in range(n):
            h = Hr[j]
            ax = c1 * (h - th)
            g = vexp(-(ax * ax)) * c2
            d = k0 + k1 * (zero if h >= thf else one) + (k2 - k3 * h) * g
            gh = gsr[j] * g + G[j] * d
            gxr[j] = gh * dhdx
            G[j] = gh * dhdv
            Ghr[j] = gh


@numba.njit(**_NJIT)
def _dvdh_coefs(gmode, P):
    """``(c0, c1, c2, c3)`` of ``dv/dh = c0 + c1 (1 - s) + (c2 - c3 h) g`` for ``gmode``:
    0 (no reset, delayed or detached subtract) -> 1; 1 (zero, detached) -> 1 - s;
    2 (zero) -> (1 - s) + (v_reset - h) g; 3 (subtract) -> 1 - (v_th - v_reset) g."""
    c = np.zeros(4, dtype=P.dtype)
    one = P[7]
    if gmode == 0:
        c[0] = one
    elif gmode == 1:
        c[1] = one
    elif gmode == 2:
        c[1] = one
        c[2] = P[2]
        c[3] = one
    else:
        c[0] = one
        c[2] = -P[9]
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
    tau, vres, vr, kb, one, zero, sub, thf = P[0], P[2], P[3], P[4], P[7], P[8], P[9], P[10]
    z = reset == 0
    u = reset == 1
    if stream:
        if form == 0:
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
    if form == 0:
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
    quarter = P[7] / (P[7] + P[7] + P[7] + P[7])
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
    quarter = P[7] / (P[7] + P[7] + P[7] + P[7])
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
