"""Keep Numba's on-disk kernel cache consistent across the modules of one package.

Numba invalidates a cached function only when *its own* source file changes (size or mtime),
not when a function it calls from another file changes, although the callee is compiled into
it: after editing ``bptt_rows.py`` (or a ``git pull`` that changes it but not ``bptt.py``), the
cached ``bptt.py`` kernels would silently keep the old row code. :func:`drop_stale` fingerprints
every ``*.py`` of the package (name, size, mtime) and deletes the package's cached kernels
(``<module>.*.nbi`` / ``.nbc``) when the fingerprint differs from the one stored beside them;
other files in the cache directory are left alone. Called once from ``neurosim.kernels``'s
``__init__`` before any kernel runs (Numba loads cache entries lazily, at the first call).

Numba only (stdlib + numba).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba

__all__ = ["fingerprint", "drop_stale", "cache_dir", "guard", "FINGERPRINT_FILE"]

#: file, in the cache directory, holding the fingerprint the cached kernels were built from
FINGERPRINT_FILE = "neurosim-kernels.fingerprint"


def fingerprint(src_dir: str | os.PathLike) -> str:
    """SHA-256 over ``(name, size, mtime_ns)`` of the ``*.py`` files in ``src_dir``."""
    h = hashlib.sha256()
    for f in sorted(Path(src_dir).glob("*.py")):
        st = f.stat()
        h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def drop_stale(src_dir: str | os.PathLike, cache_dir: str | os.PathLike | None) -> int:
    """Delete the cached kernels of the modules in ``src_dir`` from ``cache_dir`` unless they were
    built from the current sources; returns the number of files deleted. Best effort: an
    unwritable or missing cache directory is left as it is (Numba then recompiles or caches
    elsewhere)."""
    if cache_dir is None:
        return 0
    cache = Path(cache_dir)
    stamp = cache / FINGERPRINT_FILE
    fp = fingerprint(src_dir)
    try:
        if stamp.read_text() == fp:
            return 0
    except OSError:
        pass
    if not cache.is_dir():
        return 0
    modules = {f.stem for f in Path(src_dir).glob("*.py")}
    removed = 0
    try:
        for f in cache.iterdir():
            if f.suffix in (".nbi", ".nbc") and f.name.split(".", 1)[0] in modules:
                try:
                    f.unlink()
                    removed += 1
                except FileNotFoundError:  # another process got there first
                    pass
        tmp = cache / f"{FINGERPRINT_FILE}.{os.getpid()}.tmp"
        tmp.write_text(fp)
        os.replace(tmp, stamp)
    except OSError:
        pass
    return removed


def cache_dir(src_file: str | os.PathLike, njit_kwargs: dict):
    """Where Numba caches the kernels defined in ``src_file``'s directory with ``njit_kwargs``
    (None when caching or the JIT is off): the locator of a probe function that claims to live
    in ``src_file`` (Numba picks one locator per source directory)."""
    if not njit_kwargs.get("cache"):
        return None
    probe = eval(compile("lambda: 0", os.fspath(src_file), "eval"))  # noqa: S307 (a constant lambda)
    disp = numba.njit(**njit_kwargs)(probe)
    return getattr(getattr(disp, "_cache", None), "_cache_path", None)  # NUMBA_DISABLE_JIT: a plain function


def guard(src_file: str | os.PathLike, njit_kwargs: dict) -> int:
    """:func:`drop_stale` for the package of ``src_file`` (its ``__init__.py``), before any kernel runs."""
    return drop_stale(os.path.dirname(os.fspath(src_file)), cache_dir(src_file, njit_kwargs))
