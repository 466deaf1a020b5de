#!/usr/bin/env bash
# Every GPU check of issue 19 in one run on a lent GPU machine (no network there), in under 8 minutes;
# its tables and logs go to $OUT (default benchmarks/out/gpu).
#
# Prepare here, once, from the repository root (both folders are git-ignored; carry them):
#   python -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       spikingjelly==2.0.0 snntorch==1.0.0 loguru==0.7.3        # the peers (the device image lacks them)
#   mkdir -p benchmarks/out/data && cp -r "$NEUROSIM_DATA/fashion_mnist" benchmarks/out/data/
# Run there (carry: .whl, benchmarks/out/data):
#   bash benchmarks/gpu_check.sh
#
# Steps (each under its own timeout; a failing step is logged and the next one runs):
#   1. the machine (nvidia-smi, torch, CUDA) -> env.txt
#   2. install the carried wheels (to /tmp/site) and neurosim from this tree (pip install -e . --no-deps)
#   3. smoke: neurosim train on CUDA, float32 and --amp bf16 / fp16 (embedded digits) -> smoke.txt
#   4. benchmarks/bench_lif_gpu.py (every case, every peer) -> bench_lif_gpu.md / .json
#   5. benchmarks/bench_train_fmnist.py --device cuda, 2 epochs, neurosim vs spikingjelly -> train_fmnist.md
#
# DRY=1 (with PYTHON=.venv/bin/python) walks through the same steps on the CPU at tiny sizes and installs
# nothing: a check of this script where there is no GPU.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/out/gpu}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
DRY=${DRY:-0}
DEV=cuda
[ "$DRY" = 1 ] && DEV=cpu
export PYTHONUNBUFFERED=1
LOG="$OUT/gpu_check.log"
: >"$LOG"
T0=$(date +%s)
step() { echo "== [$(( $(date +%s) - T0 )) s] $*" | tee -a "$LOG"; }

step "1. machine"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.memory --format=csv 2>&1
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0]); print('torch', torch.__version__, 'cuda', \
torch.version.cuda, 'available', torch.cuda.is_available()); print('device', torch.cuda.get_device_name(0) \
if torch.cuda.is_available() else None)" 2>&1
  git log --oneline -1 2>/dev/null || true
} >"$OUT/env.txt"
cat "$OUT/env.txt" | tee -a "$LOG"

step "2. install"
if [ "$DRY" = 1 ]; then
  echo "DRY=1: nothing installed" | tee -a "$LOG"
elif ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$LOG" 2>&1 && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} || echo "wheel install failed" | tee -a "$LOG"
else
  echo "no .whl/: spikingjelly and snntorch rows will say 'not installed'" | tee -a "$LOG"
fi
if [ "$DRY" != 1 ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . >>"$LOG" 2>&1 \
    || echo "pip install -e . failed (see above)" | tee -a "$LOG"
fi
"$PY" - <<'EOF' 2>&1 | tee -a "$LOG"
import importlib
for name in ("neurosim", "neurosim.kernels", "numba", "triton", "spikingjelly", "snntorch"):
    try:
        m = importlib.import_module(name)
        print(f"{name}: {getattr(m, '__version__', 'ok')} ({getattr(m, '__file__', '')})")
    except Exception as exc:  # noqa: BLE001
        print(f"{name}: NOT importable: {type(exc).__name__}: {exc}")
try:
    from neurosim.snn import LIF
    LIF(2.0, backend="triton")
    print("neurosim LIF backend='triton': available")
except Exception as exc:  # noqa: BLE001
    print(f"neurosim LIF backend='triton': NOT available ({exc})")
EOF

step "3. smoke: neurosim train on CUDA"
: >"$OUT/smoke.txt"
LIMIT=2048
[ "$DRY" = 1 ] && LIMIT=64
for amp in none bf16 fp16; do
  timeout 40 "$PY" -m neurosim.cli train --dataset embedded --model spiking_convnet --limit $LIMIT --epochs 1 \
      --batch-size 128 --device $DEV --amp "$amp" --checkpoint-every 0 --out "/tmp/smoke_$amp" >"/tmp/smoke_$amp.log" 2>&1
  echo "amp=$amp rc=$?" >>"$OUT/smoke.txt"
  [ -f "/tmp/smoke_$amp/summary.json" ] && "$PY" -c "import json; s = json.load(open('/tmp/smoke_$amp/summary.json')); print({k: s[k] for k in \
('device', 'amp', 'test_acc', 'train_samples_per_s', 'wall_s')})" >>"$OUT/smoke.txt" 2>&1 \
    || tail -5 "/tmp/smoke_$amp.log" >>"$OUT/smoke.txt"
done
cat "$OUT/smoke.txt" | tee -a "$LOG"

step "4. bench_lif_gpu"
TINY=""
[ "$DRY" = 1 ] && TINY="--tiny"
timeout 230 "$PY" benchmarks/bench_lif_gpu.py $TINY --device $DEV --out "$OUT" >>"$LOG" 2>&1 \
  || echo "bench_lif_gpu: rc=$?" | tee -a "$LOG"

step "5. bench_train_fmnist --device cuda"
DATA=benchmarks/out/data
if [ -d "$DATA/fashion_mnist" ]; then
  SIZE=""
  [ "$DRY" = 1 ] && SIZE="--limit 256 --test-limit 200"
  timeout 120 "$PY" benchmarks/bench_train_fmnist.py --device $DEV --epochs 2 --data "$DATA" $SIZE \
      --which neurosim,neurosim-static,spikingjelly --json "$OUT/train_fmnist.json" >"$OUT/train_fmnist.md" 2>>"$LOG" \
    || echo "bench_train_fmnist: rc=$?" | tee -a "$LOG"
else
  echo "no $DATA/fashion_mnist: copy it there before the run (see the top of this script)" | tee -a "$OUT/train_fmnist.md"
fi
step "done"
