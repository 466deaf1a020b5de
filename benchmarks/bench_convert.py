"""Converted-SNN inference: neurosim vs spikingjelly 2.0 on the same converted Fashion-MNIST ConvNet, one run.

Network: the zoo's ``convnet`` ANN (conv3x3 32-BN-ReLU-avgpool2, conv3x3 64-BN-ReLU-avgpool2,
fc 256-ReLU, fc 10), trained here on Fashion-MNIST (``--epochs`` over the first ``--train-limit``
images, Adam 1e-3, batch 128, seed 0) or read from ``--ann`` (a model file of a ``convnet``, as
``neurosim train`` or ``experiments/convert/convert_ann.py --save-ann`` write it).

Both libraries convert **the same trained ANN** with the same calibration images (``--calibration``
training images, batches of 128) in mode ``99.9%`` and the same rate-coding recipe (IF neurons,
threshold balancing, reset by subtraction; BN folded into the convs): neurosim
``neurosim.convert.ann_to_snn`` (exact dataset percentile, scales folded into the weights);
spikingjelly ``ann2snn.Converter(RateCodingRecipe(loader, mode="99.9%"))`` (EMA of per-batch
percentiles, explicit scalers), built from a plain-torch copy of the ANN (spikingjelly's fx tracer
cannot trace neurosim's own Conv2d/BatchNorm2d subclasses; the weights are the same).

Timed: classifying ``--images`` test images at ``T`` steps (the analog image at every step,
output = mean/sum of the last layer over the steps, argmax), batches of ``--batch`` images for
both, ``torch.no_grad()``, states reset before each batch:

* neurosim: ``snn.forward_static(x, T)`` (the path ``accuracy_vs_timesteps`` and ``run_static``
  use: the layers before the first IF layer run once per image, the block IF (pool) -> conv2 -> IF
  (pool) -> flatten -> fc1 per image over the steps in one kernel, conv2 and fc1 on events
  (``neurosim.convert.static``), the last IF layer on the fused LIF kernel);
* spikingjelly, multi-step: ``set_step_mode(snn, "m")``, ``snn(x.expand(T, ...))`` (its fastest
  CPU route: every layer on ``[T*B, ...]``, IFNode's torch step loop);
* spikingjelly, single-step: ``T`` calls ``snn(x)`` (the route of spikingjelly's conversion example
  and tutorial, ``examples/cnn_mnist.py``).

Repeats alternate between the routes (same machine load); the table reports the minimum and the
median over ``--repeats`` and the ratios of the medians. Accuracies are printed as a check (the two
conversions differ in their scale estimates, so they differ by a few tenths of a percent).

    NEUROSIM_DATA=../shared/data python benchmarks/bench_convert.py                  # the headline run
    python benchmarks/bench_convert.py --images 400 --repeats 2 --train-limit 5000   # quick look
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def plain_copy(model: nn.Module) -> nn.Module:
    """A deep copy whose neurosim Conv2d/BatchNorm2d/Linear subclasses are the torch base classes."""
    m = copy.deepcopy(model)
    for mod in m.modules():
        for base in (nn.Conv2d, nn.BatchNorm2d, nn.Linear):
            if isinstance(mod, base) and type(mod) is not base:
                mod.__class__ = base
    return m


class Traceable(nn.Module):
    """``forward`` = the zoo model's ``_forward`` (its ``forward`` checks the input shape in Python)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x):  # noqa: D102
        return self.model._forward(x)


