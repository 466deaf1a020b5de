"""Run the fused LIF kernels on the OpenMP threads of the process (``GOMP_parallel``).

Why: PyTorch's CPU operators run on GNU OpenMP threads which, after each parallel operator,
spin for the next one (libgomp's default spin count: ~8 ms on the 2-core AMD benchmark
machine, where ``pause`` is slow). Our own worker threads (``run_blocks``'s thread pool) woken
inside that window share a core with a spinning OpenMP thread: the forward + backward of the
T32 B64 N2048 benchmark layer took 9-10 ms right after a torch operator against ~6 ms after a
pause. Running the kernel halves as an OpenMP parallel region of the same libgomp (the one
PyTorch loaded) makes the spinning thread do our work, as a native PyTorch operator would.

How: the caller writes the task (kernel, block ranges, the address and shape of every array)
into an int64 descriptor and calls ``GOMP_parallel(body, descriptor, n, 0)`` through ``ctypes``
(which releases the GIL); ``body`` is a Numba ``cfunc`` per kernel and dtype that rebuilds the
arrays from the addresses (``numba.carray``) and runs the same kernel the thread pool would,
on blocks taken one at a time from a shared counter. Team thread 0 is the calling thread; it
waits for the others inside the body, sleeping after a short poll (``usleep``): a team thread
woken after ~10+ ms of idling is often placed on the caller's core, and libgomp's own end
barrier would spin there for its full spin count (a no-op region took 6.9 ms after a 30 ms
pause against 0.19 ms with the sleeping wait). :func:`configure` names the library (``neurosim.snn.fused`` passes PyTorch's
``libgomp``); without one, in a forked child (libgomp's threads do not survive ``fork``) or
with ``NEUROSIM_OMP=0``, :func:`available` is false and ``run_blocks`` keeps its thread pool.

Numba only (numpy + numba + llvmlite + neurosim.config + stdlib).
"""
from __future__ import annotations

import ctypes
import os

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from neurosim.config import NJIT, env_flag

__all__ = ["configure", "available", "run", "KINDS"]

# descriptor layout (int64 slots); the two shared counters on their own 64-byte lines
KIND, TIDFN, NTHFN, NBLOCKS, USLEEP, SPIN = 0, 2, 3, 4, 5, 6
NEXT = 8  # next block to take
DONE = 16  # team threads finished
ARR = 24  # (address, n0, n1) per array
DESC_LEN = ARR + 3 * 12
#: rounds the calling thread polls for the other team threads to finish before it sleeps
#: (``usleep(20)`` per round after that)
WAIT_SPIN = 20000

#: task kinds: ``2 * job + (dtype is float64)``; job 0 LIF forward, 1 LIF backward
KINDS = {("forward", np.dtype(np.float32)): 0, ("forward", np.dtype(np.float64)): 1,
         ("backward", np.dtype(np.float32)): 2, ("backward", np.dtype(np.float64)): 3}

_NJIT = dict(NJIT, error_model="numpy")


# --------------------------------------------------------------------------------------------
# intrinsics: an address as a typed pointer, a call through a function address
@intrinsic
def _ptr(typingctx, addr, like):
    """``addr`` (int64) as a pointer to elements of ``like``'s dtype."""
    sig = types.CPointer(like.dtype)(addr, like)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def _i64ptr(typingctx, p):
    """A ``void *`` as ``int64 *``."""
    sig = types.CPointer(types.int64)(p)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))

    return sig, codegen


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """Atomically ``old = arr[idx]; arr[idx] += val``; returns ``old`` (int64 array)."""
    sig = types.int64(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = builder.gep(ary.data, [args[1]])
        return builder.atomic_rmw("add", ptr, args[2], "seq_cst")

    return sig, codegen


@intrinsic
def _call_int1(typingctx, fn, a):
    """Call ``int f(unsigned)`` at address ``fn`` (``usleep``)."""
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(i32, [i32])
        r = builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [builder.trunc(args[1], i32)])
        return builder.sext(r, ir.IntType(64))

    return sig, codegen


@intrinsic
def _call_int(typingctx, fn):
    """Call ``int f(void)`` at address ``fn`` (``omp_get_thread_num``); the address travels
    as data, so the compiled bodies stay cacheable."""
    sig = types.int64(types.int64)

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.IntType(32), [])
        r = builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [])
        return builder.sext(r, ir.IntType(64))

    return sig, codegen


# --------------------------------------------------------------------------------------------
@numba.njit(**_NJIT)
def _put(d, i, a):
    d[ARR + 3 * i] = a.ctypes.data
    d[ARR + 3 * i + 1] = a.shape[0]
    d[ARR + 3 * i + 2] = a.shape[1] if a.ndim == 2 else 0


