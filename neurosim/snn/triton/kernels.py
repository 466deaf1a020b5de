r"""Triton kernels of the fused LIF family: forward and BPTT backward, the time loop inside.

One launch per direction. Each program owns a block of neurons (with the 2x2 average pooling:
a block of pooled outputs, each a ``[4]`` row of the tile, the 2x2 window of its neurons) and
loops over the ``T`` steps, the membrane in float32 registers; inputs and outputs may be
float32, bfloat16 or float16 (loaded and converted to float32, stored rounded once). The
equations and the order of operations of every charge form are those of the Numba kernels
(``kernels/bptt_rows.py``; ``kernels/bptt.py`` has the backward's chain rule), so that float32
spikes are bit-identical to theirs and to the torch step loop: the caller launches with
``enable_fp_fusion=False`` (no contraction of ``a * b + c`` into an FMA on the GPU) and the
spikingjelly form divides with ``div_rn`` (IEEE round-to-nearest; ``/`` may be approximate).

Stored for the backward: the charged membranes ``h`` ``[T, M]`` in float32 (the spikes are
``h >= th_fire`` again, and the reset membrane of the step before follows from ``h`` of that
step), nothing else. The backward may write the input gradient over them (``GX_OVER_H``).

Scalars arrive as float32 values of :func:`neurosim.snn.fused_plan.kernel_arrays` (the Numba
packer: the same constants, ``th_fire`` the next float above ``v_th`` for the strict fire
``h > v_th``). Codes: forms of ``kernels/bptt_layout.py`` (0 spikingjelly, 1 snntorch,
2 norse, 3 parametric), resets of ``kernels/lif.py`` (0 zero, 1 subtract, 2 none), ``GMODE``
the reset's ``dv/dh`` (``kernels/bptt_rows._dvdh_coefs``): 0 one, 1 ``1 - s``, 2 ``(1 - s) +
(v_reset - h) g``, 3 ``1 - (v_th - v_reset) g``.

:data:`SURROGATES` is the surrogate table on this side: one ``@triton.jit`` derivative per
kernel id of ``kernels/bptt_surrogates.py`` (same constants ``c1``, ``c2``), passed to the
backward as a compile-time argument; ``tests/test_snn_triton.py`` walks every registered
surrogate.

Importing this module imports triton; ``TRITON_INTERPRET=1`` must be set before that for the
kernels to run on CPU tensors (Triton's interpreter, the no-GPU check).
"""
from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["lif_forward", "lif_backward", "surrogate_values", "SURROGATES", "interpreted"]


# -- the surrogate table: g(u), u = h - v_th ---------------------------------------------------
@triton.jit
def _sg_atan(u, c1, c2):
    a = c1 * u
    return c2 / (1.0 + a * a)


@triton.jit
def _sg_sigmoid(u, c1, c2):
    e = 1.0 / (1.0 + tl.exp(-(c1 * u)))
    return (1.0 - e) * e * c1


@triton.jit
def _sg_fast_sigmoid(u, c1, c2):
    e = c1 * tl.abs(u) + 1.0
    return 1.0 / (e * e)


@triton.jit
def _sg_triangle(u, c1, c2):
    r = 1.0 - c1 * tl.abs(u)
    return tl.where(r > 0.0, r * c1, 0.0)


@triton.jit
def _sg_gaussian(u, c1, c2):
    return tl.exp(-(u * u) * c1) * c2


@triton.jit
def _sg_erf(u, c1, c2):
    a = c1 * u
    return tl.exp(-(a * a)) * c2


#: kernel id (``Surrogate.kernel_id``) -> (name, Triton derivative): the launches pass the
#: derivative itself as the compile-time argument ``SG``
SURROGATES = {0: ("atan", _sg_atan), 1: ("sigmoid", _sg_sigmoid), 2: ("fast_sigmoid", _sg_fast_sigmoid),
              3: ("triangle", _sg_triangle), 4: ("gaussian", _sg_gaussian), 5: ("erf", _sg_erf)}


