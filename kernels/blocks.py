"""Run a block kernel over disjoint ranges of blocks on several threads, each with its own scratch.

A block kernel is a Numba function ``kernel(*args, work, b0, b1)`` that processes blocks
``b0 .. b1-1`` of independent work into caller-allocated outputs, using ``work`` (a 1-d array
of ``args[0].dtype``) as scratch, and releases the GIL (``nogil``): the fused LIF kernels
(:mod:`neurosim.kernels.bptt`) and the BatchNorm kernels (:mod:`neurosim.kernels.batchnorm`).
:func:`run_blocks` calls it

* on the calling thread when one thread is asked for (or there is one block);
* as an OpenMP parallel region of ``team`` (:class:`neurosim.kernels.omp.Team`), when the
  caller passes one that is available and has a region body for the kernel;
* otherwise on neurosim's thread pool (``concurrent.futures``), the calling thread taking the
  first range.

The caller chooses: nothing here depends on what else the process imported
(``neurosim.snn.fused`` passes PyTorch's team, see :class:`neurosim.snn.fused.FusedOptions`).
Scratch is kept per thread between calls (fresh memory costs a page fault per 4 KiB page on
first touch). Calls are serialised by a lock: each already uses every thread, and the scratch
is shared. A forked child (e.g. a DataLoader worker) has none of the parent's pool threads, and
the lock may have been held by one of them: a fork hook gives the child a fresh pool and lock.

Numba only (numpy + numba + stdlib + neurosim.config); no kernel here.
"""
from __future__ import annotations

import os
import threading

import numba
import numpy as np

from neurosim.config import PARALLEL

__all__ = ["run_blocks", "n_workers", "scratch"]

_POOL = None
_SCRATCH: dict = {}
_LOCK = threading.Lock()


def n_workers() -> int:
    """Threads :func:`run_blocks` uses (``numba.get_num_threads()``; 1 with ``NEUROSIM_PARALLEL=0``)."""
    return max(1, numba.get_num_threads() if PARALLEL else 1)


def scratch(worker: int, size: int, dtype) -> np.ndarray:
    """Scratch of at least ``size`` elements for thread ``worker``, kept between calls."""
    key = (worker, np.dtype(dtype).str)
    buf = _SCRATCH.get(key)
    if buf is None or buf.shape[0] < size:
        buf = np.empty(size, dtype=dtype)
        _SCRATCH[key] = buf
    return buf


def _scratch_rows(n: int, size: int, dtype) -> np.ndarray:
    """``[n, >= size]`` scratch, a row per team thread (OpenMP path), kept between calls."""
    key = ("rows", np.dtype(dtype).str)
    buf = _SCRATCH.get(key)
    if buf is None or buf.shape[0] < n or buf.shape[1] < size:
        old = (0, 0) if buf is None else buf.shape
        buf = np.empty((max(n, old[0]), max(size, old[1], 1)), dtype=dtype)
        _SCRATCH[key] = buf
    return buf[:n]  # rows may be longer than size: the kernels take scratch of at least that


def _reset_after_fork() -> None:
    global _POOL, _LOCK
    _POOL = None
    _LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def _pool(threads: int):
    """The thread pool, with at least ``threads`` workers."""
    global _POOL
    if _POOL is None or _POOL._max_workers < threads:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="neurosim-blocks")
    return _POOL


def run_blocks(kernel, nblocks: int, work_size: int, *args, threads: int | None = None, team=None) -> None:
    """Call ``kernel(*args, work, b0, b1)`` on disjoint ranges covering ``nblocks`` blocks.

    Parameters
    ----------
    kernel : Numba function
        A block kernel (see the module docstring).
    nblocks : int
        Number of blocks.
    work_size : int
        Scratch elements (of ``args[0].dtype``) each thread needs.
    threads : int, optional
        At most this many threads (default :func:`n_workers`; never more than ``nblocks``).
    team : neurosim.kernels.omp.Team, optional
        Run as an OpenMP region of this team when it is available and has a body for
        ``kernel``; otherwise the thread pool.
    """
    nw = n_workers()
    threads = min(nw if threads is None else max(1, min(int(threads), nw)), nblocks)
    dtype = args[0].dtype
    with _LOCK:
        if threads == 1:
            kernel(*args, scratch(0, work_size, dtype), 0, nblocks)
            return
        if team is not None and team.available() and team.runs(kernel):
            team.run(kernel, nblocks, threads, args, _scratch_rows(threads, work_size, dtype))
            return
        pool = _pool(threads)
        bounds = [nblocks * i // threads for i in range(threads + 1)]
        futures = [pool.submit(kernel, *args, scratch(i, work_size, dtype), bounds[i], bounds[i + 1])
                   for i in range(1, threads)]
        kernel(*args, scratch(0, work_size, dtype), bounds[0], bounds[1])
        for f in futures:
            f.result()
