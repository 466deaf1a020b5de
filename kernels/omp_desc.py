"""The task descriptor of an OpenMP region (:mod:`neurosim.kernels.omp`) and the intrinsics that read it.

The caller writes one task into an int64 descriptor: a header (task kind, addresses of
``omp_get_thread_num``, ``omp_get_num_threads`` and ``usleep``, the block count, the wait's
spin count), two shared counters on their own 64-byte lines (next block to take, team threads
finished), then ``(address, n0, n1)`` per array argument. The region body
(:mod:`neurosim.kernels.omp_bodies`) rebuilds the arrays from the addresses
(``numba.carray``); addresses of C functions travel as data, so the compiled bodies stay
cacheable.

Numba only (numpy + numba + llvmlite + neurosim.config).
"""
from __future__ import annotations

import numba
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from neurosim.config import NJIT

__all__ = ["KIND", "TIDFN", "NTHFN", "NBLOCKS", "USLEEP", "SPIN", "NEXT", "DONE", "ARR", "DESC_LEN", "WAIT_SPIN",
           "fetch_add", "put", "head", "array1", "array2", "i64ptr", "call_int", "call_int1"]

# descriptor layout (int64 slots); the two shared counters on their own 64-byte lines
KIND, TIDFN, NTHFN, NBLOCKS, USLEEP, SPIN = 0, 2, 3, 4, 5, 6
NEXT = 8  # next block to take
DONE = 16  # team threads finished
ARR = 24  # (address, n0, n1) per array
DESC_LEN = ARR + 3 * 12
#: rounds the calling thread polls for the other team threads to finish before it sleeps
#: (``usleep(20)`` per round after that)
WAIT_SPIN = 20000

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
def i64ptr(typingctx, p):
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
def call_int1(typingctx, fn, a):
    """Call ``int f(unsigned)`` at address ``fn`` (``usleep``)."""
    sig = types.int64(types.int64, types.int64)

    def codegen(context, builder, signature, args):
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(i32, [i32])
        r = builder.call(builder.inttoptr(args[0], fnty.as_pointer()), [builder.trunc(args[1], i32)])
        return builder.sext(r, ir.IntType(64))

    return sig, codegen


@intrinsic
def call_int(typingctx, fn):
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
def put(d, i, a):
    """Array argument ``i`` of the task: ``a``'s address and shape (1-d or 2-d)."""
    d[ARR + 3 * i] = a.ctypes.data
    d[ARR + 3 * i + 1] = a.shape[0]
    d[ARR + 3 * i + 2] = a.shape[1] if a.ndim == 2 else 0


@numba.njit(**_NJIT)
def array1(d, i, like):
    """Array argument ``i`` as a 1-d array of ``like``'s dtype."""
    return numba.carray(_ptr(d[ARR + 3 * i], like), (d[ARR + 3 * i + 1],))


@numba.njit(**_NJIT)
def array2(d, i, like):
    """Array argument ``i`` as a 2-d array of ``like``'s dtype."""
    return numba.carray(_ptr(d[ARR + 3 * i], like), (d[ARR + 3 * i + 1], d[ARR + 3 * i + 2]))


@numba.njit(**_NJIT)
def head(d, kind, fns, nblocks):
    """The header of a task over ``nblocks`` blocks (``fns``: addresses of ``omp_get_thread_num``,
    ``omp_get_num_threads``, ``usleep``); both counters start at 0."""
    d[KIND] = kind
    d[TIDFN] = fns[0]
    d[NTHFN] = fns[1]
    d[USLEEP] = fns[2]
    d[SPIN] = WAIT_SPIN
    d[NBLOCKS] = nblocks
    d[NEXT] = 0
    d[DONE] = 0
