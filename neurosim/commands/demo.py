"""``neurosim demo``: one short stage per capability, a report folder at the end.

Each capability contributes ``demo_stage`` in its command module; a stage whose module is
not part of this build yet is listed as skipped in the report (never silently).
"""
from __future__ import annotations

import importlib
import platform
import time
from pathlib import Path

from . import StageResult, ensure_out_dir, write_json

#: (stage name, command module providing ``demo_stage``) in the order they run
STAGES = (
    ("simulation", "simulate"),
    ("training", "train"),
    ("distillation", "distill"),
    ("continual", "continual"),
    ("reservoir", "reservoir"),
    ("tsrsa", "tsrsa"),
)


def _load_stage(module: str):
    name = f"neurosim.commands.{module}"
    try:
        mod = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    return getattr(mod, "demo_stage", None)


def run(out, data=None, fast: bool = False, seed: int = 0) -> dict:
    out = ensure_out_dir(out)
    if data is not None and not Path(data).is_dir():
        raise FileNotFoundError(f"--data {data} is not a directory; point it at a folder like ../shared/data")
    results: list[StageResult] = []
    skipped: list[str] = []
    timings: dict = {}
    for stage, module in STAGES:
        fn = _load_stage(module)
        if fn is None:
            skipped.append(stage)
            continue
        stage_dir = ensure_out_dir(out / stage)
        t0 = time.perf_counter()
        res = fn(stage_dir, data_dir=data, fast=fast, seed=seed)
        timings[stage] = round(time.perf_counter() - t0, 3)
        results.append(res)
    summary = {
        "stages": {r.name: r.metrics for r in results},
        "skipped": skipped,
        "wall_s": timings,
        "fast": fast,
        "seed": seed,
        "data": str(data) if data else None,
        "python": platform.python_version(),
    }
    write_json(out / "summary.json", summary)
    lines = ["# neurosim demo report", "",
             f"Mode: {'fast' if fast else 'full'}; seed {seed}; data: {data or 'embedded defaults'}.", ""]
    for r in results:
        lines += [f"## {r.name} ({timings[r.name]:.1f} s)", "", r.text.strip(), ""]
        for k, v in sorted(r.metrics.items()):
            if isinstance(v, (int, float, str)):
                lines.append(f"- `{k}`: {v}")
        lines.append("")
        for fig in r.figures:
            rel = Path(fig).relative_to(out) if Path(fig).is_absolute() else Path(fig)
            lines += [f"![{r.name}]({rel.as_posix()})", ""]
    if skipped:
        lines += ["## Not in this build yet", "", ", ".join(skipped), ""]
    (out / "report.md").write_text("\n".join(lines))
    return {"report": str(out / "report.md"), "stages": [r.name for r in results], "skipped": skipped,
            "wall_s": timings}
