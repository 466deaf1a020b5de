"""Train the ResNet-family models used for the real-data RSA/TSRSA rows (Fashion-MNIST).

    NEUROSIM_DATA=/path/to/data python experiments/rsa/train_models.py OUT [--limit 20000] [--epochs 1]

Writes ``OUT/<model>/model.pt`` (self-describing: ``neurosim tsrsa --model OUT/<model>/model.pt``)
and ``OUT/<model>/summary.json``. CPU budget: SEW-ResNet-18 and LoRaFB-SNet-18 at base width 32
with the ImageNet stem (7x7/2 conv + max-pool: 28x28 images become 7x7 maps in stage 1), T = 4,
batch 64, Adam 1e-3, one epoch on the first ``--limit`` training images. The spiking ConvNet and
the ANN ConvNet teacher come from the distillation experiment (``experiments/distill``: the
no-KD student and the teacher write ``model.pt`` themselves).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from neurosim.commands.train import run

MODELS = {
    "sew_resnet18": {"base_width": 32, "stem": "imagenet"},
    "lorafb_snet18": {"base_width": 32, "stem": "imagenet"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=int, default=20000)
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    data = os.environ.get("NEUROSIM_DATA")
    for name in a.models:
        s = run(dataset="fashion_mnist", model=name, epochs=a.epochs, batch_size=64, lr=1e-3, timesteps=4,
                seed=a.seed, data=data, limit=a.limit, test_limit=a.test_limit, out=a.out / name,
                model_cfg=MODELS[name], resume=True)
        print(f"{name}: test_acc {s['test_acc']:.4f} on {s['n_test']} test images, "
              f"{s['train_samples_per_s']} samples/s, wall {s['wall_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
