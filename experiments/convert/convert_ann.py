"""Train a (Fashion-)MNIST ANN from the zoo, convert it with ``neurosim.convert.ann_to_snn``, report accuracy vs T.

ANNs (``--model``): ``convnet`` (conv3x3 32-BN-ReLU-avgpool2, conv3x3 64-BN-ReLU-avgpool2,
fc 256-ReLU, fc 10) or ``resnet_small`` (3x3 stem 16, four stages of one basic block, widths
16/32/64/128, global average pool, fc 10; residual additions). Adam lr 1e-3 (``--cosine``: decayed
to 0 over the run, per step), batch 128, pixels / 255, no augmentation. ``--qcfs L`` replaces
every ReLU by ``QCFS(levels=L)`` before training (the low-latency route).

SNN: IF neurons with reset by subtraction, the analog image presented at every step, output =
mean over the steps of the last Linear (non-spiking). One simulation of ``max(T)`` steps gives
the accuracy of every prefix ``T' <= max(T)`` (running mean of the per-step logits).

    python experiments/convert/convert_ann.py --dataset mnist --epochs 3 --seed 0
    python experiments/convert/convert_ann.py --model resnet_small --qcfs 8 --timesteps 2,4,8,16,32

Prints a table and writes ``--out`` (JSON) with every number and the command line, ``--figure``
(accuracy vs T, one curve per mode, the ANN as a dashed line) and ``--save-ann`` (the trained ANN
as a self-describing model file, e.g. a teacher for ``neurosim distill --student converted:FILE``).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import neurosim.convert as nc
from neurosim.data.mnist import load_dataset
from neurosim.io.checkpoint import save_model
from neurosim.models import build_model


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


def relu_percentiles(ann, calib, q):
    """The ``q``-th percentile of every ``nn.ReLU`` module's non-zero outputs over the batches ``calib``."""
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: seen.setdefault(name, []).append(o[o > 0].flatten()))
             for name, m in ann.named_modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        for xb in calib:
            ann(xb)
    for h in hooks:
        h.remove()
    return {name: float(torch.quantile(torch.cat(v)[torch.randperm(sum(t.numel() for t in v),
                                                                   generator=torch.Generator().manual_seed(0))[:2 ** 24]],
                                       q / 100)) for name, v in seen.items()}


def use_qcfs(ann, levels, threshold):
    """Replace every ``nn.ReLU`` module of ``ann`` by ``QCFS(levels, threshold)`` (in place); ``threshold`` is a
    number or a dict module name -> number."""
    for name, m in list(ann.named_modules()):
        if isinstance(m, torch.nn.ReLU):
            parent, _, leaf = name.rpartition(".")
            lam = threshold[name] if isinstance(threshold, dict) else threshold
            setattr(ann.get_submodule(parent) if parent else ann, leaf, nc.QCFS(levels=levels, threshold=lam))


