"""Cached kernels are rebuilt when a kernel they call from another file changes (kernels/_cache.py).

Reference: Numba's own behaviour, shown by the control run without the guard (a cached caller
keeps the old callee's code), in a throw-away two-module package run in fresh processes.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from neurosim.kernels import _cache

INIT = """
import os
from neurosim.kernels import _cache
if os.environ.get("GUARD") == "1":
    _cache.guard(__file__, {"cache": True})  # what neurosim.kernels' __init__ does
"""
CALLEE = "import numba\n\n@numba.njit(cache=True)\ndef f():\n    return {}\n"
CALLER = "import numba\nfrom pkgk.callee import f\n\n@numba.njit(cache=True)\ndef g():\n    return f()\n"


def _make(root, value):
    pkg = root / "pkgk"
    pkg.mkdir(exist_ok=True)
    (pkg / "__init__.py").write_text(INIT)
    (pkg / "caller.py").write_text(CALLER)
    callee = pkg / "callee.py"
    callee.write_text(CALLEE.format(value))
    st = callee.stat()  # same size for 1 and 2: move the mtime on so the change is visible
    os.utime(callee, ns=(st.st_atime_ns, st.st_mtime_ns + value * 10**9))


def _run(root, guard):
    env = dict(os.environ, GUARD="1" if guard else "0", PYTHONPATH=str(root), NUMBA_CACHE_DIR=str(root / "cache"))
    out = subprocess.run([sys.executable, "-c", "import pkgk.caller as c; print(c.g())"], env=env,
                         capture_output=True, text=True, check=True, cwd=root)
    return int(out.stdout.strip())


@pytest.mark.parametrize("guard", [False, True], ids=["numba-alone", "with-guard"])
def test_changed_callee_reaches_cached_caller(tmp_path, guard):
    _make(tmp_path, 1)
    assert _run(tmp_path, guard) == 1  # compiles and caches g with f = 1
    _make(tmp_path, 2)
    got = _run(tmp_path, guard)
    # Numba alone serves the stale cached caller; the guard drops it and g sees the new f
    assert got == (2 if guard else 1)


def test_drop_stale_removes_only_this_package_and_only_once(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "mod.py").write_text("x = 1\n")
    cache = tmp_path / "cache"
    cache.mkdir()
    mine = [cache / "mod.k-1.py311.nbi", cache / "mod.k-1.py311.1.nbc"]
    other = [cache / "othermod.k-1.py311.nbi", cache / "mod.cpython-311.pyc"]
    for f in mine + other:
        f.write_text("")
    assert _cache.drop_stale(src, cache) == 2  # no fingerprint yet: stale
    assert not any(f.exists() for f in mine) and all(f.exists() for f in other)
    assert (cache / _cache.FINGERPRINT_FILE).read_text() == _cache.fingerprint(src)
    mine[0].write_text("")  # built from the current sources: kept
    assert _cache.drop_stale(src, cache) == 0 and mine[0].exists()
    assert _cache.drop_stale(src, tmp_path / "missing") == 0
    assert _cache.drop_stale(src, None) == 0
