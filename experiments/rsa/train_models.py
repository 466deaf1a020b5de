"""Train the ResNet-family models used for the real-data RSA/TSRSA rows (Fashion-MNIST).

    NEUROSIM_DATA=/path/to/data python experiments/rsa/train_models.py OUT [--limit 20000] [--epochs 1]

Writes ``OUT/<model>/model.pt`` (self-describing: ``neurosim tsrsa --model OUT/<model>/model.pt``)
and ``OUT/<model>/summary.json``, training with the library (``neurosim.distill.Trainer``) the way
``neurosim train`` does. CPU budget: SEW-ResNet-18 and LoRaFB-SNet-18 at base width 32
with the ImageNet stem (7x7/2 conv + max-pool: 28x28 images become 7x7 maps in stage 1), T = 4,
batch 64, Adam 1e-3, one epoch on the first ``--limit`` training images. The spiking ConvNet and
the ANN ConvNet teacher come from the distillation experiment (``experiments/distill``: the
no-KD student and the teacher write ``model.pt`` themselves).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from neurosim.distill import Trainer, load_tensors
from neurosim.models import build_model, input_config, save_model

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
        s = train(name, a.out / name, data=data, epochs=a.epochs, limit=a.limit, test_limit=a.test_limit, seed=a.seed)
        print(f"{name}: test_acc {s['test_acc']:.4f} on {s['n_test']} test images, "
              f"{s['train_samples_per_s']} samples/s, wall {s['wall_s']:.0f} s", flush=True)


def train(name: str, out: Path, *, data, epochs: int, limit: int, test_limit: int, seed: int,
          timesteps: int = 4) -> dict:
    """Train ``name`` on Fashion-MNIST as ``neurosim train`` does (Trainer, Adam 1e-3, batch 64,
    precise BN on 2,000 images, checkpoints every 100 batches, resumable); write ``model.pt`` and
    ``summary.json`` into ``out``; return the summary."""
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    cfg = {**input_config(name), **MODELS[name]}
    net = build_model(name, seed=seed, **cfg)
    train_set = load_tensors("fashion_mnist", "train", data, limit, seed)
    test_set = load_tensors("fashion_mnist", "test", data, test_limit, seed)
    trainer = Trainer(net, None, epochs=epochs, batch_size=64, lr=1e-3, timesteps=timesteps, seed=seed, out_dir=out,
                      resume=True, precise_bn=2000, checkpoint_every=100)
    try:
        history = trainer.fit(train_set, val=test_set)
    finally:
        trainer.close()
    train_wall = sum(h.get("wall_s", 0.0) for h in history)
    summary = {"model": name, "model_cfg": cfg, "dataset": "fashion_mnist", "epochs": epochs, "seed": seed,
               "timesteps": timesteps, "test_acc": history[-1]["val_acc"], "test_loss": history[-1]["val_loss"],
               "n_train": len(train_set[0]), "n_test": len(test_set[0]), "history": history,
               "train_samples_per_s": round(len(train_set[0]) * len(history) / train_wall, 2) if train_wall else None,
               "wall_s": round(time.perf_counter() - t0, 3), "resumed": trainer.resumed}
    save_model(out / "model.pt", net, name, cfg, dataset="fashion_mnist", test_acc=summary["test_acc"],
               input_size=int(train_set[0].shape[-1]), timesteps=timesteps)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
    return summary

if __name__ == "__main__":
    main()
