"""Run continual-learning methods x seeds through `neurosim continual` and tabulate ACC / BWT.

Example (the full PMNIST table; hours on 2 shared cores):
    python experiments/continual/run_table.py --methods finetune ewc gpm hlop hlop+replay multitask \
        --seeds 0 1 2 --data ../shared/data --out runs/pmnist
A quick, reduced version: add --limit 2000 (training and test samples per task).
Each run is one `neurosim continual` command (a subprocess) writing OUT/<method>_s<seed>/summary.json;
existing summaries are reused.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from neurosim.continual.hlop import NEURONS


def run_continual(out: Path, **options) -> dict:
    """Run ``neurosim continual --<option> <value> ... --out OUT`` and return its summary.json.

    Options that are None are left out (the command's defaults apply). The run's log goes to
    stderr; its summary (printed on stdout) is read back from the file.
    """
    args = [sys.executable, "-m", "neurosim.cli", "continual", "--out", str(out)]
    for key, value in options.items():
        if value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return json.loads((out / "summary.json").read_text())


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--methods", nargs="+", default=["finetune", "ewc", "gpm", "hlop", "hlop+replay", "multitask"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--benchmark", default="pmnist")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default="runs/pmnist")
    ap.add_argument("--hlop-consolidation", type=int, default=0,
                    help="HLOP consolidation pass on this many images per task (0 = literal HLOP)")
    ap.add_argument("--neuron", default="bptt", choices=NEURONS,
                    help="SNN training: bptt (LIF + surrogate, T=6) or dsr (HLOP's DSR, T=20)")
    ap.add_argument("--hlop-damping", default=None,
                    help="HLOP residual damping per protected layer, e.g. 10,0,0 (extension; default off)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    rows = []
    for method in a.methods:
        accs, bwts, walls = [], [], []
        for seed in a.seeds:
            cons = a.hlop_consolidation if method.startswith("hlop") else 0
            damp = a.hlop_damping if method.startswith("hlop") else None
            d = out / (f"{method.replace('+', '_')}" + ("_dsr" if a.neuron == "dsr" else "") + (f"_c{cons}" if cons else "")
                       + (f"_d{damp.replace(',', '-')}" if damp else "") + f"_s{seed}")
            if (d / "summary.json").exists():
                s = json.loads((d / "summary.json").read_text())
            else:
                s = run_continual(d, method=method, benchmark=a.benchmark, tasks=a.tasks, epochs=a.epochs,
                                  seed=seed, data=a.data, limit=a.limit, hlop_consolidation=cons,
                                  hlop_damping=damp, neuron=a.neuron)
            accs.append(100 * s["acc"])
            bwts.append(None if s["bwt"] is None else 100 * s["bwt"])
            walls.append(s["wall_s"])
        fmt = lambda v: "n/a" if v[0] is None else f"{np.mean(v):.2f} ± {np.std(v):.2f}"  # noqa: E731
        label = method + (" DSR" if a.neuron == "dsr" else "") + (
            f" (residual damping {damp})" if method.startswith("hlop") and a.hlop_damping else "")
        rows.append(f"| {label} | {fmt(accs)} | {fmt(bwts)} | {len(a.seeds)} | {np.mean(walls):.0f} |")
        print(rows[-1], flush=True)
    table = ["| method | ACC (%) | BWT (%) | seeds | wall s / run |", "|---|---|---|---|---|", *rows]
    (out / "table.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
