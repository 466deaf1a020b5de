"""Vectorisable ``exp``, ``expm1`` and ``exprel`` for the Hodgkin-Huxley rate functions (float32 and float64).

``np.exp`` inside a Numba loop is a call into libm per element, which keeps the loop scalar;
an HH step needs nine exponentials per neuron, so the HH passes use :func:`exp_parts` instead,
plain arithmetic that LLVM vectorises in either dtype (as ``kernels/vexp.py`` does for float32)::

    k = round(x log2(e))  (the "shifter" trick: x log2(e) + 1.5 2^p, so no float-to-int conversion)
    r = x - k ln2_hi - k ln2_lo           (Cody-Waite: k ln2_hi is exact, |r| <= ln2 / 2)
    q = e^r - 1                           (float64: Taylor to degree 13, truncation < 1e-17 relative;
                                           float32: the Cephes expf polynomial of ``vexp``)
    s = 2^k                               (built from the exponent bits of the shifted value)
    exp(x) = s q + s,   expm1(x) = s q + (s - 1)

Keeping ``q = e^r - 1`` apart makes ``expm1`` accurate near 0 (for ``|x| <= ln2 / 2``, ``k = 0``
and ``expm1(x) = q`` without cancellation), so :func:`exprel` ``(x) = expm1(x) / x`` (1 at
``x = 0``) has no 0/0 at the removable singularities of the Traub-Miles rates and keeps
full relative accuracy around them. Ends: ``x`` below ``LO`` (-708 / -87) gives ``exp = 0``,
``expm1 = -1``; above ``HI`` (709 / 88) ``exp = expm1 = inf``. Accuracy (``tests/test_sim_hh.py``):
float64 within a few ulp of ``np.exp`` / ``np.expm1`` / ``scipy.special.exprel``, float32
within a few float32 ulp.

Under ``NUMBA_DISABLE_JIT=1`` the same arithmetic runs on NumPy scalars (the bit moves are
``ndarray.view``), so the results are the same bits. Numba only (numpy + numba + llvmlite + ``neurosim.config``).
"""
from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from neurosim.config import NJIT

__all__ = ["exp_parts", "exp_", "expm1_", "exprel", "select"]


def _consts(F, bits):
    """The constants of :func:`exp_parts` in dtype ``F`` (``bits``: 32 or 64)."""
    if bits == 64:
        c1, c2 = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # fdlibm ln2_hi (exact k c1), ln2_lo
        lo, hi, mant, bias = -708.0, 709.0, 52, 1023
        poly = tuple(1.0 / np.prod(np.arange(1.0, j + 1.0)) for j in range(13, 1, -1))  # 1/13! ... 1/2!
    else:
        c1, c2 = 0.693359375, -2.12194440e-4  # Cephes expf
        lo, hi, mant, bias = -87.0, 88.0, 23, 127
        poly = (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                5.0000001201e-1)
    return dict(LO=F(lo), HI=F(hi), LOG2E=F(1.4426950408889634), SHIFT=F(1.5 * 2.0 ** mant), C1=F(c1), C2=F(c2),
                POLY=tuple(F(p) for p in poly), ZERO=F(0.0), ONE=F(1.0), INF=F(np.inf), MANT=mant, BIAS=bias)


_K64 = _consts(np.float64, 64)
_K32 = _consts(np.float32, 32)


@intrinsic
def _as_int(typingctx, x):
    """The bits of a float64 (float32) as an int64 (int32)."""
    if x == types.float64:
        sig, width = types.int64(types.float64), 64
    elif x == types.float32:
        sig, width = types.int32(types.float32), 32
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(width))

    return sig, codegen


@intrinsic
def _as_float(typingctx, i):
    """The float64 (float32) whose bits are the int64 (int32) ``i``."""
    if i == types.int64:
        sig, ty = types.float64(types.int64), ir.DoubleType()
    elif i == types.int32:
        sig, ty = types.float32(types.int32), ir.FloatType()
    else:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ty)

    return sig, codegen


@numba.njit(**NJIT)
def select(c, a, b):
    """``a if c else b``: a call, not an inline branch, so the callers inlined at Numba IR level
    (``inline="always"``) have no phi nodes; LLVM inlines it as a ``select``."""
    return a if c else b


_Q64 = _K64["POLY"]
_Q32 = _K32["POLY"]
_P0, _P1, _P2, _P3, _P4, _P5, _P6, _P7, _P8, _P9, _P10, _P11 = _Q64
_ONE64 = _K64["ONE"]
_R0, _R1, _R2, _R3, _R4, _R5 = _Q32