@triton.jit
def surrogate_values(u_ptr, out_ptr, n, c1, c2, SG: tl.constexpr, BLOCK: tl.constexpr):
    """``out = g(u)`` element-wise for the derivative ``SG`` of :data:`SURROGATES` (the tests
    compare it with ``Surrogate.grad``)."""
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    u = tl.load(u_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    tl.store(out_ptr + offs, SG(u, c1, c2), mask=mask)


# -- one step ----------------------------------------------------------------------------------
@triton.jit
def _charge(x, v, tau, vr, kb, FORM: tl.constexpr, DECAY_INPUT: tl.constexpr):
    """``h`` from the input and the membrane, in the order of operations of ``FORM``."""
    if FORM == 0:
        if DECAY_INPUT:
            h = v + tl.math.div_rn(x - (v - vr), tau)
        else:
            h = v - tl.math.div_rn(v - vr, tau) + x
    elif FORM == 1:
        if DECAY_INPUT:
            h = kb * (v - vr) + vr + x * (1.0 - kb)
        else:
            h = kb * (v - vr) + vr + x
    elif FORM == 2:
        if DECAY_INPUT:
            h = v + kb * ((vr - v) + x)
        else:
            h = v + kb * (vr - v) + x
    else:
        if DECAY_INPUT:
            h = v + (x - (v - vr)) * kb
        else:
            h = v - (v - vr) * kb + x
    return h


@triton.jit
def _reset(h, s, vres, sub, RESET: tl.constexpr):
    """The membrane after the reset that follows spikes ``s`` (``RESET`` 2: none)."""
    if RESET == 0:
        v = s * vres + (1.0 - s) * h
    elif RESET == 1:
        v = h - s * sub
    else:
        v = h
    return v


@triton.jit
def _step(x, v, tau, vr, kb, vres, thf, sub, FORM: tl.constexpr, DECAY_INPUT: tl.constexpr,
          RESET: tl.constexpr, RESET_DELAY: tl.constexpr):
    """Charge, fire, reset: ``(h, s, v_next)`` (with ``RESET_DELAY`` snntorch's reset of the
    spike of the step before, from the unreset membrane ``v``, and ``v_next = h``)."""
    if RESET_DELAY:
        r = (v >= thf).to(tl.float32)
        if RESET == 0:
            vin = (1.0 - r) * v + r * vres
        else:
            vin = v
        h = _charge(x, vin, tau, vr, kb, FORM, DECAY_INPUT)
        if RESET == 1:
            h = h - r * sub
        s = (h >= thf).to(tl.float32)
        vn = h
    else:
        h = _charge(x, v, tau, vr, kb, FORM, DECAY_INPUT)
        s = (h >= thf).to(tl.float32)
        vn = _reset(h, s, vres, sub, RESET)
    return h, s, vn


@triton.jit
def _tile(M, W, BLOCK: tl.constexpr, POOL: tl.constexpr):
    """This program's neurons ``offs`` (``[BLOCK]``; pooled: ``[BLOCK, 4]``, the 2x2 windows of
    images ``W`` wide) with their mask, and its outputs ``q`` (``[BLOCK]``) with theirs."""
    q = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    if POOL:
        qmask = q < M // 4
        w2 = W // 2
        j = tl.arange(0, 4)
        corner = (j % 2) + (j // 2) * W
        offs = ((q // w2) * (2 * W) + (q % w2) * 2)[:, None] + corner[None, :]
        mask = qmask[:, None] & (offs < M)
    else:
        qmask = q < M
        offs = q
        mask = qmask
    return offs, mask, q, qmask


@triton.jit
def _leak(k_ptr, leak, HAS_K: tl.constexpr):
    if HAS_K:
        kb = tl.load(k_ptr).to(tl.float32)
    else:
        kb = leak
    return kb


@triton.jit
def _initial(v0_ptr, offs, mask, vr, HAS_V0: tl.constexpr):
    if HAS_V0:
        v = tl.load(v0_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        v = tl.zeros(offs.shape, tl.float32) + vr
    return v


@triton.jit
def lif_forward(x_ptr, v0_ptr, k_ptr, s_ptr, v_ptr, h_ptr, T, M, W, x_step,
                tau, vr, leak, vres, thf, sub,
                FORM: tl.constexpr, DECAY_INPUT: tl.constexpr, RESET: tl.constexpr, RESET_DELAY: tl.constexpr,
                HAS_V0: tl.constexpr, HAS_K: tl.constexpr, STORE_H: tl.constexpr, POOL: tl.constexpr,
                BLOCK: tl.constexpr):
    """Forward over ``T`` steps: ``x`` ``[T, M]`` (``x_step = 0``: ``[1, M]``, the same input at
    every step), ``v0`` ``[M]`` (unless ``HAS_V0``: ``v_rest``), ``k`` a 0-d learnable leak
    (``HAS_K``) -> spikes ``[T, M]`` (``POOL``: their 2x2 means ``[T, M / 4]``), the final
    membrane ``v`` ``[M]`` and, with ``STORE_H``, ``h`` ``[T, M]`` float32."""
    offs, mask, q, qmask = _tile(M, W, BLOCK, POOL)
    kb = _leak(k_ptr, leak, HAS_K)
    v = _initial(v0_ptr, offs, mask, vr, HAS_V0)
    xp = x_ptr + offs
    hp = h_ptr + offs
    if POOL:
        sp = s_ptr + q
        s_step = M // 4
    else:
        sp = s_ptr + offs
        s_step = M
    for t in range(T):
        x = tl.load(xp, mask=mask, other=0.0).to(tl.float32)
        h, s, v = _step(x, v, tau, vr, kb, vres, thf, sub, FORM, DECAY_INPUT, RESET, RESET_DELAY)
        if POOL:
            tl.store(sp, (tl.sum(s, axis=1) * 0.25).to(s_ptr.dtype.element_ty), mask=qmask)
        else:
            tl.store(sp, s.to(s_ptr.dtype.element_ty), mask=mask)
        if STORE_H:
            tl.store(hp, h, mask=mask)
            hp += M
        xp += x_step
        sp += s_step
    tl.store(v_ptr + offs, v.to(v_ptr.dtype.element_ty), mask=mask)


@triton.jit
def lif_backward(x_ptr, v0_ptr, k_ptr, h_ptr, gs_ptr, gvT_ptr, gx_ptr, gv0_ptr, gk_ptr,
                 T, M, W, x_step, gs_step, h_last, x_last, gs_last,
                 tau, v_th, vr, leak, vres, thf, sub, c1, c2,
                 FORM: tl.constexpr, DECAY_INPUT: tl.constexpr, RESET: tl.constexpr, RESET_DELAY: tl.constexpr,
                 GMODE: tl.constexpr, SG: tl.constexpr, HAS_V0: tl.constexpr, HAS_K: tl.constexpr,
                 HAS_GVT: tl.constexpr, NEED_GV0: tl.constexpr, NEED_GK: tl.constexpr, NEED_PREV: tl.constexpr,
                 STATIC: tl.constexpr, POOL: tl.constexpr, BLOCK: tl.constexpr):
    """BPTT from the stored ``h`` ``[T, M]``: ``gs`` ``[T, M]`` (``POOL``: ``[T, M / 4]``;
    ``gs_step = 0``: one row for every step; ``*_last``: offsets of the last step's rows) and
    ``gvT`` ``[M]`` (unless ``HAS_GVT``: zero) -> ``gx`` ``[T, M]`` (``STATIC``: ``[1, M]``,
    summed over the steps; may be ``h`` itself, each row is read before it is written),
    ``gv0`` ``[M]`` float32 (``NEED_GV0``) and per program ``gk`` = ``sum gh dh/dk``
    (``NEED_GK``), float32. ``NEED_PREV``: the membrane before each step is needed
    (``NEED_GK``, or the delayed zero reset)."""
    offs, mask, q, qmask = _tile(M, W, BLOCK, POOL)
    kb = _leak(k_ptr, leak, HAS_K)
    if FORM == 1:
        dhdv = kb
        if DECAY_INPUT:
            dhdx = 1.0 - kb
        else:
            dhdx = 1.0
    else:
        if FORM == 0:
            kk = 1.0 / tau
        else:
            kk = kb
        dhdv = 1.0 - kk
        if DECAY_INPUT:
            dhdx = kk
        else:
            dhdx = 1.0
    v_init = _initial(v0_ptr, offs, mask, vr, HAS_V0)
    if HAS_GVT:
        G = tl.load(gvT_ptr + offs, mask=mask, other=0.0).to(tl.float32)
    else:
        G = tl.zeros(offs.shape, tl.float32)
    acc = tl.zeros(offs.shape, tl.float32)
    gsum = tl.zeros(offs.shape, tl.float32)
    hp = h_ptr + h_last + offs
    xp = x_ptr + x_last + offs
    gxp = gx_ptr + h_last + offs
    if POOL:
        gsp = gs_ptr + gs_last + q
    else:
        gsp = gs_ptr + gs_last + offs
    for i in range(T):
        t = T - 1 - i
        h = tl.load(hp, mask=mask, other=0.0)
        g = SG(h - v_th, c1, c2)
        s = (h >= thf).to(tl.float32)
        if GMODE == 0:
            d = 1.0
        elif GMODE == 1:
            d = 1.0 - s
        elif GMODE == 2:
            d = (1.0 - s) + (vres - h) * g
        else:
            d = 1.0 - sub * g
        if POOL:
            gsr = (tl.load(gsp, mask=qmask, other=0.0).to(tl.float32) * 0.25)[:, None]
        else:
            gsr = tl.load(gsp, mask=mask, other=0.0).to(tl.float32)
        gh = gsr * g + G * d
        if STATIC:
            gsum += gh * dhdx
        else:
            tl.store(gxp, (gh * dhdx).to(gx_ptr.dtype.element_ty), mask=mask)
        G = gh * dhdv
        if NEED_PREV:
            hprev = tl.load(hp - tl.minimum(t, 1) * M, mask=mask, other=0.0)  # t = 0: a row, unused
            vraw = tl.where(t > 0, hprev, v_init)  # the membrane before this step's charge
            if RESET_DELAY:
                if RESET == 0:  # the reset r_t = H(v_{t-1}) blocks dh_t/dv_{t-1}
                    G = tl.where(vraw >= thf, 0.0, G)
            if NEED_GK:  # the reset membrane of the step before
                vp = tl.where(t > 0, _reset(hprev, (hprev >= thf).to(tl.float32), vres, sub, RESET), v_init)
                if DECAY_INPUT:
                    x = tl.load(xp, mask=mask, other=0.0).to(tl.float32)
                    acc += gh * (x - (vp - vr))
                else:
                    acc += gh * (vr - vp)
        hp -= M
        xp -= x_step
        gxp -= M
        gsp -= gs_step
    if STATIC:
        tl.store(gx_ptr + offs, gsum.to(gx_ptr.dtype.element_ty), mask=mask)
    if NEED_GV0:
        tl.store(gv0_ptr + offs, G, mask=mask)
    if NEED_GK:
        acc = tl.where(mask, acc, 0.0)
        if POOL:
            tl.store(gk_ptr + tl.program_id(0), tl.sum(tl.sum(acc, axis=1), axis=0))
        else:
            tl.store(gk_ptr + tl.program_id(0), tl.sum(acc, axis=0))


def interpreted() -> bool:
    """Whether these kernels run in Triton's interpreter (``TRITON_INTERPRET=1`` was set when
    this module was imported): then they take CPU tensors, and only those."""
    return type(lif_forward).__name__ == "InterpretedFunction"
