"""The OpenMP region bodies of :mod:`neurosim.kernels.omp`: for each kernel that can run as a
region, the function that writes its task descriptor (``fill_*``) and the body that reads it
(``*_body``), side by side since they agree on the order of the array arguments; :data:`JOBS`
lists them. The Numba ``cfunc`` per kernel and dtype is in ``omp_f32.py`` / ``omp_f64.py``
(compiled, or loaded from Numba's cache, when first imported: only the dtypes used are compiled).

Team threads take blocks one at a time from a shared counter (a thread woken late takes
fewer; a team smaller than asked for still covers every block) and count themselves done;
the calling thread waits for the count before it enters libgomp's end barrier.
"""
from __future__ import annotations

import numba
import numpy as np
from numba.core import types

from neurosim.config import NJIT
from neurosim.kernels.bptt import lif_bptt_backward, lif_bptt_forward
from neurosim.kernels.omp_desc import (DESC_LEN, DONE, NBLOCKS, NEXT, NTHFN, SPIN, TIDFN, USLEEP, array1, array2,
                                       call_int, call_int1, fetch_add, head, i64ptr, put)

__all__ = ["forward_body", "backward_body", "fill_forward", "fill_backward", "JOBS", "SIG"]

_NJIT = dict(NJIT, error_model="numpy")

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
    n = max(call_int(d[NTHFN]), 1)
    k = 0
    while fetch_add(d, DONE, 0) < n:
        k += 1
        if k > d[SPIN]:
            call_int1(d[USLEEP], 20)


@numba.njit(**_NJIT)
def fill_forward(d, kind, fns, nblocks, x, v0, spikes, v_out, H, P, F, bad, work):
    """Write the descriptor of a :func:`~neurosim.kernels.bptt.lif_bptt_forward` call over
    ``nblocks`` blocks (``work`` ``[threads, size]``: scratch per team thread; ``fns``: see
    :func:`~neurosim.kernels.omp_desc.head`); :func:`forward_body` reads it."""
    head(d, kind, fns, nblocks)
    put(d, 0, x)
    put(d, 1, v0)
    put(d, 2, spikes)
    put(d, 3, v_out)
    put(d, 4, H)
    put(d, 5, P)
    put(d, 6, F)
    put(d, 7, work)
    put(d, 8, bad)


@numba.njit(**_NJIT)
def fill_backward(d, kind, fns, nblocks, x, v0, H, gs, gv_T, gx, gv0, gk_part, P, F, work):
    """As :func:`fill_forward` for :func:`~neurosim.kernels.bptt.lif_bptt_backward`."""
    head(d, kind, fns, nblocks)
    put(d, 0, x)
    put(d, 1, v0)
    put(d, 2, H)
    put(d, 3, gs)
    put(d, 4, gv_T)
    put(d, 5, gx)
    put(d, 6, gv0)
    put(d, 7, gk_part)
    put(d, 8, P)
    put(d, 9, F)
    put(d, 10, work)


@numba.njit(**_NJIT)
def forward_body(data, like):
    d = numba.carray(i64ptr(data), (DESC_LEN,))
    i64 = d[:0]
    x, v0, spikes = array2(d, 0, like), array1(d, 1, like), array2(d, 2, like)
    v_out, H = array1(d, 3, like), array2(d, 4, like)
    P, F, work, bad = array1(d, 5, like), array1(d, 6, i64), array2(d, 7, like), array1(d, 8, i64)
    tid = call_int(d[TIDFN])
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
    d = numba.carray(i64ptr(data), (DESC_LEN,))
    i64 = d[:0]
    f64 = array1(d, 7, _F64)
    x, v0, H, gs = array2(d, 0, like), array1(d, 1, like), array2(d, 2, like), array2(d, 3, like)
    gv_T, gx, gv0 = array1(d, 4, like), array2(d, 5, like), array1(d, 6, like)
    P, F, work = array1(d, 8, like), array1(d, 9, i64), array2(d, 10, like)
    tid = call_int(d[TIDFN])
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

#: kernel -> (job number, descriptor writer); the region body of a task is
#: ``omp_f32/omp_f64.ADDRESSES[job]`` by dtype
JOBS = {lif_bptt_forward: (0, fill_forward), lif_bptt_backward: (1, fill_backward)}
