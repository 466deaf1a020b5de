"""Package-level invariants: layout, lazy torch, Numba flags only from neurosim.config."""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_import_does_not_pull_torch():
    code = ("import sys, neurosim, neurosim.kernels, neurosim.sim, neurosim.rsa, neurosim.neurons;"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_every_declared_package_imports():
    import tomllib

    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    for pkg in cfg["tool"]["setuptools"]["packages"]:
        importlib.import_module(pkg)


def test_every_package_on_disk_is_declared():
    """A non-editable install ships only the declared packages (``neurosim.commands`` was once
    missing: ``pip install .`` then had no CLI)."""
    import tomllib

    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())
    declared = set(cfg["tool"]["setuptools"]["packages"])
    dirs = cfg["tool"]["setuptools"]["package-dir"]
    on_disk = set()
    for pkg, rel in dirs.items():
        root = REPO / rel
        for init in root.rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            sub = init.parent.relative_to(root).parts
            on_disk.add(".".join((pkg, *sub)))
    missing = sorted(on_disk - declared)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_kernels_mapped_not_shadowed():
    import neurosim.kernels

    assert Path(neurosim.kernels.__file__).resolve().parent == (REPO / "kernels").resolve()
    link = REPO / "neurosim" / "kernels"  # the source tree's view of the installed layout (tests/test_layering.py)
    assert not link.exists() or (link.is_symlink() and link.resolve() == (REPO / "kernels").resolve())


def test_no_hard_coded_numba_flags():
    pattern = re.compile(r"(cache|fastmath|parallel)\s*=\s*(True|False)")
    offenders = []
    for path in (REPO / "kernels").rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{path.name}:{i}: {line.strip()}")
    assert not offenders, "use neurosim.config.NJIT / NJIT_PARALLEL instead:\n" + "\n".join(offenders)


def test_lazy_attribute_access():
    import neurosim as ns

    assert ns.config.NJIT["cache"] in (True, False)
    with pytest.raises(AttributeError, match="no attribute"):
        ns.does_not_exist  # noqa: B018


def test_config_env_flag_rejects_garbage(monkeypatch):
    from neurosim.config import env_flag

    monkeypatch.setenv("NEUROSIM_X", "maybe")
    with pytest.raises(ValueError, match="NEUROSIM_X"):
        env_flag("NEUROSIM_X", True)
    monkeypatch.setenv("NEUROSIM_X", "0")
    assert env_flag("NEUROSIM_X", True) is False


def test_environment_is_read_only_in_config():
    """Every environment variable neurosim reads goes through neurosim.config (issue 16)."""
    pattern = re.compile(r"\bos\.(environ|getenv)\b")
    offenders = []
    for top in ("neurosim", "kernels", "models"):
        for path in (REPO / top).rglob("*.py"):
            if path == REPO / "neurosim" / "config.py":
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(REPO)}:{i}: {line.strip()}")
    assert not offenders, "read the variable in neurosim.config:\n" + "\n".join(offenders)


def test_config_call_time_variables(monkeypatch):
    from neurosim import config

    for name in ("NEUROSIM_DATA", "WORLD_SIZE", "LOCAL_RANK", "NEUROSIM_FAST"):
        monkeypatch.delenv(name, raising=False)
    assert (config.data_root(), config.world_size(), config.local_rank(), config.fast_demo()) == (None, 1, 0, False)
    monkeypatch.setenv("NEUROSIM_DATA", "/some/where")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setenv("NEUROSIM_FAST", "1")
    assert (config.data_root(), config.world_size(), config.local_rank(), config.fast_demo()) == (
        "/some/where", 4, 3, True)
    for name, bad in (("WORLD_SIZE", "0"), ("WORLD_SIZE", "two"), ("LOCAL_RANK", "-1")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=f"^environment variable {name}="):
            config.world_size() if name == "WORLD_SIZE" else config.local_rank()
        monkeypatch.setenv(name, "1" if name == "WORLD_SIZE" else "0")


def test_rng_normalisation():
    import numpy as np
    from neurosim._rng import as_generator, spawn

    a = as_generator(3).random(4)
    b = as_generator(np.random.default_rng(3)).random(4)
    assert np.array_equal(a, b)
    with pytest.raises(TypeError, match="rng"):
        as_generator("seed")
    with pytest.raises(ValueError, match="seed"):
        as_generator(-1)
    kids = spawn(0, 3)
    assert len({k.random() for k in kids}) == 3


def test_validation_messages_name_the_argument():
    import numpy as np
    from neurosim import _validation as v

    with pytest.raises(ValueError, match="tau_mem"):
        v.check_positive("tau_mem", 0.0)
    with pytest.raises(TypeError, match="n_neurons"):
        v.check_int("n_neurons", 2.5)
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        v.as_float_array("x", [1.0, np.nan])
    with pytest.raises(ValueError, match="reset"):
        v.check_choice("reset", "soft", ("zero", "subtract", "none"))


def test_lazy_exports_resolve():
    import neurosim.data as d
    import neurosim.io as io

    for mod in (d, io):
        for name in mod.__all__:
            assert callable(getattr(mod, name)), name
