"""Training check: the issue's spiking ConvNet on Fashion-MNIST, neurosim vs spikingjelly, one run.

Network (both libraries, identical initial weights, identical batch order)::

    conv3x3 32 - BN - LIF - avgpool2, conv3x3 64 - BN - LIF - avgpool2,
    linear 256 - LIF, linear 10; logits averaged over T

LIF: tau 2, v_th 1, hard reset to 0, decay_input, ATan(alpha=2) surrogate, detach_reset.
T = 4 (direct encoding: the image is repeated), Adam lr 1e-3, batch 128, images scaled to [0, 1].
neurosim: ``neurosim.models.get_model("spiking_convnet", fuse_pool=True)`` (fused Numba LIF
forward/BPTT on CPU, each LIF fused with the 2x2 average pooling after it: same values and
gradients as separate layers); ``neurosim-static``: the same plus ``static_input=True`` (conv1 +
bn1 run once on the repeated image instead of T times, as spikingjelly's clock_driven tutorial's
``static_conv``; spikingjelly's 2.0 example and the spikingjelly model here do not do this);
``neurosim-nofuse``: the plain model with separate pooling layers;
spikingjelly 2.0.0: ``layer.SeqToANNContainer`` + ``neuron.LIFNode(step_mode="m")``, built like
spikingjelly's own ``activation_based/examples/conv_fashion_mnist.py`` (image expanded to
``[T, B, ...]``, every layer run on all T steps; no layer is computed once for the static image
by either side).
Epochs alternate between the libraries so that both see the same machine load. Reports test
accuracy after every epoch (eval-mode BN, whole test set) and training samples/s (training
loop only, evaluation excluded).

    NEUROSIM_DATA=../shared/data python benchmarks/bench_train_fmnist.py            # full check
    python benchmarks/bench_train_fmnist.py --epochs 1 --limit 2048 --test-limit 1000   # quick look
    python benchmarks/bench_train_fmnist.py --device cuda --epochs 2 --which neurosim,spikingjelly  # GPU

GPU mode (``--device cuda``): the data set, both models and the optimizers live on the GPU;
neurosim's layers take their CUDA paths (the LIF + pooling layers their Triton kernels when
triton is installed, Conv2d / BatchNorm2d are torch's), spikingjelly 2.0 picks its own CUDA
implementation (``SJ_LIF_CUDA_IMPLEMENTATION``, default auto). Each epoch's time ends with a
``torch.cuda.synchronize()``. ``--amp bf16`` trains both under ``torch.autocast`` to bfloat16.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def build_neurosim(backend: str = "auto", fuse_pool: bool = True, static_input: bool = False):
    from neurosim.models import get_model

    # the network (default sizes)
    m = get_model("spiking_convnet", fuse_pool=fuse_pool, static_input=static_input)
    if backend != "auto":
        for mod in m.modules():
            if hasattr(mod, "backend"):
                mod.backend = backend
    return m


class SJConvNet(nn.Module):
    """The same network on spikingjelly 2.0 multi-step LIFNode."""

    def __init__(self):
        super().__init__()
        from spikingjelly.activation_based import layer, neuron, surrogate

        def lif():
            return neuron.LIFNode(tau=2.0, decay_input=True, v_threshold=1.0, v_reset=0.0,
                                  surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="m")

        self.features = nn.Sequential(
            layer.SeqToANNContainer(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32)), lif(),
            layer.SeqToANNContainer(nn.AvgPool2d(2)),
            layer.SeqToANNContainer(nn.Conv2d(32, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64)), lif(),
            layer.SeqToANNContainer(nn.AvgPool2d(2)))
        self.fc1 = nn.Linear(64 * 7 * 7, 256)
        self.sn3 = lif()
        self.fc2 = nn.Linear(256, 10)

    def forward(self, x):
        x = self.features(x).flatten(2)
        return self.fc2(self.sn3(self.fc1(x))).mean(0)

    def reset_states(self):
        from spikingjelly.activation_based import functional

        functional.reset_net(self)


def copy_weights(src: nn.Module, dst: nn.Module) -> None:
    """Copy parameters and buffers in registration order (same shapes required)."""
    s = [t for _, t in src.state_dict().items()]
    d = dst.state_dict()
    if len(s) != len(d):
        raise RuntimeError(f"state sizes differ: {len(s)} vs {len(d)}")
    new = {}
    for (k, v), w in zip(d.items(), s):
        if v.shape != w.shape:
            raise RuntimeError(f"{k}: shape {tuple(v.shape)} vs {tuple(w.shape)}")
        new[k] = w.clone()
    dst.load_state_dict(new)


def reset(model):
    if hasattr(model, "reset_states"):
        model.reset_states()
    else:
        from neurosim.snn import reset_states

        reset_states(model)


def _sync(x):
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)


def _autocast(x, amp):
    from contextlib import nullcontext

    return nullcontext() if amp == "none" else torch.autocast(x.device.type, dtype=torch.bfloat16)


def train_epoch(model, opt, x, y, perm, batch_size, T, progress_every=0, tag="", amp="none"):
    model.train()
    _sync(x)
    correct, seen = 0, 0
    t0 = time.perf_counter()
    for i, s in enumerate(range(0, len(perm), batch_size)):
        if progress_every and i and i % progress_every == 0:
            el = time.perf_counter() - t0
            print(f"  [{tag}] {seen} samples, {seen / el:.1f} samples/s, train acc {correct / seen:.4f}, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        idx = perm[s:s + batch_size]
        xb = x[idx]
        yb = y[idx]
        with _autocast(xb, amp):
            out = model(xb.unsqueeze(0).expand(T, *xb.shape))
            loss = F.cross_entropy(out, yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        reset(model)
        correct += int((out.argmax(1) == yb).sum())
        seen += len(idx)
    _sync(x)
    return time.perf_counter() - t0, correct / seen


@torch.no_grad()
def evaluate(model, x, y, T, batch_size=1000, amp="none"):
    model.eval()
    correct = 0
    for s in range(0, len(x), batch_size):
        xb = x[s:s + batch_size]
        with _autocast(xb, amp):
            out = model(xb.unsqueeze(0).expand(T, *xb.shape))
        reset(model)
        correct += int((out.argmax(1) == y[s:s + batch_size]).sum())
    model.train()
    return correct / len(x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--limit", type=int, default=None, help="training samples (default: all 60,000)")
    p.add_argument("--test-limit", type=int, default=None, help="test samples (default: all 10,000)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("-T", "--timesteps", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None, help="data folder (default: $NEUROSIM_DATA)")
    p.add_argument("--which", default="neurosim,neurosim-static,spikingjelly",
                   help="comma list of neurosim, neurosim-static (conv1+bn1 once per image), spikingjelly, "
                        "neurosim-nofuse (separate pooling layers), neurosim-torch (pure-torch LIF loop)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    p.add_argument("--progress-every", type=int, default=0, help="print a progress line every N batches")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--amp", default="none", choices=("none", "bf16"), help="bf16: train under torch.autocast")
    a = p.parse_args(argv)
    dev = torch.device(a.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda: no CUDA device (torch.cuda.is_available() is False); use --device cpu")
    if a.threads:
        torch.set_num_threads(a.threads)
    from neurosim.data.mnist import load_dataset

    xtr, ytr = load_dataset("fashion_mnist", "train", root=a.data, limit=a.limit)
    xte, yte = load_dataset("fashion_mnist", "test", root=a.data, limit=a.test_limit)
    to_x = lambda v: torch.from_numpy(v).float().div_(255.0).unsqueeze(1).contiguous()  # noqa: E731
    xtr, xte = to_x(xtr), to_x(xte)
    ytr, yte = torch.from_numpy(ytr.astype(np.int64)), torch.from_numpy(yte.astype(np.int64))
    xtr, ytr, xte, yte = (t.to(dev) for t in (xtr, ytr, xte, yte))

    libs = [w.strip() for w in a.which.split(",") if w.strip()]
    torch.manual_seed(a.seed)
    ref = build_neurosim()
    models = {}
    for lib in libs:
        if lib == "neurosim":
            m = build_neurosim()
        elif lib == "neurosim-static":
            m = build_neurosim(static_input=True)
        elif lib == "neurosim-nofuse":
            m = build_neurosim(fuse_pool=False)
        elif lib == "neurosim-torch":
            m = build_neurosim("torch", fuse_pool=False)
        elif lib == "spikingjelly":
            m = SJConvNet()
        else:
            raise SystemExit(f"unknown library {lib!r}")
        copy_weights(ref, m)
        m.to(dev)
        models[lib] = (m, torch.optim.Adam(m.parameters(), lr=a.lr))
    # warm-up (Numba compilation, allocator) on one small batch, not timed; weights restored after
    for lib, (m, _) in models.items():
        state = {k: v.clone() for k, v in m.state_dict().items()}
        with _autocast(xtr, a.amp):
            out = m(xtr[:16].unsqueeze(0).expand(a.timesteps, 16, *xtr.shape[1:]))
        out.float().sum().backward()
        m.zero_grad(set_to_none=True)
        reset(m)
        m.load_state_dict(state)

    rng = np.random.default_rng(a.seed)
    rows = []
    print(f"# Fashion-MNIST spiking ConvNet, T={a.timesteps}, batch {a.batch_size}, Adam {a.lr}, "
          f"{len(xtr)} train / {len(xte)} test, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}, load avg {os.getloadavg()[0]:.1f}, device "
          f"{torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}, amp {a.amp}")
    print("| epoch | library | train s | samples/s | train acc | test acc |")
    print("|---|---|---|---|---|---|")
    for ep in range(1, a.epochs + 1):
        perm = torch.from_numpy(rng.permutation(len(xtr)))
        for lib, (m, opt) in models.items():
            wall, tr_acc = train_epoch(m, opt, xtr, ytr, perm.to(dev), a.batch_size, a.timesteps, a.progress_every,
                                       f"{lib} epoch {ep}", amp=a.amp)
            te_acc = evaluate(m, xte, yte, a.timesteps, amp=a.amp)
            r = {"epoch": ep, "library": lib, "train_s": round(wall, 2), "samples_per_s": round(len(xtr) / wall, 1),
                 "train_acc": round(tr_acc, 4), "test_acc": round(te_acc, 4),
                 "load_avg": round(os.getloadavg()[0], 2)}
            rows.append(r)
            print(f"| {ep} | {lib} | {wall:.1f} | {r['samples_per_s']:.0f} | {tr_acc:.4f} | {te_acc:.4f} |",
                  flush=True)
    if "spikingjelly" in models:
        tot = {lib: sum(r["train_s"] for r in rows if r["library"] == lib) for lib in models}
        final = {lib: [r["test_acc"] for r in rows if r["library"] == lib][-1] for lib in models}
        for lib in models:
            if lib.startswith("neurosim"):
                print(f"\n{lib} speed-up over spikingjelly (samples/s, all epochs): "
                      f"{tot['spikingjelly'] / tot[lib]:.2f}x; final test accuracy {lib} {final[lib]:.4f}, "
                      f"spikingjelly {final['spikingjelly']:.4f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump({"args": vars(a), "rows": rows}, fh, indent=2)
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
