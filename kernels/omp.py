"""Run the fused LIF kernels as a parallel region of a GNU OpenMP runtime (``GOMP_parallel``).

Why: PyTorch's CPU operators run on GNU OpenMP threads which, after each parallel operator,
spin for the next one (libgomp's default spin count: ~8 ms on the 2-core AMD benchmark
machine, where ``pause`` is slow). Our own worker threads (the thread pool of
:func:`neurosim.kernels.blocks.run_blocks`) woken inside that window share a core with a
spinning OpenMP thread: the forward + backward of the T32 B64 N2048 benchmark layer took 9-10
ms right after a torch operator against ~6 ms after a pause. Running the kernel halves as an
OpenMP parallel region of the same libgomp (the one PyTorch loaded) makes the spinning thread
do our work, as a native PyTorch operator would.

How: :meth:`Team.run` writes the task (kernel, block count, the address and shape of every
array) into an int64 descriptor (:mod:`neurosim.kernels.omp_desc`) and calls
``GOMP_parallel(body, descriptor, n, 0)`` through ``ctypes`` (which releases the GIL); ``body``
is a Numba ``cfunc`` per kernel and dtype (:mod:`neurosim.kernels.omp_bodies`) that rebuilds
the arrays from the addresses and runs the same kernel the thread pool would, on blocks taken
one at a time from a shared counter. Team thread 0 is the calling thread; it waits for the
others inside the body, sleeping after a short poll (``usleep``): a team thread woken after
~10+ ms of idling is often placed on the caller's core, and libgomp's own end barrier would
spin there for its full spin count (a no-op region took 6.9 ms after a 30 ms pause against 0.19
ms with the sleeping wait).

Nothing here runs at import, and nothing here finds a library by itself: the caller names one
(``neurosim.snn.fused`` names PyTorch's ``libgomp``) and passes the :class:`Team` to
``run_blocks``. A team whose library does not load, or used in a forked child (libgomp's
threads do not survive ``fork``), is not :meth:`~Team.available` and ``run_blocks`` uses its
thread pool.

Numba only (numpy + stdlib + neurosim.kernels).
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from neurosim.kernels.omp_desc import DESC_LEN

__all__ = ["Team"]


class Team:
    """The OpenMP team of the GNU OpenMP library at ``path`` (already loaded by the process,
    e.g. PyTorch's ``libgomp``; ``None``: no library, never available).

    Calls must be serialised (one descriptor per team): ``run_blocks`` holds its lock.
    """

    def __init__(self, path: str | None):
        self.path = path
        self._pid = os.getpid()
        self._gomp = None
        if path is None:
            return
        try:
            lib = ctypes.CDLL(path)
            gomp = lib.GOMP_parallel
            fns = np.array([ctypes.cast(lib.omp_get_thread_num, ctypes.c_void_p).value,
                            ctypes.cast(lib.omp_get_num_threads, ctypes.c_void_p).value,
                            ctypes.cast(ctypes.CDLL(None).usleep, ctypes.c_void_p).value], dtype=np.int64)
        except (OSError, AttributeError):
            return
        gomp.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        gomp.restype = None
        self._gomp, self._fns = gomp, fns
        self._desc = np.zeros(DESC_LEN, dtype=np.int64)
        self._addr = self._desc.ctypes.data

    def __repr__(self) -> str:
        return f"Team({self.path!r}, available={self.available()})"

    def available(self) -> bool:
        """True when :meth:`run` can run kernels (the library loaded, and this is the process
        that loaded it)."""
        return self._gomp is not None and self._pid == os.getpid()

    @staticmethod
    def runs(kernel) -> bool:
        """True when ``kernel`` has a region body (the LIF BPTT kernels)."""
        return kernel in _jobs()

    def run(self, kernel, nblocks: int, nthreads: int, args, work) -> None:
        """Run ``kernel(*args, work_row, b0, b1)`` over ``nblocks`` blocks on a team of
        ``nthreads`` threads, the calling thread included; ``work`` ``[nthreads, size]`` is the
        scratch, a row per thread."""
        job, fill = _jobs()[kernel]
        kind = 2 * job + (args[0].dtype == np.float64)
        body = _BODIES[kind]
        if body is None:
            body = _BODIES[kind] = _body(kind)
        fill(self._desc, kind, self._fns, nblocks, *args, work)
        self._gomp(body, self._addr, nthreads, 0)


#: region body addresses by task kind ``2 * job + (dtype is float64)``, compiled on first use
_BODIES = [None] * 4
_JOBS: dict = {}


def _jobs() -> dict:
    """:data:`neurosim.kernels.omp_bodies.JOBS` (imported on first use: it compiles nothing,
    but pulls in the kernels)."""
    if not _JOBS:
        from neurosim.kernels.omp_bodies import JOBS

        _JOBS.update(JOBS)
    return _JOBS


def _body(kind: int) -> int:
    if kind % 2:
        from neurosim.kernels.omp_f64 import ADDRESSES
    else:
        from neurosim.kernels.omp_f32 import ADDRESSES
    return ADDRESSES[kind // 2]
