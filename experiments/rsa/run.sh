#!/usr/bin/env bash
# Real-data RSA / TSRSA of trained models (issue 4): models x {allen_2p_scenes, allen_dg}.
#
#   NEUROSIM_DATA=/path/to/data bash experiments/rsa/run.sh [OUT] [DISTILL_OUT]
#
# Needs the trained models first:
#   python experiments/rsa/train_models.py OUT            # SEW-ResNet-18, LoRaFB-SNet-18 (Fashion-MNIST)
#   bash experiments/distill/run.sh DISTILL_OUT 0         # seed 0: the no-KD spiking ConvNet + ANN teacher
# Then prints one line per run; summaries in OUT/<model>__<neural>/summary.json.
# ONLY="convnet sew_resnet18" restricts the models.
set -euo pipefail
OUT=${1:-experiments/rsa/out}
DISTILL=${2:-experiments/distill/out}
DATA=${NEUROSIM_DATA:-../shared/data}
declare -A MODELS=(
  [spiking_convnet]="$DISTILL/seed0/none/student/model.pt"
  [convnet]="$DISTILL/seed0/none/teacher/model.pt"
  [sew_resnet18]="$OUT/sew_resnet18/model.pt"
  [lorafb_snet18]="$OUT/lorafb_snet18/model.pt"
)
for name in ${ONLY:-spiking_convnet convnet sew_resnet18 lorafb_snet18}; do
  ckpt=${MODELS[$name]}
  [ -f "$ckpt" ] || { echo "missing $ckpt (train it first, see the header)"; exit 1; }
  for neural in allen_2p_scenes allen_dg; do
    dir="$OUT/${name}__${neural}"
    neurosim tsrsa --model "$ckpt" --neural "$neural" --data "$DATA" --out "$dir" > "$dir.log" 2>&1 \
      || { echo "failed: see $dir.log"; exit 1; }
    python - "$dir/summary.json" "$name" "$neural" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
area = s["areas"][0]
best = max(s["scores"], key=lambda l: s["scores"][l][area])
print(f"{sys.argv[2]:16s} {sys.argv[3]:16s} score {s['score']:.3f} best {best} ceiling {s['ceiling_mean']:.3f} "
      f"({s['percent_of_ceiling']:.1f}%) wall {s['wall_s']:.0f}s")
PY
  done
done
