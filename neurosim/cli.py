"""The ``neurosim`` command line.

Thin by design: it parses options and calls ``neurosim.commands.<name>.run``. Bad input
(``ValueError``, ``TypeError``, missing files) prints ``error: ...`` on stderr and exits with
code 2, without a traceback. Set ``NEUROSIM_DEBUG=1`` to see the traceback.
"""
from __future__ import annotations

import enum
import importlib
import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="neurosim: spiking-network simulation, SNN training, continual learning, reservoirs, TSRSA.",
)

USER_ERRORS = (ValueError, TypeError, FileNotFoundError, KeyError, NotADirectoryError)


def _call(module: str, func: str = "run", **kwargs):
    """Run ``neurosim.commands.<module>.<func>(**kwargs)``; user errors -> exit code 2."""
    try:
        mod = importlib.import_module(f"neurosim.commands.{module}")
        result = getattr(mod, func)(**kwargs)
    except USER_ERRORS as exc:
        if os.environ.get("NEUROSIM_DEBUG"):
            raise
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(code=2)
    return result


def _print_summary(summary) -> None:
    if isinstance(summary, dict):
        typer.echo(json.dumps(summary, indent=2, sort_keys=True, default=str))


class NetworkName(str, enum.Enum):
    izhikevich2003 = "izhikevich2003"
    cuba = "cuba"
    brunel = "brunel"


@app.command()
def simulate(
    network: NetworkName = typer.Argument(..., help="canonical network"),
    neurons: Optional[int] = typer.Option(None, "--neurons", help="number of neurons (default: the published size)"),
    duration_ms: float = typer.Option(1000.0, "--duration-ms", help="simulated time in ms"),
    dt_ms: Optional[float] = typer.Option(None, "--dt-ms", help="time step in ms (default: the network's own)"),
    seed: int = typer.Option(0, "--seed"),
    out: Path = typer.Option(Path("neurosim-out/simulate"), "--out", help="output folder"),
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
    resume: bool = typer.Option(False, "--resume/--no-resume"),
    out: Path = typer.Option(Path("neurosim-out/train"), "--out"),
):
    """Train a model (plain cross-entropy) with checkpoints and metrics.jsonl."""
    _print_summary(_call("train", dataset=dataset, model=model, epochs=epochs, batch_size=batch_size, lr=lr,
                         timesteps=timesteps, seed=seed, data=data, limit=limit, resume=resume, out=out))


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
    resume: bool = typer.Option(False, "--resume/--no-resume"),
    out: Path = typer.Option(Path("neurosim-out/distill"), "--out"),
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
    seed 0: student 89.34 % (seeds 0-4: 89.28 +- 0.16 %; no KD 88.77 %).
    """
    _print_summary(_call("distill", dataset=dataset, teacher=teacher, student=student, kd=kd, epochs=epochs,
                         teacher_epochs=teacher_epochs, batch_size=batch_size, timesteps=timesteps, seed=seed,
                         data=data, limit=limit, resume=resume, out=out, label_smoothing=label_smoothing,
                         lr_schedule=lr_schedule, bkd_alpha=bkd_alpha, bkd_lambda=bkd_lambda,
                         kd_temperature=kd_temperature))


@app.command()
def continual(
    method: str = typer.Option("hlop", "--method", help="finetune, ewc, gpm, replay, hlop or hlop+replay"),
    benchmark: str = typer.Option("pmnist", "--benchmark", help="pmnist, split_mnist or split_fmnist"),
    tasks: int = typer.Option(10, "--tasks"),
    epochs: int = typer.Option(1, "--epochs"),
    seed: int = typer.Option(0, "--seed"),
    data: Optional[Path] = typer.Option(None, "--data"),
    limit: Optional[int] = typer.Option(None, "--limit", help="training samples per task"),
    out: Path = typer.Option(Path("neurosim-out/continual"), "--out"),
    hlop_consolidation: int = typer.Option(0, "--hlop-consolidation",
                                           help="HLOP: extra Hebbian pass on this many images per task (0 = literal)"),
    hlop_damping: Optional[str] = typer.Option(
        None, "--hlop-damping", help="HLOP residual damping gamma per protected layer, e.g. 10,0,0 (extension; "
        "one value = every layer)"),
    neuron: str = typer.Option("bptt", "--neuron", help="bptt (LIF + surrogate, T=6) or dsr (HLOP's DSR, T=20)"),
):
    """Learn tasks one after another; writes summary.json (acc, bwt, R) and R.png."""
    _print_summary(_call("continual", method=method, benchmark=benchmark, tasks=tasks, epochs=epochs, seed=seed,
                         data=data, limit=limit, out=out, hlop_consolidation=hlop_consolidation,
                         hlop_damping=hlop_damping, neuron=neuron))


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
    out: Path = typer.Option(Path("neurosim-out/reservoir"), "--out"),
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
    out: Path = typer.Option(Path("neurosim-out/tsrsa"), "--out"),
):
    """Compare model layers with mouse visual cortex (RSA / TSRSA); writes summary.json and a heat map."""
    _print_summary(_call("tsrsa", model=model, neural=neural, layers=layers, seed=seed, data=data, out=out))


@app.command()
def bench(
    what: str = typer.Argument("sim", help="sim, lif or rsa"),
    out: Path = typer.Option(Path("neurosim-out/bench"), "--out"),
):
    """Quick self-timing of neurosim kernels (peer comparisons live in benchmarks/)."""
    _print_summary(_call("bench", what=what, out=out))


@app.command()
def demo(
    out: Path = typer.Option(Path("neurosim-demo"), "--out", help="report folder"),
    data: Optional[Path] = typer.Option(None, "--data", help="real data folder (default: embedded data)"),
    fast: bool = typer.Option(False, "--fast/--full", help="smaller sizes (used by the tests)"),
    seed: int = typer.Option(0, "--seed"),
    quiet: bool = typer.Option(False, "--quiet", help="no stage lines or progress bars on stderr"),
):
    """Run one short stage per capability and write report.md, figures and summary.json."""
    _print_summary(_call("demo", out=out, data=data, fast=fast, seed=seed, quiet=quiet))


def main(argv=None) -> int:
    """Entry point of the ``neurosim`` console script."""
    try:
        app(args=argv, standalone_mode=True)
    except SystemExit as exc:  # typer/click exit
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
