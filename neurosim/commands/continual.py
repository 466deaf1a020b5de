"""``neurosim continual``: learn a task sequence with one method; summary.json + R.png.

Methods: ``finetune``, ``ewc``, ``gpm``, ``replay``, ``hlop``, ``hlop+replay`` and the
``multitask`` upper bound (joint training; no BWT), built by
:func:`neurosim.continual.methods.build_method`. Benchmarks: ``pmnist`` (spiking MLP
784-800-800-10, shared head, HLOP sizes [80,200,100] + [70,70,70] per task), ``split_mnist``
and ``split_fmnist`` (784-400-400 with one 2-way head per task). Settings follow
ALGORITHMS.md §2.3–2.4: BPTT with a sigmoid surrogate, T = 6, SGD lr 0.1, batch 64.

Checkpoints: ``out/checkpoint.pt`` (atomic) after every task and every ``checkpoint_every``
batches (multitask: every epoch and every ``checkpoint_every`` batches) holds the whole state
of :func:`neurosim.continual.protocols.run_sequence` (weights, Hebbian subspaces, strategy
state, optimizer, generators, ``R``, position); ``resume=True`` continues it exactly (same
final weights and ``R`` as an uninterrupted run) and refuses a checkpoint of other settings.
"""
from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

from neurosim.commands import (AMP_HELP, CKPT_HELP, DEVICE_HELP, OUT_HELP, RESUME_HELP, Interrupted, Option,
                               StageResult, check_data_dir, ensure_out_dir, resolve_device, write_json)
from neurosim.continual.methods import METHODS, parse_damping  # noqa: F401  (kept importable from here)
from neurosim.continual.methods import build_method as build  # the name tests replace to interrupt a run

__all__ = ["METHODS", "run", "demo_stage", "build"]


def _damping_of(strategy):
    """The residual-damping gammas of an HLOP strategy (also inside Replay), else None."""
    st = getattr(strategy, "base", strategy)
    g = getattr(st, "residual_damping", None)
    return None if g is None else list(g)


