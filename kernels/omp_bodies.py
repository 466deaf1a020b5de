"""The OpenMP region bodies of :mod:`neurosim.kernels.omp`: one Numba ``cfunc`` per kernel
and dtype, in ``omp_f32.py`` / ``omp_f64.py`` (compiled, or loaded from Numba's cache, when
first imported: only the dtypes used are compiled).

Each team thread takes the ranges ``tid, tid + n, ...`` of the descriptor's block ranges
(``n`` threads; a team smaller than asked for still covers every range).
"""
from __future__ import annotations

import numba
import numpy as np
from numba.core import types

from neurosim.kernels.bptt import lif_bptt_backward, lif_bptt_forward
from neurosim.kernels.omp import (_NJIT, BOUNDS, DESC_LEN, NRANGES, NTHFN, TIDFN, _a1, _a2, _call_int,
                                  _i64ptr)

__all__ = ["forward_body", "backward_body", "SIG"]

_F32 = np.empty(0, np.float32)
_F64 = np.empty(0, np.float64)


@numba.njit(**_NJIT)
def forward_body(data, like):
    d = numba.carray(_i64ptr(data), (DESC_LEN,))
    i64 = d[:0]
    x, v0, spikes, v_out, H = _a2(d, 0, like), _a1(d, 1, like), _a2(d, 2, like), _a1(d, 3, like), _a2(d, 4, like)
    P, F, work = _a1(d, 5, like), _a1(d, 6, i64), _a2(d, 7, like)
    n = _call_int(d[NTHFN])
    for r in range(_call_int(d[TIDFN]), d[NRANGES], max(n, 1)):
        lif_bptt_forward(x, v0, spikes, v_out, H, P, F, work[r], d[BOUNDS + r], d[BOUNDS + r + 1])


@numba.njit(**_NJIT)
def backward_body(data, like):
    d = numba.carray(_i64ptr(data), (DESC_LEN,))
    i64 = d[:0]
    f64 = _a1(d, 7, _F64)
    x, v0, H, gs, gv_T = _a2(d, 0, like), _a1(d, 1, like), _a2(d, 2, like), _a2(d, 3, like), _a1(d, 4, like)
    gx, gv0, P, F, work = _a2(d, 5, like), _a1(d, 6, like), _a1(d, 8, like), _a1(d, 9, i64), _a2(d, 10, like)
    n = _call_int(d[NTHFN])
    for r in range(_call_int(d[TIDFN]), d[NRANGES], max(n, 1)):
        lif_bptt_backward(x, v0, H, gs, gv_T, gx, gv0, f64, P, F, work[r], d[BOUNDS + r], d[BOUNDS + r + 1])


#: signature of a region body: ``void body(void *descriptor)``
SIG = types.void(types.voidptr)
