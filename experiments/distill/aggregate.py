"""Collect ``OUT/seed*/<arm>/summary.json`` into the markdown table of experiments/distill/README.md.

    python experiments/distill/aggregate.py OUT
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ARMS = ["none", "kd", "wsld", "feature", "bkd", "bkd_wsld"]


def main(out: str) -> None:
    root = Path(out)
    rows = []
    base = None
    for arm in ARMS:
        runs = [json.loads(p.read_text()) for p in sorted(root.glob(f"seed*/{arm}/summary.json"))]
        if not runs:
            continue
        acc = [100 * r["test_acc"] for r in runs]
        tea = [100 * r["teacher_acc"] for r in runs]
        wall = [r["student_wall_s"] for r in runs]
        m = statistics.mean(acc)
        sd = f"{statistics.stdev(acc):.2f}" if len(acc) > 1 else "n/a"
        if arm == "none":
            base = m
        delta = "" if base is None or arm == "none" else f"{m - base:+.2f}"
        rows.append(f"| {arm.replace('_', '+')} | {len(runs)} | {m:.2f} ± {sd} | {delta} | "
                    f"{statistics.mean(tea):.2f} | {statistics.mean(wall):.0f} | "
                    f"{runs[0]['n_train']} / {runs[0]['n_test']} |")
    print("| arm | seeds | student test acc % (mean ± std) | vs no KD | teacher acc % | student wall s | train / test |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    # paired by seed: every arm of a seed shares the teacher, the initialisation and the data order
    none = {p.parent.parent.name: json.loads(p.read_text())["test_acc"]
            for p in root.glob("seed*/none/summary.json")}
    print("\n| arm | paired difference vs no KD, points (per seed) | mean ± std | seeds better |")
    print("|---|---|---|---|")
    for arm in ARMS[1:]:
        d = {p.parent.parent.name: 100 * (json.loads(p.read_text())["test_acc"] - none[p.parent.parent.name])
             for p in sorted(root.glob(f"seed*/{arm}/summary.json")) if p.parent.parent.name in none}
        if not d:
            continue
        vals = list(d.values())
        sd = f"{statistics.stdev(vals):.2f}" if len(vals) > 1 else "n/a"
        per = ", ".join(f"{k}: {v:+.2f}" for k, v in sorted(d.items()))
        print(f"| {arm.replace('_', '+')} | {per} | {statistics.mean(vals):+.2f} ± {sd} | "
              f"{sum(v > 0 for v in vals)}/{len(vals)} |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "experiments/distill/out")
