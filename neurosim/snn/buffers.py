"""A cache of freed large CPU buffers, handed out as tensors (used by the fused LIF, BatchNorm2d and Conv2d paths).

The ``[T, B, ...]`` buffers of the fused CPU paths (spikes, stored membranes, input gradient,
BatchNorm and convolution outputs) of at least 1 MiB come from a small cache of freed buffers
(:func:`cached_empty`). Fresh large tensors cost a page fault per 4 KiB page on first touch
(glibc returns freed blocks of this size to the kernel), which on the benchmark machine took
longer than the kernels themselves. A cached buffer goes back to the cache when the last tensor
(or view) using it is freed; at most ``NEUROSIM_BUFFER_CACHE_MB`` (``neurosim.config``, default
256) MiB of free buffers are kept, ``0`` turns the cache off (:func:`set_buffer_cache` changes
it). Tensors from the cache are ordinary CPU tensors except that their storage cannot be resized
(``torch.from_numpy`` memory). Cached buffers start on a 64-byte boundary (NumPy's allocator
gives 16 bytes), so rows of the ``[T, M]`` buffers start on cache lines.
"""
from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict, deque

import numpy as np
import torch

from neurosim.config import BUFFER_CACHE_MB

__all__ = ["BufferCache", "BUFFER_CACHE", "cached_empty", "set_buffer_cache", "buffer_cache_info", "FLOAT_DTYPES", "NP_DTYPES"]

#: the dtypes the Numba CPU paths take (LIF kernels, BatchNorm2d, Conv2d), with their NumPy dtypes
NP_DTYPES = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}
FLOAT_DTYPES = tuple(NP_DTYPES)


class BufferCache:
    """Free large buffers by size, handed out as tensors and taken back when their memory dies.

    Over budget, the sizes used least recently are dropped first (so a change of batch size does
    not leave the cache full of buffers nobody asks for). A free buffer is kept as its
    allocation and the 64-byte aligned byte view handed out (no address arithmetic per call).

    Taking buffers back runs no Python code while the array dies: its weak reference's callback
    is the C method ``deque.append`` (a Python callback, like ``weakref.finalize``, can be where
    a pending Ctrl-C is raised, and an exception there is printed as "Exception ignored" and
    lost). The dead references are collected on the next :meth:`empty` (or :meth:`info`) call."""

    MIN_BYTES = 1 << 20
    ALIGN = 64

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self._free: OrderedDict[int, list] = OrderedDict()  # nbytes -> free (base, view), LRU first
        self._free_bytes = 0
        self.lock = threading.RLock()
        self._lent: dict[int, tuple] = {}  # id(weakref) -> (weakref, buffer) of buffers handed out
        self._dead = deque()  # weakrefs of handed-out arrays that died (appended by C code, any thread)

    @property
    def free(self) -> OrderedDict:
        """Free buffers by size (after taking back the ones whose arrays died)."""
        self._collect()
        return self._free

    @property
    def free_bytes(self) -> int:
        """Bytes held in free buffers (after taking back the ones whose arrays died)."""
        self._collect()
        return self._free_bytes

    def empty(self, shape, dtype: torch.dtype) -> torch.Tensor:
        """An uninitialised tensor of ``shape`` (a tuple) and ``dtype`` (float32/float64): a
        cached buffer of the same size when one is free, a fresh one otherwise;
        ``torch.empty`` below :attr:`MIN_BYTES` or with the cache off."""
        np_dtype = NP_DTYPES[dtype]
        nbytes = math.prod(shape) * np_dtype.itemsize
        if self._dead:
            self._collect()
        if nbytes < self.MIN_BYTES or self.max_bytes <= 0:
            return torch.empty(shape, dtype=dtype)
        buf = None
        with self.lock:
            stack = self._free.get(nbytes)
            if stack is not None:
                self._free.move_to_end(nbytes)
                if stack:
                    buf = stack.pop()
                    self._free_bytes -= nbytes
        if buf is None:  # 64 spare bytes: the buffer starts on a 64-byte line (streaming stores)
            base = np.empty(nbytes + self.ALIGN, dtype=np.uint8)
            off = (-base.ctypes.data) % self.ALIGN
            buf = (base, base[off:off + nbytes])
        arr = buf[1].view(np_dtype).reshape(shape)
        ref = weakref.ref(arr, self._dead.append)
        with self.lock:
            self._lent[id(ref)] = (ref, buf)
        return torch.from_numpy(arr)

    def _collect(self) -> None:
        """Take back the buffers whose arrays died since the last call."""
        with self.lock:
            while self._dead:
                _, buf = self._lent.pop(id(self._dead.popleft()))
                self._give_back(buf)

    def _give_back(self, buf) -> None:
        nbytes = buf[1].nbytes
        if nbytes > self.max_bytes:
            return
        while self._free_bytes + nbytes > self.max_bytes:  # drop least recently used sizes
            size, stack = next(iter(self._free.items()))
            if stack:
                stack.pop()
                self._free_bytes -= size
            else:
                del self._free[size]
        self._free.setdefault(nbytes, []).append(buf)
        self._free.move_to_end(nbytes)
        self._free_bytes += nbytes

    def clear(self) -> None:
        """Drop every free buffer (buffers in use come back as usual)."""
        with self.lock:
            self._collect()
            self._free.clear()
            self._free_bytes = 0

    def info(self) -> dict:
        """``{"max_bytes", "free_bytes", "buffers"}``."""
        with self.lock:
            self._collect()
            return {"max_bytes": self.max_bytes, "free_bytes": self._free_bytes,
                    "buffers": sum(len(v) for v in self._free.values())}


#: the process-wide cache (``NEUROSIM_BUFFER_CACHE_MB``); never rebound, :func:`set_buffer_cache` resizes it
BUFFER_CACHE = BufferCache(BUFFER_CACHE_MB * 2**20)


def cached_empty(shape, dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised float32/float64 CPU tensor from the buffer cache (``torch.empty`` below 1 MiB)."""
    return BUFFER_CACHE.empty(tuple(shape), dtype)


def set_buffer_cache(max_bytes: int) -> None:
    """Keep at most ``max_bytes`` of freed ``[T, ...]`` buffers for reuse (0: no cache); drops
    the buffers cached so far."""
    BUFFER_CACHE.clear()
    BUFFER_CACHE.max_bytes = int(max_bytes)


def buffer_cache_info() -> dict:
    """``{"max_bytes", "free_bytes", "buffers"}`` of the buffer cache."""
    return BUFFER_CACHE.info()
