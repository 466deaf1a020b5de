#!/usr/bin/env bash
# Fashion-MNIST distillation experiment: ANN ConvNet teacher -> spiking ConvNet student (T = 4).
# Arms: none, kd, wsld, feature, bkd, bkd+wsld; seeds given as arguments (default 0 1 2).
#
#   NEUROSIM_DATA=/path/to/data bash experiments/distill/run.sh [OUT] [SEEDS...]
#   EXTRA="--limit 5000" bash experiments/distill/run.sh out/reduced 0      # reduced variant
#   ARMS="none bkd+wsld" EXTRA="--lr-schedule cosine --label-smoothing 0.1" bash ... # recipe variant
#
# For each seed the "none" arm trains the teacher first; the other arms re-use that teacher
# (its folder is copied and loaded with --resume; nothing is retrained), so all arms of a seed
# share the teacher, the student initialisation and the data order. Then:
#   python experiments/distill/aggregate.py OUT     # prints the markdown table
set -euo pipefail
OUT=${1:-experiments/distill/out}
shift || true
SEEDS=${*:-0 1 2}
EPOCHS=${EPOCHS:-1}
TEACHER_EPOCHS=${TEACHER_EPOCHS:-1}
EXTRA=${EXTRA:-}
ARMS=${ARMS:-"none kd wsld feature bkd bkd+wsld"}
for seed in $SEEDS; do
  for arm in $ARMS; do
    dir="$OUT/seed$seed/${arm/+/_}"
    if [ -f "$dir/summary.json" ]; then echo "skip $dir (done)"; continue; fi
    mkdir -p "$dir"
    if [ "$arm" != "none" ]; then
      rm -rf "$dir/teacher"
      cp -r "$OUT/seed$seed/none/teacher" "$dir/teacher"
    fi
    echo "== seed $seed arm $arm -> $dir"
    neurosim distill --dataset fashion_mnist --teacher convnet --student spiking_convnet --kd "$arm" \
      --epochs "$EPOCHS" --teacher-epochs "$TEACHER_EPOCHS" --batch-size 128 -T 4 --seed "$seed" \
      --resume --out "$dir" $EXTRA > "$dir.log" 2>&1 || { echo "failed: see $dir.log"; exit 1; }
    python -c "import json,sys; s=json.load(open('$dir/summary.json')); print(f\"   test_acc {s['test_acc']:.4f} teacher_acc {s['teacher_acc']:.4f} wall {s['wall_s']:.0f}s\")"
  done
done
