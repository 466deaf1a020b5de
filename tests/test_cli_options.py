"""Each command-line option is declared once: the CLI's defaults are the ``run()`` defaults.

``neurosim.cli`` builds every subcommand from ``neurosim.commands.<name>.run``'s signature. These
tests call each subcommand with no options (``_call`` replaced by a recorder) and compare what
``run`` would receive with the defaults in its signature, so a default restated anywhere on the
CLI side (a hand-written ``typer.Option(3, ...)`` for a parameter whose default is 4) fails here.
"""
from __future__ import annotations

import enum
import importlib
import inspect

import pytest
import typer
from typer.testing import CliRunner

from neurosim import cli

#: the arguments without a default, per subcommand (everything else is defaulted)
REQUIRED = {"simulate": ["cuba"], "convert": ["--model", "model.pt"]}


def _click_group():
    return typer.main.get_command(cli.app)


def _received(monkeypatch, app, name):
    """The keyword arguments ``neurosim <name>`` (no options) passes towards ``run``."""
    seen = {}

    def record(module, func="run", **kwargs):
        seen.update(module=module, kwargs=kwargs)
        return None

    monkeypatch.setattr(cli, "_call", record)
    result = CliRunner().invoke(app, [name, *REQUIRED.get(name, [])])
    assert result.exit_code == 0, result.output
    return seen


def _mismatches(run, kwargs, required=()):
    """``[(parameter, CLI value, run() default)]`` where the CLI passes something else."""
    sig = inspect.signature(run).parameters
    bad = []
    for key, value in kwargs.items():
        if key in required:
            continue
        default = sig[key].default
        value = value.value if isinstance(value, enum.Enum) else value
        if value != default or type(value) is not type(default):
            bad.append((key, value, default))
    return bad


def test_every_subcommand_is_built_from_a_command_run():
    names = set(_click_group().commands)
    assert names == set(cli.COMMANDS) == {"simulate", "train", "distill", "continual", "convert", "reservoir",
                                          "tsrsa", "bench", "demo"}


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_cli_defaults_equal_run_defaults(monkeypatch, name):
    module, _ = cli.COMMANDS[name]
    run = importlib.import_module(f"neurosim.commands.{module}").run
    seen = _received(monkeypatch, cli.app, name)
    assert seen["module"] == module
    declared = [p.name for p, _, _ in cli.cli_parameters(run)]
    assert list(seen["kwargs"]) == declared  # every declared option reaches run, in run's order
    required = [p.name for p, _, _ in cli.cli_parameters(run) if p.default is inspect.Parameter.empty]
    assert _mismatches(run, seen["kwargs"], required) == []
    # and the click parameters shown in --help carry the same defaults
    params = {p.name: p for p in _click_group().commands[name].params}
    for p, meta, _ in cli.cli_parameters(run):
        if p.name not in required:
            assert params[p.name].default == p.default, p.name


def test_cli_options_are_declared_once_in_cli_py():
    """cli.py restates no option: no typer.Option/Argument with a literal default of its own."""
    import ast

    tree = ast.parse(inspect.getsource(cli))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr in ("Option", "Argument") and getattr(n.func.value, "id", None) == "typer"]
    assert calls, "the builder declares the typer parameters"
    for call in calls:  # only the generic builder: its default comes from run()'s signature
        assert call.args and isinstance(call.args[0], ast.Name) and call.args[0].id == "default", ast.dump(call)


def test_a_restated_default_is_detected(monkeypatch):
    """The comparison fails when a subcommand declares its own default (here --epochs 3 vs 1)."""
    from neurosim.commands import train

    drifted = typer.Typer()

    @drifted.command("train")
    def _train(epochs: int = typer.Option(3, "--epochs"), seed: int = typer.Option(0, "--seed")):
        cli._call("train", epochs=epochs, seed=seed)

    @drifted.command("other")
    def _other():  # a group needs two commands for "train" to be a subcommand name
        pass

    seen = _received(monkeypatch, drifted, "train")
    assert _mismatches(train.run, seen["kwargs"]) == [("epochs", 3, 1)]


def test_cli_metadata_validates_its_flags():
    from neurosim.commands import Option

    with pytest.raises(ValueError, match="flags"):
        Option("epochs")
    with pytest.raises(ValueError, match="flags"):
        Option()
