"""Numba compilation flags and the other environment settings, read once from the environment.

Kernels never hard-code ``cache=``, ``fastmath=`` or ``parallel=``; they use the
keyword dictionaries defined here (a test greps ``kernels/`` for hard-coded flags).

Environment variables (read at import time):

``NEUROSIM_NUMBA_CACHE``   ``1`` (default) caches compiled kernels on disk.
``NEUROSIM_FASTMATH``      ``0`` (default); ``1`` allows reassociation (results may
                           differ in the last bits from the NumPy references).
``NEUROSIM_PARALLEL``      ``1`` (default) lets kernels use ``prange`` threads.
``NEUROSIM_OMP``           ``1`` (default): the fused LIF kernels run their multi-threaded calls
                           on PyTorch's OpenMP threads when PyTorch uses GNU OpenMP; ``0``:
                           on neurosim's thread pool (the default of
                           ``neurosim.snn.fused.FusedOptions.torch_threads``).
``NEUROSIM_BUFFER_CACHE_MB`` MiB of freed large tensors kept for reuse by the fused CPU paths
                           (default 256; ``0`` turns the cache off; ``neurosim.snn.buffers``).
``NUMBA_DISABLE_JIT``      honoured by Numba itself; the whole test suite passes with it.
``NEUROSIM_DEBUG``         ``0`` (default); ``1`` lets the command line show tracebacks of user
                           errors instead of ``error: ...`` lines.
``RANK``, ``WORLD_SIZE``   set by ``torchrun``: the process's rank (0 unless ``WORLD_SIZE`` > 1);
                           only rank 0 prepares and replaces output folders.

Read at each call (a notebook or a test may set them after import), through the functions below:

``NEUROSIM_DATA``          the data folder (:func:`data_root`) when no ``--data`` / ``root`` is given.
``WORLD_SIZE``, ``LOCAL_RANK`` torchrun's process group (:func:`world_size`, :func:`local_rank`).
``NEUROSIM_FAST``          ``1``: the demo's reservoir stage runs its fast sizes (:func:`fast_demo`).
"""
from __future__ import annotations

import os

__all__ = ["CACHE", "FASTMATH", "PARALLEL", "OMP", "BUFFER_CACHE_MB", "DEBUG", "RANK", "NJIT", "NJIT_PARALLEL",
           "env_flag", "env_float", "data_root", "world_size", "local_rank", "fast_demo", "child_env"]


def env_flag(name: str, default: bool) -> bool:
    """Read a boolean flag from the environment (``1/0/true/false/yes/no``)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"environment variable {name}={raw!r} must be one of 1/0/true/false/yes/no")


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    """Read a number (at least ``minimum``) from the environment."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= minimum or value == float("inf"):
        raise ValueError(f"environment variable {name}={raw!r} must be a finite number >= {minimum:g}")
    return value


def _env_int(name: str, default: int, minimum: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValueError(f"environment variable {name}={raw!r} must be an integer >= {minimum}")
    return value


def world_size() -> int:
    """``$WORLD_SIZE`` set by torchrun (1 when unset), read now."""
    return _env_int("WORLD_SIZE", 1, 1)


def local_rank() -> int:
    """``$LOCAL_RANK`` set by torchrun (0 when unset), read now."""
    return _env_int("LOCAL_RANK", 0, 0)


CACHE: bool = env_flag("NEUROSIM_NUMBA_CACHE", True)
FASTMATH: bool = env_flag("NEUROSIM_FASTMATH", False)
PARALLEL: bool = env_flag("NEUROSIM_PARALLEL", True)
OMP: bool = env_flag("NEUROSIM_OMP", True)
BUFFER_CACHE_MB: float = env_float("NEUROSIM_BUFFER_CACHE_MB", 256.0)
DEBUG: bool = env_flag("NEUROSIM_DEBUG", False)
RANK: int = _env_int("RANK", 0, 0) if world_size() > 1 else 0

#: keyword arguments for serial kernels: ``@numba.njit(**NJIT)``
NJIT: dict = {"cache": CACHE, "fastmath": FASTMATH, "nogil": True}
#: keyword arguments for kernels that use ``numba.prange``
NJIT_PARALLEL: dict = {"cache": CACHE, "fastmath": FASTMATH, "nogil": True, "parallel": PARALLEL}


def child_env(paths) -> dict:
    """The environment for a child Python process: this one's, with ``paths`` (this process's
    ``sys.path``, say) put in front of ``PYTHONPATH``, so that the child imports the same packages."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([p for p in paths if p] + [env.get("PYTHONPATH", "")])
    return env


def data_root() -> str | None:
    """``$NEUROSIM_DATA`` (None when unset or empty), read now."""
    return os.environ.get("NEUROSIM_DATA") or None


def fast_demo() -> bool:
    """``$NEUROSIM_FAST`` is ``1``, read now."""
    return os.environ.get("NEUROSIM_FAST") == "1"
