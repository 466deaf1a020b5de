"""``neurosim demo``: one short stage per capability, a report folder at the end.

Each capability contributes ``demo_stage(stage_dir, *, data_dir, fast, seed, progress)`` in its
command module; a stage whose module is not part of this build yet is listed as skipped in the
report (never silently).

Order of work: every input is validated first -- the options and, with ``--data``, every file
a stage will read (:data:`DATA_INPUTS`, loaded once with the stages' own loaders) -- so a bad
input fails before any stage has written anything. Then the stages run, each into its own
sub-folder of ``out``, and ``summary.json`` and ``report.md`` are written last. Nothing is
read back from ``out`` and every link in ``report.md`` is relative to ``report.md``: the
folder can be written under a temporary name and renamed, moved or copied afterwards.

``--device`` and ``--amp`` reach the stages that run torch models (training, distillation,
continual, TSRSA: every ``demo_stage`` with a ``device`` parameter); the others run on the CPU.

Messages go to stderr: one line when a stage starts and one when it ends (``[2/7] training
...``), and tqdm progress bars inside the long stages when stderr is a terminal; ``quiet``
turns all of them off.
"""
from __future__ import annotations

import importlib
import inspect
import os
import platform
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

from neurosim._validation import check_int

from . import AMP_HELP, DEVICE_HELP, REPORT_HELP, Option, StageResult, check_data_dir, ensure_out_dir, write_json

#: (stage name, command module providing ``demo_stage``) in the order they run
STAGES = (
    ("simulation", "simulate"),
    ("training", "train"),
    ("distillation", "distill"),
    ("conversion", "convert"),
    ("continual", "continual"),
    ("reservoir", "reservoir"),
    ("tsrsa", "tsrsa"),
)

#: one line per stage for the progress messages
DESCRIPTIONS = {
    "simulation": "spiking network simulation (Izhikevich 2003, CUBA)",
    "training": "surrogate-gradient training of a spiking network",
    "distillation": "ANN-to-SNN knowledge distillation",
    "conversion": "ANN-to-SNN conversion (rate-coded integrate-and-fire)",
    "continual": "continual learning, fine-tuning vs HLOP",
    "reservoir": "reservoir computing (E/I rate reservoir, liquid-state machine)",
    "tsrsa": "TSRSA of a spiking ConvNet against cortical responses",
}

#: what each stage reads from ``--data`` (its demo_stage with ``data_dir`` given):
#: ("mnist" | "fashion_mnist", split) through ``neurosim.data.mnist.load_mnist``, and
#: "allen_2p_scenes" through ``neurosim.data.allen.load_allen_2p_scenes`` when the folder
#: ``allen_natural_scenes_visp_2p`` exists (the TSRSA stage falls back to synthetic responses)
DATA_INPUTS = {
    "simulation": (),
    "training": (("fashion_mnist", "train"), ("fashion_mnist", "test")),
    "distillation": (("fashion_mnist", "train"), ("fashion_mnist", "test")),
    "conversion": (("fashion_mnist", "train"), ("fashion_mnist", "test")),
    "continual": (("mnist", "train"), ("mnist", "test")),
    "reservoir": (("mnist", "train"), ("mnist", "test")),
    "tsrsa": ("allen_2p_scenes",),
}


def _load_stage(module: str):
    name = f"neurosim.commands.{module}"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    return getattr(mod, "demo_stage", None)


