"""An ``exp`` that LLVM vectorises, for the surrogate-gradient loops of the fused LIF backward.

``np.exp`` inside a Numba loop is a call into libm for each element (Numba has no vector math
library without Intel SVML), which keeps the loop scalar: the sigmoid, Gaussian and erf
surrogate backward rows ran ~10x slower than the ATan row (6.2 vs 0.56 ns per neuron-step on
one core). :func:`vexp` is ``np.exp`` for float64 and, for float32, the Cephes ``expf``
algorithm written with plain arithmetic so that the loop around it vectorises:

    k = floor(x log2(e) + 1/2),  r = x - k ln2 (two-part ln2),  exp(x) = 2^k p(r)

with Cephes' degree-7 polynomial ``p`` (relative error ~1e-7 on ``|r| <= ln2 / 2``; measured
at most 1.4 ulp) and ``2^k`` built from its exponent bits. Ends: below ``-87`` the result is 0
(the true value is below the smallest normal float, 1.2e-38; no denormals, which cost ~100
cycles each in the loops that use them) and above ``88`` it is ``inf`` (``exp(88)`` is 1.7e38;
the float32 range ends at 88.72). In the surrogates both ends give derivatives that are exactly
0 or below 1e-37 in either version (``tests/test_vexp.py``). NaN stays NaN.

Numba only (numpy + numba + llvmlite).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["vexp"]

_F = np.float32
_LO, _HI = _F(-87.0), _F(88.0)
_LOG2E = _F(1.44269504088896341)
_HALF, _ONE, _ZERO, _INF = _F(0.5), _F(1.0), _F(0.0), _F(np.inf)
_C1, _C2 = _F(0.693359375), _F(-2.12194440e-4)  # ln2 = C1 + C2 (C1 has 9 significant bits)
_P0, _P1, _P2 = _F(1.9875691500e-4), _F(1.3981999507e-3), _F(8.3334519073e-3)
_P3, _P4, _P5 = _F(4.1665795894e-2), _F(1.6666665459e-1), _F(5.0000001201e-1)
_BIAS, _TWO23 = _F(127.0), _F(8388608.0)  # exponent bias, 2^23 (the exponent field's shift)


@intrinsic
def _bits_to_float32(typingctx, i):
    """The float32 whose bit pattern is the int32 ``i``."""
    if i != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


def vexp(x):
    """``exp(x)``; vectorisable for float32 (see the module docstring)."""
    return np.exp(x)


@overload(vexp)
def _vexp_overload(x):
    if x != types.float32:
        return lambda x: np.exp(x)

    def impl(x):
        c = _HI if x > _HI else (_LO if x < _LO else x)
        c = c if c == c else _HALF  # NaN: any finite stand-in (the select below returns x)
        k = np.floor(c * _LOG2E + _HALF)
        r = c - k * _C1 - k * _C2
        r2 = r * r
        p = ((((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r2 + r) + _ONE
        # bits of 2^k: (k + 127) << 23, formed in float32 (exact) so the loop needs no int64
        y = p * _bits_to_float32(np.int32((k + _BIAS) * _TWO23))
        y = _ZERO if x < _LO else (_INF if x > _HI else y)
        return y if x == x else x

    return impl