def train(ann, x, y, *, epochs, seed, cosine, lr=1e-3):
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(ann.parameters(), lr=lr)
    total = epochs * math.ceil(len(x) / 128)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda s: 0.5 * (1 + math.cos(math.pi * s / total))) if cosine else (lambda s: 1.0))
    for _ in range(epochs):
        ann.train()
        for xb, yb in batches(x, y, 128, rng):
            opt.zero_grad()
            F.cross_entropy(ann(xb), yb).backward()
            opt.step()
            sched.step()
    return ann.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="convnet", choices=("convnet", "resnet_small"))
    ap.add_argument("--dataset", default="mnist", choices=("mnist", "fashion_mnist"))
    ap.add_argument("--data", default=None, help="folder with mnist/ and fashion_mnist/ (default $NEUROSIM_DATA)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--cosine", action="store_true", help="cosine learning-rate decay to 0 (per step)")
    ap.add_argument("--train-limit", type=int, default=None)
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--calibration", type=int, default=5000, help="training images used for the layer scales")
    ap.add_argument("--timesteps", default="8,16,32,64")
    ap.add_argument("--modes", default="max,99.9%", help="comma-separated scale modes")
    ap.add_argument("--per-channel", action="store_true")
    ap.add_argument("--v-init", type=float, default=0.0)
    ap.add_argument("--signed", action="store_true", help="signed IF neurons with memory (ann_to_snn(signed=True))")
    ap.add_argument("--qcfs", type=int, default=0, help="train with QCFS(levels=L) instead of ReLU")
    ap.add_argument("--qcfs-threshold", type=float, default=8.0, help="initial QCFS threshold lambda")
    ap.add_argument("--qcfs-init", default=None, metavar="Q",
                    help="with --ann and --qcfs: start each QCFS threshold at the Q-th percentile of the ReLU ANN's "
                         "non-zero activations of that layer (e.g. 99.9) and fine-tune the ANN --epochs epochs")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    ap.add_argument("--bias-calibration", type=int, default=0, metavar="R",
                    help="after conversion, R rounds of neurosim.convert.calibrate_bias at T = --bias-t")
    ap.add_argument("--bias-t", type=int, default=8)
    ap.add_argument("--bias-images", type=int, default=1000, help="training images drawn (with --seed) for it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="JSON file with every number")
    ap.add_argument("--figure", default=None, help="PNG: accuracy vs T")
    ap.add_argument("--save-ann", default=None, help="write the trained ANN as a neurosim model file")
    ap.add_argument("--ann", default=None, help="skip training: convert this model file (a --save-ann output)")
    ap.add_argument("--qcfs-ann", default=None, help="skip training: convert this QCFS ANN (a --qcfs --save-ann output, "
                                                     "a whole pickled module: load only files you made)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    Ts = sorted(int(t) for t in args.timesteps.split(","))
    t0 = time.time()
    xtr, ytr = load_dataset(args.dataset, "train", args.data, limit=args.train_limit)
    xte, yte = load_dataset(args.dataset, "test", args.data, limit=args.test_limit)

    if args.qcfs_ann:
        ann = torch.load(args.qcfs_ann, weights_only=False).eval()
        levels = {m.levels for m in ann.modules() if isinstance(m, nc.QCFS)}
        if len(levels) != 1:
            raise SystemExit(f"error: --qcfs-ann {args.qcfs_ann} holds no QCFS ANN with one number of levels")
        args.qcfs = levels.pop()
    elif args.ann:
        from neurosim.models import load_model

        loaded = load_model(args.ann)
        if loaded.name != args.model or (args.qcfs and not args.qcfs_init):
            raise SystemExit(f"error: --ann {args.ann} holds a {loaded.name!r} (no QCFS; use --qcfs-init to fine-tune "
                             f"it with QCFS); --model is {args.model!r}")
        ann = loaded.model.eval()
        if args.qcfs:
            calib0 = [xb for xb, _ in batches(xtr[:args.calibration], ytr[:args.calibration], 250)]
            lam = relu_percentiles(ann, calib0, float(args.qcfs_init))
            print("QCFS thresholds from the ReLU ANN:", ", ".join(f"{k} {v:.3f}" for k, v in lam.items()))
            use_qcfs(ann, args.qcfs, lam)
            print(f"QCFS ANN before fine-tuning: {accuracy(ann, xte, yte):.4f}")
            train(ann, xtr, ytr, epochs=args.epochs, seed=args.seed, cosine=args.cosine, lr=args.lr)
    else:
        ann = build_model(args.model, seed=args.seed)
        if args.qcfs:
            use_qcfs(ann, args.qcfs, args.qcfs_threshold)
        train(ann, xtr, ytr, epochs=args.epochs, seed=args.seed, cosine=args.cosine, lr=args.lr)
    t_train = time.time() - t0
    if args.qcfs:
        print("QCFS thresholds after training:", ", ".join(
            f"{n} {float(m.threshold.detach()):.3f}" for n, m in ann.named_modules() if isinstance(m, nc.QCFS)))
    ann_acc = accuracy(ann, xte, yte)
    if args.save_ann and args.qcfs:  # a zoo model file cannot hold the QCFS modules: the whole module
        torch.save(ann, args.save_ann)
    if args.save_ann and not args.qcfs:
        save_model(args.save_ann, ann, args.model, {}, dataset=args.dataset, test_acc=ann_acc, input_size=28,
                   seed=args.seed, epochs=args.epochs)
    result = {"command": " ".join(["python"] + sys.argv), "model": args.model, "dataset": args.dataset,
              "seed": args.seed, "epochs": args.epochs, "ann_file": args.ann or args.qcfs_ann, "cosine": args.cosine, "train_images": len(xtr),
              "test_images": len(xte), "calibration_images": args.calibration, "qcfs_levels": args.qcfs,
              "qcfs_threshold_init": (f"p{args.qcfs_init} of the ReLU ANN" if args.qcfs_init else args.qcfs_threshold)
              if args.qcfs else None, "lr": args.lr, "signed": args.signed,
              "bias_calibration": ({"rounds": args.bias_calibration, "T": args.bias_t, "images": args.bias_images}
                                   if args.bias_calibration else None), "ann_acc": ann_acc,
              "train_s": round(t_train, 1), "snn": {}}
    if args.qcfs_ann:  # no training here: the file holds the trained QCFS ANN
        result.update(epochs=None, cosine=None, lr=None, qcfs_threshold_init=f"trained, from {args.qcfs_ann}")
    print(f"{args.model} on {args.dataset}: ANN test accuracy {ann_acc:.4f} ({len(xte)} images; trained {t_train:.0f} s)")
    calib = [xb for xb, _ in batches(xtr[:args.calibration], ytr[:args.calibration], 250)]
    modes = ["qcfs"] if args.qcfs else args.modes.split(",")
    for mode in modes:
        t1 = time.time()
        snn = nc.ann_to_snn(ann, None if args.qcfs else calib, mode="max" if args.qcfs else mode,
                            per_channel=args.per_channel, v_init=args.v_init, method="_forward", signed=args.signed)
        if args.bias_calibration:
            pick = np.random.default_rng(args.seed).choice(len(xtr), args.bias_images, replace=False)
            cal = torch.from_numpy(xtr[pick]).float().div(255).unsqueeze(1)
            err = nc.calibrate_bias(snn, ann, cal, args.bias_t, rounds=args.bias_calibration)
            print("bias calibration: mean |error| per IF layer before the last round", err)
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
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from neurosim.plot.accuracy import plot_accuracy_vs_timesteps
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for i, (mode, r) in enumerate(result["snn"].items()):
            plot_accuracy_vs_timesteps(list(r["acc"]), list(r["acc"].values()), ax=ax, label=f"SNN ({mode})",
                                       ann_acc=ann_acc if i == 0 else None)
        ax.set_title(f"{args.model}, {args.dataset.replace('_', '-')}" + (f", QCFS L={args.qcfs}" if args.qcfs else ""))
        fig.tight_layout()
        fig.savefig(args.figure, dpi=120)
        plt.close(fig)
    return result


if __name__ == "__main__":
    main()
