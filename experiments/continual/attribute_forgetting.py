"""Which layer forgets? Layer-swap attribution of HLOP's forgetting on a continual benchmark.

Runs one method (default HLOP) through the tasks, keeping the weights after every task. Then,
for every old task j and every weight layer l, it puts layer l's weights as they were right
after task j back into the final network (all other layers final) and measures task j's test
accuracy. The recovery ``acc(final with layer l from after task j) - R[T-1, j]`` says how
much of task j's forgetting comes from the drift of layer l alone; restoring every layer gives
back ``R[j, j]``.

    python experiments/continual/attribute_forgetting.py --data ../shared/data --out OUT [--limit N]

Writes ``OUT/attribution.json`` (R, per-layer recovery matrix, means) and prints a table.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main(argv=None):
    import torch

    from neurosim.continual.methods import build_method as build
    from neurosim.continual.metrics import average_accuracy, backward_transfer
    from neurosim.continual.protocols import evaluate, load_benchmark, run_sequence

    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="hlop")
    ap.add_argument("--benchmark", default="pmnist")
    ap.add_argument("--tasks", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default="runs/attribution")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    tasks = load_benchmark(a.benchmark, a.tasks, root=a.data, seed=a.seed, limit=a.limit)
    torch.manual_seed(a.seed)
    model, strategy = build(a.method, a.benchmark, a.tasks, seed=a.seed)
    names = [n for n, p in model.named_parameters() if p.ndim == 2]
    snaps = []

    def keep(t, m, R):
        snaps.append({n: p.detach().clone() for n, p in m.named_parameters() if n in names})
        print(f"task {t}: R[{t}] = " + " ".join(f"{100 * v:.2f}" for v in R[t, : t + 1]), flush=True)

    res = run_sequence(model, strategy, tasks, seed=a.seed, on_task_end=keep)
    R = res["R"]
    T = len(tasks)
    final = {n: p.detach().clone() for n, p in model.named_parameters() if n in names}
    params = dict(model.named_parameters())
    rec = np.full((len(names), T - 1), np.nan)
    all_back = np.full(T - 1, np.nan)
    with torch.no_grad():
        for j in range(T - 1):
            for i, n in enumerate(names):
                params[n].copy_(snaps[j][n])
                rec[i, j] = evaluate(model, tasks[j]) - R[T - 1, j]
                params[n].copy_(final[n])
            for n in names:
                params[n].copy_(snaps[j][n])
            all_back[j] = evaluate(model, tasks[j]) - R[T - 1, j]
            for n in names:
                params[n].copy_(final[n])
    drop = R[T - 1, : T - 1] - np.diag(R)[: T - 1]
    summary = {"method": a.method, "benchmark": a.benchmark, "seed": a.seed, "limit": a.limit, "layers": names,
               "acc": average_accuracy(R), "bwt": backward_transfer(R),
               "R": [[None if np.isnan(v) else float(v) for v in row] for row in R],
               "forgetting": drop.tolist(), "recovery_per_layer": rec.tolist(),
               "recovery_all_layers": all_back.tolist(),
               "mean_recovery_per_layer": dict(zip(names, rec.mean(1).tolist()))}
    (out / "attribution.json").write_text(json.dumps(summary, indent=1))
    print(f"ACC {100 * summary['acc']:.2f}  BWT {100 * summary['bwt']:.2f}")
    print("| task j | forgetting R[T-1,j]-R[j,j] | " + " | ".join(f"restore {n}" for n in names) + " | restore all |")
    print("|---" * (len(names) + 3) + "|")
    for j in range(T - 1):
        print(f"| {j} | {100 * drop[j]:+.2f} | " + " | ".join(f"{100 * rec[i, j]:+.2f}" for i in range(len(names)))
              + f" | {100 * all_back[j]:+.2f} |")
    print(f"| mean | {100 * drop.mean():+.2f} | " + " | ".join(f"{100 * v:+.2f}" for v in rec.mean(1))
          + f" | {100 * all_back.mean():+.2f} |")


if __name__ == "__main__":
    main()
