"""The OpenMP region bodies of :mod:`neurosim.kernels.omp`: one Numba ``cfunc`` per kernel
and dtype, in ``omp_f32.py`` / ``omp_f64.py`` (compiled, or loaded from Numba's cache, when
first imported: only the dtypes used are compiled).

Team threads take blocks one at a time from a shared counter (a thread woken late takes
fewer; a team smaller than asked for still covers every block) and count themselves done;
the calling thread waits for the count before it enters libgomp's end barrier.
"""
from __future__ import annotations

import numba
import numpy as np
from numba.core import types

from neurosim.kernels.bptt import lif_bptt_backward, lif_bptt_forward
from neurosim.kernels.omp import (_NJIT, DESC_LEN, DONE, NBLOCKS, NEXT, NTHFN, SPIN, TIDFN, USLEEP, _a1, _a2,
                                  _call_int, _call_int1, _i64ptr, fetch_add)

__all__ = ["forward_body", "backward_body", "SIG"]

_F32 = np.empty(0, np.float32)
_F64 = np.empty(0, np.float64)


@numba.njit(**_NJIT)
def _finish(d, tid):
    """Count this thread as finished; the calling thread (``tid`` 0) then waits for the others
    here, polling and then sleeping, instead of in libgomp's end barrier: a team thread woken
    after a long idle is often placed on the caller's core, and libgomp's barrier spins
    (~8 ms on the 2-core machine) before it lets it run."""
    fetch_add(d, DONE, 1)
    if tid != 0:
        return
    n = max(_call_int(d[NTHFN]), 1)
    k = 0
    while fetch_add(d, DONE, 0) < n:
        k += 1
        if k > d[SPIN]:
            _call_int1(d[USLEEP], 20)


@numba.njit(**_NJIT)
def forward_body(data, like):
    d = numba.carray(_i64ptr(data), (DESC_LEN,))
    i64 = d[:0]
    x, v0, spikes, v_out, H = _a2(d, 0, like), _a1(d, 1, like), _a2(d, 2, like), _a1(d, 3, like), _a2(d, 4, like)
    P, F, work, bad = _a1(d, 5, like), _a1(d, 6, i64), _a2(d, 7, like), _a1(d, 8, i64)
    tid = _call_int(d[TIDFN])
    w = work[min(tid, work.shape[0] - 1)]
    if tid < work.shape[0]:  # (a team larger than asked for: the extra threads only check in)
        while True:  # blocks one at a time: a thread that starts late takes fewer
            b = fetch_add(d, NEXT, 1)
            if b >= d[NBLOCKS]:
                break
            lif_bptt_forward(x, v0, spikes, v_out, H, P, F, bad, w, b, b + 1)
    _finish(d, tid)


@numba.njit(**_NJIT)
def backward_body(data, like):
    d = numba.carray(_i64ptr(data), (DESC_LEN,))
    i64 = d[:0]
    f64 = _a1(d, 7, _F64)
    x, v0, H, gs, gv_T = _a2(d, 0, like), _a1(d, 1, like), _a2(d, 2, like), _a2(d, 3, like), _a1(d, 4, like)
    gx, gv0, P, F, work = _a2(d, 5, like), _a1(d, 6, like), _a1(d, 8, like), _a1(d, 9, i64), _a2(d, 10, like)
    tid = _call_int(d[TIDFN])
    w = work[min(tid, work.shape[0] - 1)]
    if tid < work.shape[0]:
        while True:
            b = fetch_add(d, NEXT, 1)
            if b >= d[NBLOCKS]:
                break
            lif_bptt_backward(x, v0, H, gs, gv_T, gx, gv0, f64, P, F, w, b, b + 1)
    _finish(d, tid)


#: signature of a region body: ``void body(void *descriptor)``
SIG = types.void(types.voidptr)
