"""The ``neurosim`` command line.

Thin by design: it parses options and calls ``neurosim.commands.<name>.run``. Bad input
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
import json
import os
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import List, Optional

import typer

from neurosim import config
from neurosim.sim.catalog import NETWORKS

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


RESUME_HELP = ("continue the interrupted run in OUT.partial, else the finished run in OUT; with no checkpoint in "
               "either: say so and start from scratch (summary.json records \"resumed\": false)")
OUT_HELP = "output folder (the run writes OUT.partial, which replaces OUT only when the run succeeds)"
REPORT_HELP = "report folder (the demo writes OUT.partial, which replaces OUT only when the demo succeeds)"
CKPT_HELP = "also checkpoint after every this many batches (0: only at the end of each epoch / task)"


#: the canonical networks (``neurosim.sim.NETWORKS``, a light table: the simulator is not loaded)
NetworkName = enum.Enum("NetworkName", {name: name for name in NETWORKS}, type=str)


@app.command()
def simulate(
    network: NetworkName = typer.Argument(..., help="canonical network"),
    neurons: Optional[int] = typer.Option(None, "--neurons", help="number of neurons (default: the published size)"),
    duration_ms: float = typer.Option(1000.0, "--duration-ms", help="simulated time in ms"),
    dt_ms: Optional[float] = typer.Option(None, "--dt-ms", help="time step in ms (default: the network's own)"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("neurosim-out/simulate"), "--out", help=OUT_HELP),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
):
    """Simulate a canonical network; writes summary.json, spikes.npz and raster.png."""
    _print_summary(_call("simulate", network=network.value, neurons=neurons, duration_ms=duration_ms,
                         dt_ms=dt_ms, seed=seed, out=out, progress=progress))


@app.command()
def train(
    dataset: str = typer.Option("fashion_mnist", "--dataset"),
    model: str = typer.Option("spiking_convnet", "--model"),
    epochs: int = typer.Option(1, "--epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr"),
    timesteps: int = typer.Option(4, "--timesteps", "-T"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[Path] = typer.Option(None, "--data", help="data folder (default: $NEUROSIM_DATA)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="use only this many training samples"),
    resume: bool = typer.Option(False, "--resume/--no-resume", help=RESUME_HELP),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help=CKPT_HELP),
    out: Path = typer.Option(Path("neurosim-out/train"), "--out", help=OUT_HELP),
):
    """Train a model (plain cross-entropy) with checkpoints and metrics.jsonl."""
    _print_summary(_call("train", dataset=dataset, model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                         timesteps=timesteps, seed=seed, data=data, limit=limit, resume=resume, out=out,
                         checkpoint_every=checkpoint_every))


@app.command()
def distill(
    dataset: str = typer.Option("fashion_mnist", "--dataset"),
    teacher: str = typer.Option("convnet", "--teacher"),
    student: str = typer.Option("spiking_convnet", "--student"),
    kd: str = typer.Option("bkd+wsld", "--kd", help="none, kd, wsld, feature, bkd or bkd+wsld"),
    epochs: int = typer.Option(1, "--epochs"),
    teacher_epochs: int = typer.Option(5, "--teacher-epochs"),
    batch_size: int = typer.Option(128, "--batch-size"),
    timesteps: int = typer.Option(4, "--timesteps", "-T"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[Path] = typer.Option(None, "--data"),
    limit: Optional[int] = typer.Option(None, "--limit"),
    resume: bool = typer.Option(False, "--resume/--no-resume", help=RESUME_HELP),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help=CKPT_HELP),
    out: Path = typer.Option(Path("neurosim-out/distill"), "--out", help=OUT_HELP),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="student CE label smoothing (BKDSNN: 0.1)"),
    lr_schedule: str = typer.Option("constant", "--lr-schedule", help="student lr: constant or cosine (per step, to 0)"),
    bkd_alpha: float = typer.Option(6e-3, "--bkd-alpha", help="weight of the blurred KD term (BKDSNN alpha_mgd; "
                                                                   "its shipped configs use 2e-3)"),
    bkd_lambda: float = typer.Option(0.15, "--bkd-lambda", help="channel mask ratio of blurred KD (lambda_mgd)"),
    kd_temperature: Optional[float] = typer.Option(None, "--kd-temperature",
                                                   help="logits KD temperature (default 4 for kd, 2 for WSLD)"),
):
    """Train an SNN student with an ANN teacher (KD, WSLD, feature KD, blurred KD).

    Defaults = the best measured recipe (experiments/distill/README.md,
    session 5): 5-epoch ANN ConvNet teacher, 1-epoch spiking ConvNet
    student (T = 4), BKD + WSLD, --bkd-alpha 6e-3. All of Fashion-MNIST,
    seed 0: student 89.14-89.34 % (seeds 0-4: 89.28 +- 0.16 %; no KD 88.77 %).
    """
    _print_summary(_call("distill", dataset=dataset, teacher=teacher, student=student, kd=kd, epochs=epochs,
                         teacher_epochs=teacher_epochs, batch_size=batch_size, timesteps=timesteps, seed=seed,
                         data=data, limit=limit, resume=resume, out=out, label_smoothing=label_smoothing,
                         lr_schedule=lr_schedule, bkd_alpha=bkd_alpha, bkd_lambda=bkd_lambda,
                         kd_temperature=kd_temperature, checkpoint_every=checkpoint_every))


@app.command()
def continual(
    method: str = typer.Option("hlop", "--method", help="finetune, ewc, gpm, replay, hlop or hlop+replay"),
    benchmark: str = typer.Option("pmnist", "--benchmark", help="pmnist, split_mnist or split_fmnist"),
    tasks: int = typer.Option(10, "--tasks"),
    epochs: int = typer.Option(1, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[Path] = typer.Option(None, "--data"),
    limit: Optional[int] = typer.Option(None, "--limit", help="training samples per task"),
    out: Path = typer.Option(Path("neurosim-out/continual"), "--out", help=OUT_HELP),
    resume: bool = typer.Option(False, "--resume/--no-resume", help=RESUME_HELP),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help=CKPT_HELP),
    hlop_consolidation: int = typer.Option(0, "--hlop-consolidation",
                                           help="HLOP: extra Hebbian pass on this many images per task (0 = literal)"),
    hlop_damping: Optional[str] = typer.Option(
        None, "--hlop-damping", help="HLOP residual damping gamma per protected layer, e.g. 10,0,0 (extension; "
        "one value = every layer)"),
    neuron: str = typer.Option("bptt", "--neuron", help="bptt (LIF + surrogate, T=6) or dsr (HLOP's DSR, T=20)"),
):
    """Learn tasks one after another; writes summary.json (acc, bwt, R), R.png and checkpoint.pt (after
    each task and every --checkpoint-every batches; --resume continues exactly)."""
    _print_summary(_call("continual", method=method, benchmark=benchmark, tasks=tasks, epochs=epochs, seed=seed,
                         data=data, limit=limit, out=out, hlop_consolidation=hlop_consolidation,
                         hlop_damping=hlop_damping, neuron=neuron, resume=resume,
                         checkpoint_every=checkpoint_every))


@app.command()
def reservoir(
    kind: str = typer.Option("ei-adaptive", "--kind", help="lsm, ei-adaptive or izhikevich"),
    task: Optional[str] = typer.Option(
        None, "--task", help="task (default: the kind's first) -- ei-adaptive: memory_capacity, narma10, "
        "mackey_glass; lsm: classification, separation; izhikevich: timing, memory_capacity"),
    size: Optional[int] = typer.Option(None, "--size", help="reservoir neurons (default: ei-adaptive 200, lsm 300, "
                                       "izhikevich 200)"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[Path] = typer.Option(None, "--data"),
    out: Path = typer.Option(Path("neurosim-out/reservoir"), "--out", help=OUT_HELP),
):
    """Run a reservoir on a task; writes summary.json with the task's scores."""
    _print_summary(_call("reservoir", kind=kind, task=task, size=size, seed=seed, data=data, out=out))