def _plot(R, path, title, final=None):
    import matplotlib.pyplot as plt

    from neurosim.plot.accuracy import plot_accuracy_matrix

    if final is None:
        plot_accuracy_matrix(R, path=path, title=title)
        return
    fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
    ax.bar(range(len(final)), [100 * v for v in final])
    ax.set_xlabel("task")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{title}: ACC {100 * sum(final) / len(final):.1f}%", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run(method: Annotated[str, Option("--method", help="finetune, ewc, gpm, replay, hlop or hlop+replay")] = "hlop",
        benchmark: Annotated[str, Option("--benchmark", help="pmnist, split_mnist or split_fmnist")] = "pmnist",
        tasks: Annotated[int, Option("--tasks")] = 10,
        epochs: Annotated[int, Option("--epochs")] = 1,
        seed: Annotated[int, Option("--seed")] = 0,
        data: Annotated[Optional[Path], Option("--data")] = None,
        limit: Annotated[Optional[int], Option("--limit", help="training samples per task")] = None,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/continual"), *,
        resume: Annotated[bool, Option("--resume/--no-resume", help=RESUME_HELP)] = False,
        checkpoint_every: Annotated[int, Option("--checkpoint-every", help=CKPT_HELP)] = 100,
        hlop_consolidation: Annotated[int, Option(
            "--hlop-consolidation", help="HLOP: extra Hebbian pass on this many images per task (0 = literal)")] = 0,
        hlop_damping: Annotated[Optional[str], Option(
            "--hlop-damping", help="HLOP residual damping gamma per protected layer, e.g. 10,0,0 (extension; "
            "one value = every layer)")] = None,
        neuron: Annotated[str, Option(
            "--neuron", help="bptt (LIF + surrogate, T=6) or dsr (HLOP's DSR, T=20)")] = "bptt",
        device: Annotated[str, Option("--device", help=DEVICE_HELP)] = "auto",
        amp: Annotated[str, Option("--amp", help=AMP_HELP)] = "none",
        embedded: bool = False, progress: bool | None = None, hidden=None, timesteps: int | None = None,
        batch_size: int = 64, lr: float = 0.1, quiet: bool = False) -> dict:
    """Run one continual-learning experiment and write ``out/summary.json`` and ``out/R.png``.

    ``limit`` caps the training (and test) samples per task. ``data`` is the folder holding
    ``mnist/`` and ``fashion_mnist/`` (default ``$NEUROSIM_DATA``); ``embedded=True`` uses the
    generated digits of ``neurosim.data.embedded`` (pmnist / split_mnist only). ``neuron``:
    "bptt" (default, T = 6) or "dsr" (T = 20); ``timesteps`` overrides T. ``resume``: continue
    from ``out/checkpoint.pt`` when there is one (``summary["resumed"]`` says whether one was
    found); ``checkpoint_every``: also checkpoint after every this many batches (0: after tasks
    only). Ctrl-C raises :class:`~neurosim.commands.Interrupted` naming the last checkpoint.
    ``device``/``amp``: where and in which precision the model trains
    (:mod:`neurosim.snn.device`); a checkpoint resumes on any device.
    """
    import numpy as np
    import torch

    from neurosim._validation import available_memory, check_choice, check_int
    from neurosim.continual.hlop import NEURONS
    from neurosim.continual.protocols import BENCHMARKS, load_benchmark, run_multitask, run_sequence
    from neurosim.io.checkpoint import load_checkpoint, save_checkpoint

    check_choice("method", method, METHODS)
    check_choice("benchmark", benchmark, BENCHMARKS)
    check_choice("neuron", neuron, NEURONS)
    if timesteps is None:
        timesteps = 20 if neuron == "dsr" else 6
    tasks = check_int("tasks", tasks, min_value=1)
    epochs = check_int("epochs", epochs, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, min_value=0)
    hlop_consolidation = check_int("hlop_consolidation", hlop_consolidation, min_value=0)
    budget = 0.8 * available_memory()  # R (tasks x tasks float64) and one pixel permutation per task
    if 8.0 * tasks * tasks + 8.0 * 784 * tasks > budget:
        fit = int((math.sqrt(784.0 ** 2 + 4.0 * budget / 8.0) - 784.0) / 2.0)
        raise ValueError(f"tasks={tasks}: the tasks x tasks accuracy matrix R and one pixel permutation per task "
                         f"do not fit in the ~{budget / 2 ** 30:.3g} GiB of memory available; use at most ~{fit} tasks")
    check_data_dir(data, "mnist/")
    dev, precision = resolve_device(device, amp)
    out = ensure_out_dir(out)
    ckpt_path = out / "checkpoint.pt"
    state = None
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
    settings = {"method": method, "benchmark": benchmark, "tasks": tasks, "epochs": epochs, "seed": seed,
                "limit": limit, "embedded": embedded, "hidden": None if hidden is None else list(hidden),
                "timesteps": timesteps, "batch_size": batch_size, "lr": lr, "hlop_consolidation": hlop_consolidation,
                "hlop_damping": None if hlop_damping is None else str(hlop_damping), "neuron": neuron}
    if precision.enabled:  # float32 runs keep the settings of older checkpoints
        settings["amp"] = precision.amp
    if state is not None and state.get("settings") != settings:
        old = state.get("settings") or {}
        diff = sorted(k for k in set(settings) | set(old) if old.get(k) != settings.get(k))
        raise ValueError(f"{ckpt_path} was written with other settings ("
                         + ", ".join(f"{k}={old.get(k)!r} there, {settings.get(k)!r} now" for k in diff)
                         + "); resume with the same options or start afresh without --resume")
    log_path = out / "log.txt"
    log_fh = open(log_path, "a" if state is not None else "w")
    saved = {"at": None if state is None else _position(state, tasks)}

    def checkpoint(st):
        save_checkpoint(ckpt_path, {**st, "settings": settings})
        saved["at"] = _position(st, tasks)

    def log(msg):
        log_fh.write(msg + "\n")
        log_fh.flush()
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    t_start = time.perf_counter()
    try:
        torch.manual_seed(seed)  # nothing in neurosim draws from it; guards third-party defaults
        model, strategy = build(method, benchmark, tasks, seed=seed, hidden=hidden, timesteps=timesteps,
                                hlop_consolidation=hlop_consolidation, hlop_damping=hlop_damping, neuron=neuron)
        model.to(dev)
        task_list = load_benchmark(benchmark, tasks, root=data, seed=seed, limit=limit, embedded=embedded)
        log(f"continual: method={method} benchmark={benchmark} tasks={tasks} epochs={epochs} seed={seed} "
            f"limit={limit} torch_threads={torch.get_num_threads()} cpus={os.cpu_count()} device={dev} "
            f"amp={precision.amp}")
        if state is not None:
            log(f"resumed from the {saved['at']}")
        prog = (not quiet and sys.stderr.isatty()) if progress is None else progress
        ck = {"checkpoint": checkpoint, "checkpoint_every": checkpoint_every, "resume_from": state,
              "amp": precision.amp}
        try:
            if strategy is None:
                res = run_multitask(model, task_list, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, log=log,
                                    **ck)
            else:
                res = run_sequence(model, strategy, task_list, epochs=epochs, batch_size=batch_size, lr=lr,
                                   seed=seed, progress=prog, log=log, **ck)
        except KeyboardInterrupt as exc:
            raise Interrupted(saved["at"]) from exc
        if strategy is None:
            summary = {"acc": res["acc"], "bwt": None, "R": [res["final"]], "final": res["final"]}
            _plot(None, out / "R.png", f"{method} / {benchmark}", final=res["final"])
        else:
            R = res["R"]
            summary = {"acc": res["acc"], "bwt": res["bwt"],
                       "R": [[None if math.isnan(v) else float(v) for v in row] for row in R],
                       "task_s": [round(v, 3) for v in res["task_s"]]}
            if hasattr(strategy, "hebbian_s") or hasattr(getattr(strategy, "base", None), "hebbian_s"):
                st = strategy if hasattr(strategy, "hebbian_s") else strategy.base
                summary["hebbian_s"] = round(st.hebbian_s, 3)
            _plot(R, out / "R.png", f"{method} / {benchmark}")
        summary.update({"method": method, "benchmark": benchmark, "tasks": tasks, "epochs": epochs, "seed": seed,
                        "hlop_consolidation": hlop_consolidation,
                        "hlop_damping": _damping_of(strategy), "neuron": neuron, "timesteps": timesteps,
                        "limit": limit, "embedded": embedded, "wall_s": round(time.perf_counter() - t_start, 3),
                        "train_wall_s": round(res["wall_s"], 3), "torch_threads": torch.get_num_threads(),
                        "figure": str(out / "R.png"), "resumed": state is not None,
                        "checkpoint_every": checkpoint_every, "device": str(dev), "amp": precision.amp})
        log(f"ACC {100 * summary['acc']:.2f}%  BWT "
            + ("n/a" if summary["bwt"] is None else f"{100 * summary['bwt']:.2f}%")
            + f"  wall {summary['wall_s']:.1f} s")
        write_json(out / "summary.json", summary)
        if strategy is not None:
            np.save(out / "R.npy", res["R"])
    finally:
        log_fh.close()
    return summary


