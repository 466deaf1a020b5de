#!/usr/bin/env bash
# Converted + fine-tuned (distilled) SNN vs the same SNN trained from scratch, T = 4, same epochs, 3 seeds.
#
#   ANN=path/to/fmnist_convnet.pt bash experiments/convert/finetune_vs_scratch.sh [OUT]
#
# ANN: a trained Fashion-MNIST `convnet` model file (experiments/convert/convert_ann.py --save-ann,
# or `neurosim train --model convnet`). For each seed s in $SEEDS (default 0 1 2):
#   hybrid:  neurosim distill --student converted:$ANN          (converted here, 99.9 %, 512 calibration
#            images drawn with the seed; the ANN is the teacher)
#   scratch: the same converted architecture built from an untrained convnet (weights drawn with the seed,
#            thresholds calibrated the same way: `neurosim convert`), then
#            neurosim distill --student converted:<that file> --teacher convnet@$ANN
# Both: --kd $KD (default bkd+wsld, the distill default), --epochs $EPOCHS (default 1), -T 4, --limit $LIMIT
# training images (default 60000: all; the test set is always the whole 10,000), seed s.
# Writes OUT/{hybrid,scratch}_s<seed>/summary.json and OUT/table.json (python summarise step below).
set -euo pipefail
: "${ANN:?set ANN to a trained Fashion-MNIST convnet model file}"
OUT=${1:-experiments/convert/results/finetune}
SEEDS=${SEEDS:-"0 1 2"}
KD=${KD:-bkd+wsld}
EPOCHS=${EPOCHS:-1}
LIMIT=${LIMIT:-60000}
mkdir -p "$OUT"
for s in $SEEDS; do
  if [ ! -f "$OUT/hybrid_s$s/summary.json" ]; then
    neurosim distill --dataset fashion_mnist --student "converted:$ANN" --kd "$KD" --epochs "$EPOCHS" -T 4 \
      --limit "$LIMIT" --seed "$s" --out "$OUT/hybrid_s$s"
  fi
  if [ ! -f "$OUT/scratch_s$s/summary.json" ]; then
    python - "$OUT/untrained_s$s.pt" "$s" <<'PY'
import sys
from neurosim.models import build_model, save_model
path, seed = sys.argv[1], int(sys.argv[2])
save_model(path, build_model("convnet", seed=seed).eval(), "convnet", {}, dataset="fashion_mnist", seed=seed,
           trained=False)
PY
    neurosim convert --model "$OUT/untrained_s$s.pt" --dataset fashion_mnist -T 4 --calibration 512 --seed "$s" \
      --limit 1000 --out "$OUT/scratch_init_s$s"
    neurosim distill --dataset fashion_mnist --student "converted:$OUT/scratch_init_s$s/model.pt" \
      --teacher "convnet@$ANN" --kd "$KD" --epochs "$EPOCHS" -T 4 --limit "$LIMIT" --seed "$s" \
      --out "$OUT/scratch_s$s"
  fi
done
python - "$OUT" $SEEDS <<'PY'
import json, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
rows = {}
for kind in ("hybrid", "scratch"):
    accs = []
    for s in seeds:
        with open(f"{out}/{kind}_s{s}/summary.json") as f:
            summ = json.load(f)
        accs.append(summ["test_acc"])
        rows.setdefault(kind, {})[s] = {"test_acc": summ["test_acc"], "wall_s": summ.get("wall_s"),
                                        "before": summ.get("converted", {}).get("acc_before_training")}
    rows[kind]["mean"] = statistics.mean(accs)
    rows[kind]["std"] = statistics.stdev(accs) if len(accs) > 1 else 0.0
    print(f"{kind:8s} " + "  ".join(f"s{s} {rows[kind][s]['test_acc']:.4f}" for s in seeds)
          + f"   mean {rows[kind]['mean']:.4f} +- {rows[kind]['std']:.4f}")
with open(f"{out}/table.json", "w") as f:
    json.dump(rows, f, indent=1)
PY
