"""Memory estimates for reservoir allocations that grow with the square of a user size.

A reservoir of ``n`` units holds dense ``[n, n]`` float64 weights (8 n^2 bytes each, 74.5 GiB
for ``n = 100000``), and a ridge or FORCE readout over ``F`` features holds ``[F, F]`` matrices.
Before such an allocation the owner estimates its peak and calls :func:`check_fits`, which
raises a ``ValueError`` saying the estimate, the memory available now and the largest size
that fits, instead of a ``MemoryError`` (or the OOM killer) halfway through.

The estimates are the peak bytes of the numpy arrays the code allocates, counted from the
code as written (each ``[a, b]`` float64 array is ``8 a b`` bytes, a bool mask ``a b``), plus
the copy of a matrix that numpy hands to LAPACK (``solve``, ``eigvals``). The tests compare
every formula with ``tracemalloc``'s peak for small sizes (LAPACK's copy is invisible there).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

__all__ = ["available_memory", "format_bytes", "largest_fitting", "check_fits", "sparse_weights_bytes",
           "ridge_fit_bytes", "MIN_CHECKED_BYTES"]

#: estimates below this many bytes are not checked (reading the free memory costs a file read)
MIN_CHECKED_BYTES = 16 << 20

#: peak bytes per entry of ``sparse_weights``: Bernoulli mask (1) + values + the result (8);
#: values: 8 for a ``dist``, 33 / 41 for ``ResistiveDevice`` magnitudes / differential pairs
#: (program + read: state mask, log-means, sigmas, normals, products)
_VALUES_BYTES = {"dist": 8, "device_magnitudes": 33, "device_signed": 41}


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_left() -> int | None:
    """Bytes left under a cgroup v2 memory limit (``memory.max - memory.current``), if any."""
    base = Path("/sys/fs/cgroup")
    try:
        limit = (base / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(int(limit) - int((base / "memory.current").read_text().strip()), 0)
    except (OSError, ValueError):
        return None


def available_memory() -> tuple[int, str]:
    """``(bytes, source)``: memory this process can allocate now.

    ``psutil.virtual_memory().available`` when psutil is installed, else ``MemAvailable`` of
    ``/proc/meminfo``, else ``os.sysconf("SC_AVPHYS_PAGES")`` pages; lowered to what a cgroup
    v2 memory limit leaves when there is one. ``source`` names where the number came from.
    """
    avail, source = None, ""
    try:
        import psutil

        avail, source = int(psutil.virtual_memory().available), "psutil"
    except ImportError:
        avail = _meminfo_available()
        source = "MemAvailable in /proc/meminfo"
        if avail is None:
            try:
                avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
                source = "os.sysconf SC_AVPHYS_PAGES"
            except (ValueError, OSError, AttributeError):
                avail, source = 1 << 62, "unknown (not checked)"
    left = _cgroup_left()
    if left is not None and left < avail:
        avail, source = left, "cgroup memory.max - memory.current"
    return int(avail), source


def format_bytes(n: float) -> str:
    """``74.5 GiB``, ``512.0 MiB``, ``3.0 KiB``, ``12 B``."""
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):.1f} {unit}"
    return f"{int(n)} B"


def largest_fitting(estimate: Callable[[int], float], budget: float, hi: int) -> int:
    """Largest ``n`` in ``[0, hi]`` with ``estimate(n) <= budget`` (``estimate`` non-decreasing)."""
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(mid) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_fits(what: str, estimate: Callable[[int], float], size: int, *, name: str = "units",
               fix: str = "") -> int:
    """Raise ``ValueError`` when ``estimate(size)`` bytes exceed the available memory.

    ``what`` names the allocation (``"LSM(units=100000) weights"``); ``name`` the size argument
    the message suggests a value for. Returns the estimate (bytes).
    """
    need = int(estimate(size))
    if need < MIN_CHECKED_BYTES:
        return need
    avail, source = available_memory()
    if need <= avail:
        return need
    best = largest_fitting(estimate, avail, size)
    hint = f"the largest {name} that fits is {best}" if best >= 1 else f"no {name} fits"
    raise ValueError(f"{name}={size}: {what} needs about {format_bytes(need)} but only {format_bytes(avail)} "
                     f"is available ({source}); {hint}" + (f"; {fix}" if fix else ""))


def sparse_weights_bytes(n_out: int, n_in: int, values: str = "dist") -> int:
    """Peak bytes of ``sparse_weights(n_out, n_in, ...)`` (``values``: dist, device_magnitudes, device_signed)."""
    return (1 + _VALUES_BYTES[values] + 8) * int(n_out) * int(n_in)


def ridge_fit_bytes(n_samples: int, n_features: int, n_targets: int, *, x_copy: bool = False) -> int:
    """Peak bytes of ``Ridge.fit``: centred X (+ a float64 copy of X when converted), X^T X and
    LAPACK's copy of it, X^T Y and the coefficients."""
    s, f, k = int(n_samples), int(n_features), int(n_targets)
    return 8 * s * f * (2 if x_copy else 1) + 16 * f * f + 16 * f * k + 16 * s * k
