"""Train the (Fashion-)MNIST ConvNet ANN, convert it with ``neurosim.convert.ann_to_snn``, report accuracy vs T.

ANN: ``neurosim.models`` ``convnet`` (conv3x3 32-BN-ReLU-avgpool2, conv3x3 64-BN-ReLU-avgpool2,
fc 256-ReLU, fc 10), Adam lr 1e-3, batch 128, pixels / 255, no augmentation. ``--qcfs L``
replaces every ReLU by ``QCFS(levels=L)`` before training (the low-latency route).

SNN: IF neurons with reset by subtraction, the analog image presented at every step, output =
mean over the steps of the last Linear (non-spiking). One simulation of ``max(T)`` steps gives
the accuracy of every prefix ``T' <= max(T)`` (running mean of the per-step logits).

    python experiments/convert/mnist_convnet.py --epochs 1 --test-limit 1000 --seed 0
    python experiments/convert/mnist_convnet.py --qcfs 8 --timesteps 2,4,8,16,32 --seed 0

Prints a table and writes ``--out`` (JSON) with every number and the command line.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import neurosim.convert as nc
from neurosim.data.mnist import load_dataset
from neurosim.models import get_model


def batches(x, y, size, rng=None):
    idx = np.arange(len(x)) if rng is None else rng.permutation(len(x))
    for s in range(0, len(x), size):
        j = idx[s:s + size]
        yield torch.from_numpy(x[j]).float().div_(255).unsqueeze(1), torch.from_numpy(y[j])


def accuracy(fn, x, y, size=250):
    hits = 0
    with torch.no_grad():
        for xb, yb in batches(x, y, size):
            hits += int((fn(xb).argmax(-1) == yb).sum())
    return hits / len(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    ap.add_argument("--data", default=None, help="folder with mnist/ and fashion_mnist/ (default $NEUROSIM_DATA)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--calibration", type=int, default=5000, help="training images used for the layer scales")
    ap.add_argument("--timesteps", default="8,16,32,64")
    ap.add_argument("--modes", default="max,99.9%", help="comma-separated scale modes")
    ap.add_argument("--per-channel", action="store_true")
    ap.add_argument("--v-init", type=float, default=0.0)
    ap.add_argument("--qcfs", type=int, default=0, help="train with QCFS(levels=L) instead of ReLU")
    ap.add_argument("--qcfs-threshold", type=float, default=8.0, help="initial QCFS threshold lambda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    Ts = sorted(int(t) for t in args.timesteps.split(","))
    t0 = time.time()
    xtr, ytr = load_dataset(args.dataset, "train", args.data, limit=args.train_limit)
    xte, yte = load_dataset(args.dataset, "test", args.data, limit=args.test_limit)

    ann = get_model("convnet")
    if args.qcfs:
        for name, m in list(ann.named_modules()):
            if isinstance(m, torch.nn.ReLU):
                parent, _, leaf = name.rpartition(".")
                setattr(ann.get_submodule(parent) if parent else ann, leaf, nc.QCFS(levels=args.qcfs, threshold=args.qcfs_threshold))
    opt = torch.optim.Adam(ann.parameters(), lr=1e-3)
    for _ in range(args.epochs):
        ann.train()
        for xb, yb in batches(xtr, ytr, 128, rng):
            opt.zero_grad()
            F.cross_entropy(ann(xb), yb).backward()
            opt.step()
    ann.eval()
    t_train = time.time() - t0
    if args.qcfs:
        print("QCFS thresholds after training:", ", ".join(
            f"{n} {float(m.threshold.detach()):.3f}" for n, m in ann.named_modules() if isinstance(m, nc.QCFS)))
    ann_acc = accuracy(ann, xte, yte)
    result = {"command": " ".join(["python"] + sys.argv), "dataset": args.dataset, "seed": args.seed,
              "epochs": args.epochs, "train_images": len(xtr), "test_images": len(xte),
              "calibration_images": args.calibration, "qcfs_levels": args.qcfs,
              "qcfs_threshold_init": args.qcfs_threshold if args.qcfs else None, "ann_acc": ann_acc,
              "train_s": round(t_train, 1), "snn": {}}
    print(f"ANN test accuracy {ann_acc:.4f} ({len(xte)} images; trained {t_train:.0f} s)")
    calib = [xb for xb, _ in batches(xtr[:args.calibration], ytr[:args.calibration], 250)]
    modes = ["qcfs"] if args.qcfs else args.modes.split(",")
    for mode in modes:
        t1 = time.time()
        snn = nc.ann_to_snn(ann, None if args.qcfs else calib, mode="max" if args.qcfs else mode,
                            per_channel=args.per_channel, v_init=args.v_init, method="_forward")
        t_conv = time.time() - t1
        acc = nc.accuracy_vs_timesteps(snn, torch.from_numpy(xte).unsqueeze(1), torch.from_numpy(yte), Ts,
                                       batch_size=250, scale=255.0)
        t_sim = time.time() - t1 - t_conv
        result["snn"][mode] = {"acc": acc, "convert_s": round(t_conv, 1), "simulate_s": round(t_sim, 1),
                               "scales": {k: float(v.max()) for k, v in snn.scales.items()}}
        print(f"mode {mode:>6}: " + "  ".join(f"T={T}: {a:.4f}" for T, a in acc.items())
              + f"   (convert {t_conv:.0f} s, simulate {t_sim:.0f} s)")
    result["wall_s"] = round(time.time() - t0, 1)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