def train_ann(xtr, ytr, epochs: int, seed: int):
    from neurosim.models import build_model

    ann = build_model("convnet", seed=seed)
    opt = torch.optim.Adam(ann.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        ann.train()
        idx = rng.permutation(len(xtr))
        for s in range(0, len(xtr), 128):
            j = torch.from_numpy(idx[s:s + 128])
            opt.zero_grad()
            F.cross_entropy(ann(xtr[j]), ytr[j]).backward()
            opt.step()
    return ann.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="folder with fashion_mnist/ (default $NEUROSIM_DATA)")
    ap.add_argument("--ann", default=None, help="model file of a trained convnet (default: train one here)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=20000)
    ap.add_argument("--calibration", type=int, default=512)
    ap.add_argument("--images", type=int, default=1000, help="test images classified per timed pass")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("-T", "--timesteps", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for both (default: torch's)")
    ap.add_argument("--which", default="neurosim,sj-multi,sj-single")
    ap.add_argument("--out", default=None, help="JSON file with every number")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    import neurosim.convert as nc
    from neurosim.data.mnist import load_dataset
    from neurosim.models import load_model
    from neurosim.snn import reset_states
    from spikingjelly.activation_based import ann2snn, functional

    def tensors(split, limit):
        x, y = load_dataset("fashion_mnist", split, args.data, limit=limit)
        return torch.from_numpy(x).float().div_(255).unsqueeze(1), torch.from_numpy(y).long()

    t0 = time.perf_counter()
    xtr, ytr = tensors("train", args.train_limit)
    xte, yte = tensors("test", args.images)
    if args.ann:
        ann = load_model(args.ann).model.eval()
        source = args.ann
    else:
        ann = train_ann(xtr, ytr, args.epochs, 0)
        source = f"trained here: {args.epochs} epoch(s) on {len(xtr)} images, seed 0"
    with torch.no_grad():
        ann_acc = float((torch.cat([ann(xte[s:s + 250]) for s in range(0, len(xte), 250)]).argmax(1) == yte)
                        .float().mean())
    setup_s = time.perf_counter() - t0
    calib = [xtr[s:s + 128] for s in range(0, min(args.calibration, len(xtr)), 128)]
    ours = nc.ann_to_snn(ann, calib, mode="99.9%", method="_forward")
    sj = ann2snn.Converter(recipe=ann2snn.RateCodingRecipe([(c, 0) for c in calib], mode="99.9%")).convert(
        Traceable(plain_copy(ann)))
    T, B = args.timesteps, args.batch
    batches = [xte[s:s + B] for s in range(0, len(xte), B)]

    def run_neurosim():
        outs = []
        for xb in batches:
            reset_states(ours)
            outs.append(ours.forward_static(xb, T).mean(0))
        return torch.cat(outs)

    def run_sj_multi():
        functional.set_step_mode(sj, "m")
        outs = []
        for xb in batches:
            functional.reset_net(sj)
            outs.append(sj(xb.unsqueeze(0).expand(T, *xb.shape).contiguous()).mean(0))
        return torch.cat(outs)

    def run_sj_single():
        functional.set_step_mode(sj, "s")
        outs = []
        for xb in batches:
            functional.reset_net(sj)
            acc = 0
            for _ in range(T):
                acc = acc + sj(xb)
            outs.append(acc / T)
        return torch.cat(outs)

    routes = {"neurosim": run_neurosim, "sj-multi": run_sj_multi, "sj-single": run_sj_single}
    which = [w for w in args.which.split(",") if w]
    for w in which:
        if w not in routes:
            raise SystemExit(f"error: --which {w!r} is not one of {', '.join(routes)}")
    times = {w: [] for w in which}
    acc = {}
    with torch.no_grad():
        for w in which:  # warm-up (Numba compile, oneDNN primitives) and accuracy
            acc[w] = float((routes[w]().argmax(1) == yte).float().mean())
        for _ in range(args.repeats):
            for w in which:
                t1 = time.perf_counter()
                routes[w]()
                times[w].append(time.perf_counter() - t1)
    med = {w: statistics.median(v) for w, v in times.items()}
    print(f"converted convnet, Fashion-MNIST, {len(xte)} test images, T = {T}, batch {B}, "
          f"torch threads {torch.get_num_threads()}; ANN ({source}) accuracy {ann_acc:.4f}; setup {setup_s:.0f} s")
    print(f"| route | min s | median s | images/s | accuracy | ratio (this route / neurosim, medians) |")
    print("|---|---|---|---|---|---|")
    for w in which:
        ratio = med[w] / med["neurosim"] if "neurosim" in med else float("nan")
        print(f"| {w} | {min(times[w]):.3f} | {med[w]:.3f} | {len(xte) / med[w]:.0f} | {acc[w]:.4f} | {ratio:.2f}x |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"command": " ".join(["python"] + sys.argv), "machine": platform.processor() or platform.machine(),
                       "torch": torch.__version__, "threads": torch.get_num_threads(), "T": T, "batch": B,
                       "images": len(xte), "ann": source, "ann_acc": ann_acc, "accuracy": acc, "times_s": times,
                       "median_s": med}, f, indent=1)
    return med, acc


if __name__ == "__main__":
    main()
