"""The ``neurosim`` command line.

Thin by design: it parses options and calls ``neurosim.commands.<name>.run``; each subcommand's
options are read from that function's signature, where each is declared once (see
:mod:`neurosim.commands`). Bad input
(``ValueError``, ``TypeError``, missing files) prints ``error: ...`` on stderr and exits with
code 2, without a traceback. Set ``NEUROSIM_DEBUG=1`` to see the traceback.

Output folders: every command writes into ``OUT.partial`` beside its ``--out OUT``; only a
successful run replaces ``OUT`` with it (:class:`neurosim._atomic.StagedDir`), so a failing or
interrupted run leaves every byte of an earlier ``OUT`` unchanged. ``--resume`` (train,
distill, continual) continues from the checkpoints in ``OUT.partial`` (an interrupted run),
else from those in ``OUT``; with neither it says so, starts from scratch and records
``"resumed": false``.

Ctrl-C stops any command within about a second: one line on stderr says what was kept and how
to continue, and the exit code is 130 (no traceback).
"""
from __future__ import annotations

import enum
import importlib
import inspect
import json
import os
import signal
import sys
import threading
import typing
from contextlib import contextmanager

import typer

from neurosim import config

OUTPUT_HELP = ("Output folders: a run writes into OUT.partial and replaces OUT only when it succeeds; a failed "
               "or interrupted run leaves OUT unchanged. Ctrl-C exits with code 130 and says what was kept.")

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="neurosim: spiking-network simulation, SNN training, continual learning, reservoirs, TSRSA. " + OUTPUT_HELP,
)

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, KeyError, NotADirectoryError)
#: exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it)
EXIT_INTERRUPTED = 130


@contextmanager
def _redeliver_swallowed_interrupts():
    """While a command runs, a Ctrl-C that Python had to drop is delivered again.

    A ``KeyboardInterrupt`` raised inside a finalizer, ``__del__`` or weakref callback cannot
    propagate: Python prints "Exception ignored" and carries on. This hook (``sys.unraisablehook``)
    recognises it, prints nothing, and sends SIGINT to this process again 20 ms later from a
    timer thread, so the interrupt lands in ordinary code (and repeats if it lands in such a
    place again). Other unraisable exceptions go to the previous hook.
    """
    prev = sys.unraisablehook
    active = [True]

    def again():
        if active[0]:
            os.kill(os.getpid(), signal.SIGINT)

    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            timer = threading.Timer(0.02, again)
            timer.daemon = True
            timer.start()
            return
        prev(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        active[0] = False
        sys.unraisablehook = prev


def _interrupted_line(exc: KeyboardInterrupt, stage, kept_partial: bool) -> str:
    """The one line printed when Ctrl-C stopped a command."""
    if stage is None:
        return "interrupted: nothing written"
    earlier = (f"earlier results in {stage.out} unchanged" if stage.final.exists()
               else f"nothing was written to {stage.out}")
    if kept_partial:
        what = getattr(exc, "kept", None) or "checkpoints"
        return f"interrupted: kept {what} in {stage.path}; run the same command with --resume to continue " \
               f"({earlier})"
    if stage.resumable:
        return f"interrupted before the first checkpoint: nothing kept; {earlier}"
    return f"interrupted: nothing written; {earlier}"


def _call(module: str, func: str = "run", **kwargs):
    """Run ``neurosim.commands.<module>.<func>(**kwargs)`` in a staged output folder.

    User errors -> ``error: ...`` and exit code 2; Ctrl-C -> one line and exit code 130;
    ``out`` is replaced by the run's staging folder only on success.
    """
    stage = None
    try:
        with _redeliver_swallowed_interrupts():
            if kwargs.get("out") is not None:
                from neurosim._atomic import StagedDir

                staged = StagedDir(kwargs["out"], resume=bool(kwargs.get("resume")), resumable="resume" in kwargs)
                if config.RANK != 0:  # torchrun: rank 0 prepares and replaces the folder, the others read it
                    kwargs["out"] = staged.path
                else:
                    stage = staged
                    kwargs["out"] = stage.open()
                if stage.discarded:
                    typer.echo(f"note: starting afresh; the checkpoints of an interrupted run in {stage.path} "
                               "were discarded (use --resume to continue such a run)", err=True)
                if stage.resume and stage.resumable and stage.resume_from is None:
                    typer.echo(f"no checkpoint in {stage.out}: starting from scratch", err=True)
            mod = importlib.import_module(f"neurosim.commands.{module}")
            result = getattr(mod, func)(**kwargs)
            if stage is not None:
                stage.commit()
                result = stage.relocate(result)
    except USER_ERRORS as exc:
        if stage is not None:
            stage.abort()
        if config.DEBUG:
            raise
        msg = str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        if stage is not None and stage.resume_from == "out":  # the file read was a copy of one in OUT: name that
            msg = msg.replace(os.fspath(stage.path), os.fspath(stage.out))
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(code=2)
    except KeyboardInterrupt as exc:
        kept = stage.abort() if stage is not None else False
        if config.RANK == 0:
            typer.echo(_interrupted_line(exc, stage, kept), err=True)
        raise typer.Exit(code=EXIT_INTERRUPTED)
    except BaseException:
        if stage is not None:
            stage.abort()
        raise
    return result


def _print_summary(summary) -> None:
    if isinstance(summary, dict):
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))


