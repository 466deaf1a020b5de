"""The layering of ``../shared/DESIGN.md``, enforced by import-linter.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``). import-linter (grimp) finds
a package's modules on disk, and the installed layout maps ``kernels/`` to ``neurosim.kernels``
and ``models/`` to ``neurosim.models`` (``[tool.setuptools.package-dir]``), which a walk of
``neurosim/`` cannot see; so the test lints a mirror of the installed layout (the ``.py`` files
copied into ``neurosim/``, ``neurosim/kernels/``, ``neurosim/models/`` of a temporary folder).

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


def _mirror(dst: Path) -> Path:
    for src, rel in (("neurosim", "neurosim"), ("kernels", "neurosim/kernels"), ("models", "neurosim/models")):
        for p in (ROOT / src).rglob("*.py"):
            if "__pycache__" in p.parts:
                continue
            q = dst / rel / p.relative_to(ROOT / src)
            q.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, q)
    # the contracts only (import-linter reads [tool.importlinter] of the given file)
    text = PYPROJECT.read_text()
    (dst / "contracts.toml").write_text(text[text.index("[tool.importlinter]"):])
    return dst


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root), NO_COLOR="1")
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='contracts.toml', no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    return _mirror(tmp_path_factory.mktemp("layout"))


def test_contracts_hold(mirror):
    res = _lint(mirror)
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
    root = _mirror(tmp_path)
    (root / module).write_text(source)
    res = _lint(root)
    assert res.returncode != 0
    broken = res.stdout[res.stdout.index("Broken contracts"):]
    assert contract in broken and "_probe" in broken, res.stdout[-3000:]