def check_options(out, data, fast, seed, quiet) -> None:
    """``ValueError``/``TypeError``/``FileNotFoundError`` for a bad option (nothing is written)."""
    check_int("seed", seed, min_value=0)
    for name, flag in (("fast", fast), ("quiet", quiet)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} exists and is not a directory; choose another path")
    parent = next((p for p in (out, *out.parents) if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ValueError(f"--out {out}: {parent} is a file, not a folder; choose another path")
    check_data_dir(data, "the data sets (like ../shared/data)")


def check_data(data, stages=None) -> list[str]:
    """Load every file the stages will read from ``data`` once; returns what was checked.

    Errors are those of the loaders (``FileNotFoundError``/``ValueError`` naming the file),
    raised here, before any stage runs. ``stages``: the stage names to cover (default all).
    """
    if data is None:
        return []
    names = [s for s, _ in STAGES] if stages is None else list(stages)
    checked: list[str] = []
    for stage in names:
        for item in DATA_INPUTS.get(stage, ()):
            key = item if isinstance(item, str) else "/".join(item)
            if key in checked:
                continue
            if item == "allen_2p_scenes":
                if not (Path(data) / "allen_natural_scenes_visp_2p").is_dir():
                    continue
                from neurosim.data.allen import load_allen_2p_scenes

                load_allen_2p_scenes(data)
            else:
                from neurosim.data.mnist import load_mnist

                load_mnist(item[0], item[1], data)
            checked.append(key)
    return checked


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def run(out: Annotated[Path, Option("--out", help=REPORT_HELP)] = Path("neurosim-demo"),
        data: Annotated[Optional[Path], Option("--data", help="real data folder (default: embedded data)")] = None,
        fast: Annotated[bool, Option("--fast/--full", help="smaller sizes (used by the tests)")] = False,
        seed: Annotated[int, Option("--seed")] = 0,
        quiet: Annotated[bool, Option("--quiet", help="no stage lines or progress bars on stderr")] = False,
        device: Annotated[str, Option("--device", help=DEVICE_HELP)] = "auto",
        amp: Annotated[str, Option("--amp", help=AMP_HELP)] = "none",
        progress: bool | None = None) -> dict:
    """Validate every input, run each stage into ``out/<stage>``, write ``summary.json`` and ``report.md``.

    ``progress``: tqdm bars inside the stages; default: when stderr is a terminal and not
    ``quiet``. ``quiet``: no stage lines and no bars.
    ``device``/``amp``: see the module docstring.
    """
    from . import resolve_device

    check_options(out, data, fast, seed, quiet)
    dev, precision = resolve_device(device, amp)
    torch_opts = {"device": str(dev), "amp": precision.amp}
    progress = (not quiet and _stderr_is_tty()) if progress is None else (bool(progress) and not quiet)

    def say(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)

    stages = [(stage, _load_stage(module)) for stage, module in STAGES]
    checked = check_data(data, [s for s, fn in stages if fn is not None])
    if checked:
        say(f"data: {', '.join(checked)} in {data} read and valid")
    out = ensure_out_dir(out)
    results: list[StageResult] = []
    skipped: list[str] = []
    timings: dict = {}
    n = len(stages)
    t_all = time.perf_counter()
    for k, (stage, fn) in enumerate(stages, 1):
        if fn is None:
            say(f"[{k}/{n}] {stage}: skipped (not in this build)")
            skipped.append(stage)
            continue
        say(f"[{k}/{n}] {stage}: {DESCRIPTIONS.get(stage, stage)} ...")
        stage_dir = ensure_out_dir(out / stage)
        t0 = time.perf_counter()
        extra = torch_opts if "device" in inspect.signature(fn).parameters else {}
        res = fn(stage_dir, data_dir=data, fast=fast, seed=seed, progress=progress, **extra)
        timings[stage] = round(time.perf_counter() - t0, 3)
        say(f"[{k}/{n}] {stage}: done in {timings[stage]:.1f} s")
        results.append(res)
    summary = {
        "stages": {r.name: r.metrics for r in results},
        "skipped": skipped,
        "wall_s": timings,
        "fast": fast,
        "seed": seed,
        "data": str(data) if data else None,
        "python": platform.python_version(),
        **torch_opts,
    }
    write_json(out / "summary.json", summary)
    (out / "report.md").write_text(report_markdown(out, results, timings, skipped, fast=fast, seed=seed, data=data))
    from neurosim._atomic import final_path

    say(f"report: {final_path(out) / 'report.md'} ({time.perf_counter() - t_all:.0f} s)")  # OUT.partial becomes OUT
    return {"report": str(out / "report.md"), "stages": [r.name for r in results], "skipped": skipped,
            "wall_s": timings}


def _link(fig, out: Path) -> str:
    """Path of figure ``fig`` relative to the folder of ``report.md`` (``out``), POSIX style."""
    return Path(os.path.relpath(Path(fig).resolve(), Path(out).resolve())).as_posix()


def report_markdown(out, results, timings, skipped, *, fast: bool, seed: int, data) -> str:
    """The text of ``report.md``; every image link is relative to ``out`` (the report's folder)."""
    lines = ["# neurosim demo report", "",
             f"Mode: {'fast' if fast else 'full'}; seed {seed}; data: {data or 'embedded defaults'}.", "",
             "Stage times are wall-clock and include one-time costs of a first run in a process (imports, "
             "Numba compilation or loading compiled kernels from the cache); the simulation stage times its "
             "loop separately.", ""]
    for r in results:
        lines += [f"## {r.name} ({timings[r.name]:.1f} s)", "", r.text.strip(), ""]
        for k, v in sorted(r.metrics.items()):
            if isinstance(v, (int, float, str)):
                lines.append(f"- `{k}`: {v}")
        lines.append("")
        for fig in r.figures:
            lines += [f"![{r.name}]({_link(fig, out)})", ""]
    if skipped:
        lines += ["## Not in this build yet", "", ", ".join(skipped), ""]
    return "\n".join(lines)
