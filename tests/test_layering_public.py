"""Experiments, benchmarks and notebooks use the public API only: no ``neurosim.commands``.

``neurosim.commands`` holds the command line's orchestration (``neurosim <command>``); reusable
pieces live in the library layers (DESIGN.md). import-linter (``tests/test_layering.py``) only
sees the package, so this test reads the sources outside it: every ``.py`` and ``.sh`` file and
every code cell of every ``.ipynb`` under ``experiments/``, ``benchmarks/`` and ``notebooks/``.
It flags any import of ``neurosim.commands`` (``import``, ``from ... import``, ``from neurosim
import commands``) and any other mention of the dotted name in code (``importlib.import_module``
strings, ``python -c`` lines). A script that needs a whole command runs the CLI
(``python -m neurosim.cli <command> ...``).
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("experiments", "benchmarks", "notebooks")
_DOTTED = re.compile(r"\bneurosim\s*\.\s*commands\b")


def _code_of(path: Path) -> str:
    """The code in ``path``: a script's text, or a notebook's code cells (shell/magic lines blanked)."""
    if path.suffix != ".ipynb":
        return path.read_text()
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            lines += ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines()] + [""]
    return "\n".join(lines)


def command_imports(code: str, python: bool = True) -> list[str]:
    """Descriptions of every use of ``neurosim.commands`` in ``code`` (empty: none)."""
    found = []
    if python:
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                found += [f"import {a.name}" for a in node.names if _DOTTED.match(a.name)]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if _DOTTED.match(node.module):
                    found.append(f"from {node.module} import ...")
                elif node.module == "neurosim" and any(a.name == "commands" for a in node.names):
                    found.append("from neurosim import commands")
    for n, line in enumerate(code.splitlines(), 1):
        if _DOTTED.search(line):
            found.append(f"line {n}: {line.strip()}")
    return found


def _sources():
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).rglob("*")):
            hidden = any(part.startswith(".") for part in path.relative_to(ROOT).parts)  # .venv-brian2, checkpoints
            if path.suffix in (".py", ".ipynb", ".sh") and not hidden:
                yield path


def test_there_are_sources_to_check():
    kinds = {p.suffix for p in _sources()}
    assert {".py", ".ipynb"} <= kinds
    assert len([p for p in _sources() if p.parts[-2] == "notebooks"]) >= 6


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_command_imports(path):
    uses = command_imports(_code_of(path), python=path.suffix != ".sh")
    assert uses == [], (f"{path.relative_to(ROOT)} uses neurosim.commands ({'; '.join(uses)}): use the library "
                        "(neurosim.models, neurosim.snn, neurosim.continual, neurosim.distill, neurosim.data ...) "
                        "or run the command line (python -m neurosim.cli ...)")


@pytest.mark.parametrize("code", [
    "from neurosim.commands.tsrsa import load_model\n",
    "import neurosim.commands.train as t\n",
    "import neurosim.commands\n",
    "from neurosim import (\n    models,\n    commands,\n)\n",
    "import importlib\nmod = importlib.import_module('neurosim.commands.continual')\n",
    "def f():\n    from neurosim.commands import continual\n",
])
def test_each_form_of_use_is_found(code):
    assert command_imports(code)


def test_public_imports_are_not_flagged():
    code = ("from neurosim.models import load_model\nfrom neurosim.continual.methods import build_method\n"
            "import subprocess, sys\nsubprocess.run([sys.executable, '-m', 'neurosim.cli', 'continual'])\n"
            "commands = ['train']  # a name, not the package\n")
    assert command_imports(code) == []


def test_notebook_code_cells_are_read(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "source": ["neurosim.commands in prose is fine"]},
                    {"cell_type": "code", "source": ["%matplotlib inline\n", "from neurosim.commands import demo\n"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert command_imports(_code_of(path)) == ["from neurosim.commands import ...",
                                               "line 2: from neurosim.commands import demo"]