@app.command()
def tsrsa(
    model: str = typer.Option("lorafb_snet18", "--model", help="model name or checkpoint path"),
    neural: str = typer.Option("allen_2p_scenes", "--neural", help="allen_2p_scenes, allen_dg or an NWB path"),
    layers: Optional[List[str]] = typer.Option(None, "--layers", help="layer names (repeat the option)"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[Path] = typer.Option(None, "--data"),
    out: Path = typer.Option(Path("neurosim-out/tsrsa"), "--out", help=OUT_HELP),
):
    """Compare model layers with mouse visual cortex (RSA / TSRSA); writes summary.json and a heat map."""
    _print_summary(_call("tsrsa", model=model, neural=neural, layers=layers, seed=seed, data=data, out=out))


@app.command()
def bench(
    what: str = typer.Argument("sim", help="sim, lif or rsa"),
    out: Path = typer.Option(Path("neurosim-out/bench"), "--out", help=OUT_HELP),
):
    """Quick self-timing of neurosim kernels (peer comparisons live in benchmarks/)."""
    _print_summary(_call("bench", what=what, out=out))


@app.command()
def demo(
    out: Path = typer.Option(Path("neurosim-demo"), "--out", help=REPORT_HELP),
    data: Optional[Path] = typer.Option(None, "--data", help="real data folder (default: embedded data)"),
    fast: bool = typer.Option(False, "--fast/--full", help="smaller sizes (used by the tests)"),
    seed: int = typer.Option(0, "--seed"),
    quiet: bool = typer.Option(False, "--quiet", help="no stage lines or progress bars on stderr"),
):
    """Run one short stage per capability and write report.md, figures and summary.json."""
    _print_summary(_call("demo", out=out, data=data, fast=fast, seed=seed, quiet=quiet))


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