@numba.njit(inline="always", **NJIT, error_model="numpy")
def _q64(r):
    """``e^r - 1`` in float64: ``r (1 + r (1/2 + r (1/6 + ... + r / 13!)))`` (Horner)."""
    p = ((((((((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r + _P6) * r + _P7) * r + _P8) * r
          + _P9) * r + _P10) * r + _P11
    return (p * r + _ONE64) * r


@numba.njit(inline="always", **NJIT, error_model="numpy")
def _q32(r):
    """``e^r - 1`` in float32: the Cephes polynomial ``p(r) r^2 + r``."""
    return (((((_R0 * r + _R1) * r + _R2) * r + _R3) * r + _R4) * r + _R5) * (r * r) + r


def _make_parts(K, itype, jit):
    """``exp_parts`` for the constants ``K``; ``jit``: bit moves by intrinsics (else NumPy views)."""
    LO, HI, LOG2E, SHIFT, C1, C2 = K["LO"], K["HI"], K["LOG2E"], K["SHIFT"], K["C1"], K["C2"]
    ZERO, ONE, INF = K["ZERO"], K["ONE"], K["INF"]
    MANT = itype(K["MANT"])
    qpoly = _q64 if K["MANT"] == 52 else _q32
    sel = select
    if not jit:  # NumPy scalars in, NumPy scalars of the same dtype out (not a compiled call's Python float)
        qpoly = getattr(qpoly, "py_func", qpoly)
        sel = getattr(select, "py_func", select)
    BIAS = itype(K["BIAS"])
    if jit:
        as_int, as_float = _as_int, _as_float
    else:
        ftype = type(ONE)

        def as_int(x):
            return np.asarray(x, dtype=ftype).view(itype)[()]

        def as_float(i):
            return np.asarray(i, dtype=itype).view(ftype)[()]

    def parts(x):
        c = sel(x > HI, HI, sel(x < LO, LO, x))
        t = c * LOG2E + SHIFT           # k in the low mantissa bits, rounded to nearest
        k = t - SHIFT
        r = (c - k * C1) - k * C2
        q = qpoly(r)
        s = as_float(itype((as_int(t) + BIAS) << MANT))  # 2^k: exponent bits k + bias (the shifter's bits shift out)
        s = sel(x < LO, ZERO, sel(x > HI, INF, s))
        q = sel(x > HI, ONE, q)
        return s, q

    return parts


_PARTS64_PY = _make_parts(_K64, np.int64, False)
_PARTS32_PY = _make_parts(_K32, np.int32, False)


def exp_parts(x):
    """``(s, q)`` with ``exp(x) = s q + s`` and ``expm1(x) = s q + (s - 1)`` (see the module docstring)."""
    return (_PARTS32_PY if isinstance(x, np.float32) else _PARTS64_PY)(x)


@overload(exp_parts, inline="always")
def _exp_parts_overload(x):
    if x == types.float32:
        return _make_parts(_K32, np.int32, True)
    if x == types.float64:
        return _make_parts(_K64, np.int64, True)
    return None


def _make_funcs(K, jit):
    """``exp_``, ``expm1_`` and ``exprel`` with the constants ``K`` (typed: no float32 -> float64 promotion)."""
    ONE = K["ONE"]
    sel = select if jit else getattr(select, "py_func", select)

    def exp_f(x):
        s, q = exp_parts(x)
        return s * q + s

    def expm1_f(x):
        s, q = exp_parts(x)
        return s * q + (s - ONE)

    def exprel_f(x):
        s, q = exp_parts(x)
        nz = x != 0
        return sel(nz, s * q + (s - ONE), ONE) / sel(nz, x, ONE)

    return exp_f, expm1_f, exprel_f


_F64_PY = _make_funcs(_K64, False)
_F32_PY = _make_funcs(_K32, False)


def exp_(x):
    """``exp(x)`` from :func:`exp_parts` (vectorisable)."""
    return (_F32_PY if isinstance(x, np.float32) else _F64_PY)[0](x)


def expm1_(x):
    """``exp(x) - 1`` from :func:`exp_parts`, accurate near 0 (vectorisable)."""
    return (_F32_PY if isinstance(x, np.float32) else _F64_PY)[1](x)


def exprel(x):
    """``(exp(x) - 1) / x``, 1 at ``x = 0`` (``scipy.special.exprel``), without a 0/0 (vectorisable)."""
    return (_F32_PY if isinstance(x, np.float32) else _F64_PY)[2](x)


def _overload_funcs(j):
    def ov(x):
        if x == types.float32:
            return _make_funcs(_K32, True)[j]
        if x == types.float64:
            return _make_funcs(_K64, True)[j]
        return None
    return ov


overload(exp_, inline="always")(_overload_funcs(0))
overload(expm1_, inline="always")(_overload_funcs(1))
overload(exprel, inline="always")(_overload_funcs(2))
