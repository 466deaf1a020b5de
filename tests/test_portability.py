"""Float comparisons with NumPy's functions pass on either of its SIMD paths.

NumPy chooses its ``exp``/``log``/``sin``/``cos`` kernels by CPU feature at run time: on an
AVX-512 CPU ``np.exp`` differs from the C library's ``exp`` (which Numba calls) in the last bit at
~5 % of the points, while on other x86-64 CPUs it matches it. The tests comparing NumPy's
functions with another implementation state ulp/rtol bounds that hold for both; this test runs
them again in a subprocess with NumPy's AVX-512 paths disabled (``NPY_DISABLE_CPU_FEATURES``), so
one machine checks both paths. (On a CPU without AVX-512 there is only the one path.)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AVX512 = "AVX512F AVX512_SKX AVX512_ICL AVX512_CLX AVX512_CNL X86_V4"
TESTS = ["tests/test_vexp.py", "tests/test_kernel_properties.py", "-k", "vexp or surrogate or normal_block"]


def _features() -> dict:
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_features__
    return __cpu_features__


def test_numpy_exp_comparisons_without_avx512():
    if not (_features().get("AVX512_SKX") or _features().get("X86_V4")):
        pytest.skip("NumPy runs without AVX-512 here (no such CPU, or NPY_DISABLE_CPU_FEATURES is set): "
                    "the other path is the one this run checks")
    env = dict(os.environ, NPY_DISABLE_CPU_FEATURES=AVX512)
    probe = ("from numpy._core._multiarray_umath import __cpu_features__ as f; "
             "print(int(f['AVX512_SKX'] or f['X86_V4']))")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "0", out.stdout + out.stderr  # the child really runs without AVX-512
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and " failed" not in run.stdout