def _position(state: dict, n_tasks: int) -> str:
    """Where a continual checkpoint stands, in words (for logs and the Ctrl-C message)."""
    if state.get("kind") == "multitask":
        if state["batch"]:
            return f"checkpoint at epoch {state['epoch'] + 1}, batch {state['batch']} of {state['batches']}"
        return f"checkpoint after epoch {state['epoch']}"
    pos = state["position"]
    if pos is None:
        return f"checkpoint after task {state['task']} of {n_tasks}"
    done = pos["epoch"] * pos["batches"] + pos["batch"]
    return f"checkpoint at task {state['task'] + 1} of {n_tasks}, batch {done}"


def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False,
               device: str = "cpu", amp: str = "none") -> StageResult:
    """Permuted digits, fine-tuning vs HLOP on a small spiking MLP (embedded data when no data_dir).

    ``progress``: a tqdm bar per task (stderr); ``device``/``amp``: as in :func:`run`.
    """
    import torch

    from neurosim.continual.baselines import Finetune
    from neurosim.continual.hlop import HLOP, SpikingMLP
    from neurosim.continual.protocols import load_benchmark, run_sequence
    from neurosim.plot.accuracy import plot_accuracy_matrix

    stage_dir = Path(stage_dir)
    n_tasks = 3
    limit, epochs, hidden = (400, 3, 100) if fast else (1500, 3, 200)
    tasks = load_benchmark("pmnist", n_tasks, root=data_dir, seed=seed, limit=limit, embedded=data_dir is None)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100)
    metrics = {}
    for ax, name in zip(axes, ("finetune", "hlop")):
        model = SpikingMLP(784, (hidden, hidden), 10, timesteps=4, lif_backend="torch", rng=seed).to(device)
        st = Finetune() if name == "finetune" else HLOP((40, 20, 15), (30, 10, 10), rng=seed)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small matrices: one thread avoids OpenMP overhead
        try:
            res = run_sequence(model, st, tasks, seed=seed, batch_size=16, lr=0.1, epochs=epochs,
                               progress=progress, amp=amp)
        finally:
            torch.set_num_threads(threads)
        metrics[f"{name}_acc"] = round(res["acc"], 4)
        metrics[f"{name}_bwt"] = round(res["bwt"], 4)
        plot_accuracy_matrix(res["R"], ax=ax, title=name)
    fig.tight_layout()
    path = stage_dir / "continual_R.png"
    fig.savefig(path)
    plt.close(fig)
    src = "embedded generated digits" if data_dir is None else f"MNIST from {data_dir}"
    text = (f"Permuted digits ({src}), {n_tasks} tasks x {limit} samples x {epochs} epochs, spiking MLP "
            f"784-{hidden}-{hidden}-10 (T=4). "
            f"Fine-tuning forgets (BWT {100 * metrics['finetune_bwt']:+.1f}%); HLOP projects weight updates "
            f"orthogonally to Hebbian-learned input subspaces of earlier tasks (BWT "
            f"{100 * metrics['hlop_bwt']:+.1f}%).")
    return StageResult(name="continual", metrics=metrics, figures=[str(path)], text=text)
