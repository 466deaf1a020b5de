"""Argument checks that raise ``ValueError``/``TypeError`` naming the argument and the fix.

Every public entry point validates here, before data reaches a Numba kernel, so users never
see a crash deep inside compiled code, a silent clamp or a NaN.
"""
from __future__ import annotations

import math
import numbers
import os
from typing import Iterable

import numpy as np

__all__ = [
    "check_number", "check_positive", "check_nonnegative", "check_int", "check_probability",
    "check_choice", "check_finite", "as_float_array", "check_shape", "check_same_length",
    "available_memory", "check_memory", "check_dtype",
]


def check_number(name: str, value, *, allow_nan: bool = False) -> float:
    """Return ``value`` as float; ``TypeError`` if not a real number, ``ValueError`` if NaN/inf."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not allow_nan and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def check_positive(name: str, value, *, unit: str = "") -> float:
    """A finite number > 0."""
    v = check_number(name, value)
    if v <= 0:
        u = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be > 0{u}, got {value}")
    return v


def check_nonnegative(name: str, value, *, unit: str = "") -> float:
    """A finite number >= 0."""
    v = check_number(name, value)
    if v < 0:
        u = f" {unit}" if unit else ""
        raise ValueError(f"{name} must be >= 0{u}, got {value}")
    return v


def check_int(name: str, value, *, min_value: int | None = None, max_value: int | None = None) -> int:
    """An integer (not bool) within optional bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} ({value!r})")
    v = int(value)
    if min_value is not None and v < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {v}")
    if max_value is not None and v > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {v}")
    return v


def check_probability(name: str, value, *, open_low: bool = False, open_high: bool = False) -> float:
    """A number in [0, 1] (optionally open at either end)."""
    v = check_number(name, value)
    lo_ok = v > 0 if open_low else v >= 0
    hi_ok = v < 1 if open_high else v <= 1
    if not (lo_ok and hi_ok):
        lo = "(" if open_low else "["
        hi = ")" if open_high else "]"
        raise ValueError(f"{name} must lie in {lo}0, 1{hi}, got {value}")
    return v


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    """One of a fixed set of strings; the error lists the valid ones."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_finite(name: str, arr) -> np.ndarray:
    """Raise if an array holds NaN or inf (returns the array unchanged)."""
    a = np.asarray(arr)
    if a.dtype.kind in "fc" and a.size and not np.all(np.isfinite(a)):
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        raise ValueError(f"{name} contains {bad} NaN/inf value(s); clean or impute them first")
    return a


def as_float_array(name: str, arr, *, dtype=None, ndim: int | tuple[int, ...] | None = None,
                   finite: bool = True) -> np.ndarray:
    """Convert to a C-contiguous float array (float64 unless ``dtype`` or the input is float32)."""
    try:
        a = np.asarray(arr)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise TypeError(f"{name} must be array-like, got {type(arr).__name__}") from exc
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be numeric, got dtype {a.dtype}")
    if dtype is None:
        dtype = np.float32 if a.dtype == np.float32 else np.float64
    a = np.ascontiguousarray(a, dtype=dtype)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if a.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), got shape {a.shape}")
    if finite:
        check_finite(name, a)
    return a


def check_shape(name: str, arr, shape: tuple) -> np.ndarray:
    """Check ``arr.shape`` against ``shape`` (``None`` entries match anything)."""
    a = np.asarray(arr)
    if a.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, a.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")
    return a


def check_same_length(**arrays) -> int:
    """All keyword arrays must have the same first dimension; returns it."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise ValueError(f"arrays must have the same length, got {desc}")
    return next(iter(lengths.values())) if lengths else 0


def available_memory() -> int:
    """Bytes this process can still allocate: ``MemAvailable`` (Linux; else physical memory),
    capped by the address-space limit (``RLIMIT_AS``) minus what the process already maps."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return 2 ** 62
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            used = 0
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmSize:"):
                        used = int(line.split()[1]) * 1024
                        break
            avail = min(avail, max(0, soft - used))
    except (ImportError, OSError, ValueError):
        pass
    return int(avail)


def _human(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1024 or unit == "PB":
            return f"{nbytes:.3g} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    return f"{nbytes:.3g} EB"  # pragma: no cover


def check_memory(name: str, count, bytes_per_item: float, what: str, *, fraction: float = 0.8) -> None:
    """Refuse (``ValueError`` naming ``name``) an allocation of ``count * bytes_per_item`` bytes that
    cannot fit in ``fraction`` of :func:`available_memory`; the message says how many items fit.

    Called before allocating, so a user asking for a huge size gets a clear error instead of a
    ``MemoryError`` (or a machine swapping to death).
    """
    need = float(count) * float(bytes_per_item)
    budget = fraction * available_memory()
    if need > budget:
        fit = int(budget // max(float(bytes_per_item), 1e-300))
        raise ValueError(f"{name}: {what} needs {_human(need)} ({count:.4g} x {bytes_per_item:.3g} B) but about "
                         f"{_human(budget)} of memory is available; use a smaller size (at most ~{fit:.3g} here)")


def check_dtype(name: str, dtype, allowed=(np.float32, np.float64)) -> np.dtype:
    """A NumPy dtype among ``allowed`` (``TypeError``/``ValueError`` naming ``name`` otherwise)."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be one of {', '.join(np.dtype(a).name for a in allowed)}, got {dtype!r}") from exc
    if dt not in tuple(np.dtype(a) for a in allowed):
        raise ValueError(f"{name} must be one of {', '.join(np.dtype(a).name for a in allowed)}, got {dt}")
    return dt