# --- the subcommands, built from the commands' run() signatures --------------------------------
#
# Every option is declared once, on the run() parameter it sets (neurosim.commands.Option /
# Argument in its Annotated type; the parameter's default is the option's default). Below, each
# subcommand is made from that signature: the same typer.Option / typer.Argument a hand-written
# function would declare, in the order of run()'s parameters.

#: subcommand -> (module in neurosim.commands, its --help text); the order of ``neurosim --help``
COMMANDS = {
    "simulate": ("simulate", "Simulate a canonical network; writes summary.json, spikes.npz and raster.png."),
    "train": ("train", "Train a model (plain cross-entropy) with checkpoints and metrics.jsonl."),
    "distill": ("distill", """Train an SNN student with an ANN teacher (KD, WSLD, feature KD, blurred KD).

    Defaults = the best measured recipe (experiments/distill/README.md,
    session 5): 5-epoch ANN ConvNet teacher, 1-epoch spiking ConvNet
    student (T = 4), BKD + WSLD, --bkd-alpha 6e-3. All of Fashion-MNIST,
    seed 0: student 89.14-89.34 % (seeds 0-4: 89.28 +- 0.16 %; no KD 88.77 %).
    """),
    "continual": ("continual", "Learn tasks one after another; writes summary.json (acc, bwt, R), R.png and "
                               "checkpoint.pt (after\n    each task and every --checkpoint-every batches; --resume "
                               "continues exactly)."),
    "convert": ("convert", "Convert a trained ANN (model.pt) to a spiking IF network; writes summary.json (ANN and "
                           "SNN accuracy vs T),\n    acc_vs_t.png and the SNN's model.pt."),
    "reservoir": ("reservoir", "Run a reservoir on a task; writes summary.json with the task's scores."),
    "tsrsa": ("tsrsa", "Compare model layers with mouse visual cortex (RSA / TSRSA); writes summary.json and a "
                       "heat map."),
    "bench": ("bench", "Quick self-timing of neurosim kernels (peer comparisons live in benchmarks/)."),
    "demo": ("demo", "Run one short stage per capability and write report.md, figures and summary.json."),
}


def cli_parameters(run) -> list:
    """``(parameter, Option | Argument, type)`` for each parameter of ``run`` that is a CLI option.

    ``type`` is the parameter's annotation without the metadata (what the command line parses).
    """
    from neurosim.commands import Argument, Option

    out = []
    for p in inspect.signature(run, eval_str=True).parameters.values():
        if typing.get_origin(p.annotation) is not typing.Annotated:
            continue
        meta = [m for m in p.annotation.__metadata__ if isinstance(m, (Option, Argument))]
        if len(meta) > 1:
            raise TypeError(f"{run.__module__}.run: parameter {p.name!r} has {len(meta)} CLI declarations")
        if meta:
            out.append((p, meta[0], typing.get_args(p.annotation)[0]))
    return out


def _typer_parameter(p: inspect.Parameter, meta, annotation) -> inspect.Parameter:
    """The parameter of the typer command function that declares ``meta`` for ``p``."""
    from neurosim.commands import Argument

    default = ... if p.default is inspect.Parameter.empty else p.default
    if isinstance(meta, Argument):
        if meta.choices is not None:  # shown as <a|b|c> and checked by click
            annotation = enum.Enum(f"{p.name.title()}Name", {c: c for c in meta.choices}, type=str)
        info = typer.Argument(default, help=meta.help)
    else:
        info = typer.Option(default, *meta.flags, help=meta.help)
    return inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=info, annotation=annotation)


def _command(name: str, module: str, doc: str):
    """The typer command ``neurosim <name>``: parses the options of ``neurosim.commands.<module>.run``
    and calls it through :func:`_call`."""
    run = importlib.import_module(f"neurosim.commands.{module}").run

    def command(**kwargs):
        kwargs = {k: (v.value if isinstance(v, enum.Enum) else v) for k, v in kwargs.items()}
        _print_summary(_call(module, **kwargs))

    command.__signature__ = inspect.Signature([_typer_parameter(*spec) for spec in cli_parameters(run)])
    command.__name__ = command.__qualname__ = name
    command.__doc__ = doc
    return command


for _name, (_module, _doc) in COMMANDS.items():
    app.command(_name)(_command(_name, _module, _doc))


def main(argv=None) -> int:
    """Entry point of the ``neurosim`` console script (``argv=None``: ``sys.argv``).

    Called as the console script (``argv`` None), a command stopped by Ctrl-C ends the process
    right after its message (streams flushed, then ``os._exit(130)``): tearing down torch and
    worker threads takes seconds on a loaded machine, and nothing is left to save (checkpoints
    are written atomically before). Called with a list, it returns the exit code.
    """
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:  # typer/click exit
        code = int(exc.code or 0)
        if code == EXIT_INTERRUPTED and argv is None:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        return code
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
