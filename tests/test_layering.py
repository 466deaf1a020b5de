"""The layering of ``../shared/DESIGN.md``, enforced by import-linter.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``). import-linter (grimp) finds a
package's modules by walking its folder, and the installed layout maps ``kernels/`` to
``neurosim.kernels`` and ``models/`` to ``neurosim.models`` (``[tool.setuptools.package-dir]``),
folders that the source tree's ``neurosim/`` must never contain (they would shadow the mapping).
So the linter runs on a mirror of the installed layout (``neurosim/`` with ``kernels/`` and
``models/`` copied inside); the violation probes add one file to such a mirror.

Lazy imports (inside functions) count: grimp reads every ``import`` statement. Each exception
in the contracts carries its reason in ``pyproject.toml``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"

pytest.importorskip("importlinter", reason="import-linter is a test dependency (pip install -e '.[test]')")


def _lint(root: Path, config: Path) -> subprocess.CompletedProcess:
    """``lint-imports CONFIG`` run in ``root`` with ``root`` first on the path (no cache written)."""
    env = dict(os.environ, PYTHONPATH=str(root), NO_COLOR="1")
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


def _mirror(dest: Path) -> Path:
    """The installed layout under ``dest``: ``neurosim/`` plus ``kernels/`` and ``models/`` inside it."""
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "neurosim", dest / "neurosim", ignore=skip)
    for name in ("kernels", "models"):
        shutil.copytree(ROOT / name, dest / "neurosim" / name, ignore=skip)
    return dest


def test_source_tree_does_not_shadow_the_mapped_packages():
    """``neurosim/kernels`` and ``neurosim/models`` never exist in the source tree: the top-level folders
    are mapped to those names (DESIGN.md), and a folder or link there would shadow the mapping."""
    for name in ("kernels", "models"):
        assert not os.path.lexists(ROOT / "neurosim" / name), ROOT / "neurosim" / name


def test_contracts_hold(tmp_path):
    """``lint-imports`` on the installed layout (a mirror of the source tree)."""
    res = _lint(_mirror(tmp_path), PYPROJECT)
    assert res.returncode == 0, res.stdout[-6000:] + res.stderr[-2000:]
    assert "BROKEN" not in res.stdout and "4 kept, 0 broken" in res.stdout, res.stdout[-3000:]


def test_every_subpackage_has_a_layer():
    """A new subpackage must be placed in the layers contract (else it would be unconstrained)."""
    cfg = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    layers = next(c for c in cfg["contracts"] if c["type"] == "layers")["layers"]
    placed = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    subs = {f"neurosim.{p.name}" for p in (ROOT / "neurosim").iterdir()
            if p.is_dir() and (p / "__init__.py").exists()} | {"neurosim.kernels", "neurosim.models"}
    mods = {f"neurosim.{p.stem}" for p in (ROOT / "neurosim").glob("*.py") if p.stem != "__init__"}
    assert subs | mods <= placed, f"not in the layers contract: {sorted((subs | mods) - placed)}"


@pytest.mark.parametrize("module, source, contract", [
    ("neurosim/sim/_probe.py", "import torch\n", "numpy layer"),                       # lazy or not
    ("neurosim/rsa/_probe.py", "def f():\n    from neurosim.snn import LIF\n", "Imports point down"),
    ("neurosim/kernels/_probe.py", "from neurosim.neurons import LIFParams\n", "Kernels import"),
    ("neurosim/snn/_probe.py", "def f():\n    import neurosim.commands.train\n", "Nothing below the command line"),
    ("neurosim/io/_probe.py", "import neurosim.models\n", "Imports point down"),
])
def test_a_violation_fails_the_linter(tmp_path, module, source, contract):
    """The linter catches each kind of violation, lazy imports included (so the check can fail)."""
    _mirror(tmp_path)
    (tmp_path / module).write_text(source)
    res = _lint(tmp_path, PYPROJECT)
    assert res.returncode != 0
    broken = res.stdout[res.stdout.index("Broken contracts"):]
    assert contract in broken and "_probe" in broken, res.stdout[-3000:]