@numba.njit(**_NJIT)
def _a1(d, i, like):
    return numba.carray(_ptr(d[ARR + 3 * i], like), (d[ARR + 3 * i + 1],))


@numba.njit(**_NJIT)
def _a2(d, i, like):
    return numba.carray(_ptr(d[ARR + 3 * i], like), (d[ARR + 3 * i + 1], d[ARR + 3 * i + 2]))


@numba.njit(**_NJIT)
def _head(d, kind, fns, nblocks):
    d[KIND] = kind
    d[TIDFN] = fns[0]
    d[NTHFN] = fns[1]
    d[USLEEP] = fns[2]
    d[SPIN] = WAIT_SPIN
    d[NBLOCKS] = nblocks
    d[NEXT] = 0
    d[DONE] = 0


@numba.njit(**_NJIT)
def fill_forward(d, kind, fns, nblocks, x, v0, spikes, v_out, H, P, F, bad, work):
    """Write the descriptor of a :func:`~neurosim.kernels.bptt.lif_bptt_forward` call over
    ``nblocks`` blocks (``work`` ``[threads, size]``: scratch per team thread; ``fns``: addresses of ``omp_get_thread_num``, ``omp_get_num_threads``, ``usleep``)."""
    _head(d, kind, fns, nblocks)
    _put(d, 0, x)
    _put(d, 1, v0)
    _put(d, 2, spikes)
    _put(d, 3, v_out)
    _put(d, 4, H)
    _put(d, 5, P)
    _put(d, 6, F)
    _put(d, 7, work)
    _put(d, 8, bad)


@numba.njit(**_NJIT)
def fill_backward(d, kind, fns, nblocks, x, v0, H, gs, gv_T, gx, gv0, gk_part, P, F, work):
    """As :func:`fill_forward` for :func:`~neurosim.kernels.bptt.lif_bptt_backward`."""
    _head(d, kind, fns, nblocks)
    _put(d, 0, x)
    _put(d, 1, v0)
    _put(d, 2, H)
    _put(d, 3, gs)
    _put(d, 4, gv_T)
    _put(d, 5, gx)
    _put(d, 6, gv0)
    _put(d, 7, gk_part)
    _put(d, 8, P)
    _put(d, 9, F)
    _put(d, 10, work)


# --------------------------------------------------------------------------------------------
_STATE: dict = {}
ENABLED = env_flag("NEUROSIM_OMP", True)


def configure(path: str | None) -> bool:
    """Use the GNU OpenMP library at ``path`` (already loaded by the process, e.g. PyTorch's
    ``libgomp``); ``None`` forgets it. Returns :func:`available`."""
    _STATE.clear()
    if path is None:
        return False
    try:
        lib = ctypes.CDLL(path)
        gomp = lib.GOMP_parallel
        fns = np.array([ctypes.cast(lib.omp_get_thread_num, ctypes.c_void_p).value,
                        ctypes.cast(lib.omp_get_num_threads, ctypes.c_void_p).value,
                        ctypes.cast(ctypes.CDLL(None).usleep, ctypes.c_void_p).value], dtype=np.int64)
    except (OSError, AttributeError):
        return False
    gomp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
    gomp.restype = None
    desc = np.zeros(DESC_LEN, dtype=np.int64)
    _STATE.update(gomp=gomp, fns=fns, desc=desc, addr=desc.ctypes.data, pid=os.getpid(), path=path)
    return available()


def available() -> bool:
    """True when :func:`run` can run kernels (a library configured in this process, not
    disabled with ``NEUROSIM_OMP=0``)."""
    return ENABLED and bool(_STATE) and _STATE["pid"] == os.getpid()


def run(job: str, nblocks: int, nthreads: int, args, work) -> None:
    """Run ``job`` (``"forward"``/``"backward"``: the LIF BPTT kernels, arguments ``args``
    as for them without the scratch and block range) over ``nblocks`` blocks on an OpenMP team
    of ``nthreads`` threads, the calling thread included;
    ``work`` ``[nthreads, size]`` is the scratch, a row per thread. Callers serialise their
    calls (one descriptor)."""
    st = _STATE
    kind = KINDS[(job, args[0].dtype)]
    body = _BODIES[kind]
    if body is None:
        body = _BODIES[kind] = _body(kind)
    (fill_forward if kind < 2 else fill_backward)(st["desc"], kind, st["fns"], nblocks, *args, work)
    st["gomp"](body, st["addr"], nthreads, 0)


_BODIES = [None] * 4


def _body(kind: int) -> int:
    if kind % 2:
        from neurosim.kernels.omp_f64 import ADDRESSES
    else:
        from neurosim.kernels.omp_f32 import ADDRESSES
    return ADDRESSES[kind // 2]
