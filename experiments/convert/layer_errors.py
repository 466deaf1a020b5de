"""Per-layer conversion error of a QCFS ANN: each IF layer's rate x theta over T steps against the QCFS output.

    python experiments/convert/layer_errors.py QCFS_ANN.pt --images 500 --timesteps 8,64 [--signed]

``QCFS_ANN.pt``: a whole QCFS ANN (``convert_ann.py --qcfs L --save-ann``). For every IF layer (in graph
order; the residual sums are the inputs of the ``relu2`` layers) it prints, over the first ``--images``
Fashion-MNIST test images: the output error ``lambda * mean_t S_t - QCFS(z)`` (mean, mean |.|, mean over
channels of |per-channel mean|) and the input error ``mean_t z_t - z`` (the IF layer's input averaged over
the steps against the ANN's pre-activation), plus the accuracies on those images.
"""
from __future__ import annotations

import argparse

import torch

import neurosim.convert as nc
from neurosim.convert.modules import IFNeuron
from neurosim.data.mnist import load_dataset
from neurosim.snn.containers import reset_states


def _record(store_in, store_out, name):
    def hook(mod, inputs, output):
        store_in[name] = inputs[0].detach()
        store_out[name] = output.detach()
    return hook


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ann")
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--timesteps", default="8,64")
    ap.add_argument("--signed", action="store_true")
    ap.add_argument("--data", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    ann = torch.load(args.ann, weights_only=False).eval()
    xte, yte = load_dataset("fashion_mnist", "test", args.data, limit=args.images)
    x, y = torch.from_numpy(xte).float().div(255).unsqueeze(1), torch.from_numpy(yte).long()
    pre, post = {}, {}
    hooks = [m.register_forward_hook(_record(pre, post, n)) for n, m in ann.named_modules() if isinstance(m, nc.QCFS)]
    with torch.no_grad():
        print(f"QCFS ANN: {float((ann._forward(x).argmax(-1) == y).float().mean()):.4f} on {len(x)} images")
    for h in hooks:
        h.remove()
    snn = nc.ann_to_snn(ann, None, method="_forward", signed=args.signed)
    neurons = {n: m for n, m in snn.body.named_modules() if isinstance(m, IFNeuron)}
    for T in (int(t) for t in args.timesteps.split(",")):
        ins, outs = {}, {}
        hooks = [m.register_forward_hook(_record(ins, outs, n)) for n, m in neurons.items()]
        reset_states(snn)
        with torch.no_grad():
            o = snn.forward_steps(x.unsqueeze(0).expand(T, *x.shape))
        for h in hooks:
            h.remove()
        print(f"T={T} SNN{' (signed)' if args.signed else ''}: {float((o.mean(0).argmax(-1) == y).float().mean()):.4f}")
        print("layer                 lambda  out err mean  mean|.|  ch|mean|   in err mean  mean|.|")
        for n, m in neurons.items():
            k = n.removeprefix("model.")
            s = outs[n].reshape(T, len(x), *outs[n].shape[1:]).mean(0)
            s = s * m.scale if m.output_scale is None else s
            a = torch.nn.functional.avg_pool2d(post[k], 2) if m.pool else post[k]
            z = ins[n].reshape(T, len(x), *ins[n].shape[1:]).mean(0) if ins[n].shape[0] == T * len(x) else ins[n]
            z = z * m.scale if m.input_scale is None else z
            e, ez = s - a, z - pre[k]
            ch = e.transpose(0, 1).reshape(e.shape[1], -1).mean(1).abs().mean()
            print(f"{k:20s} {float(m.scale):6.3f}  {float(e.mean()):+.4f}  {float(e.abs().mean()):.4f}  {float(ch):.4f}"
                  f"   {float(ez.mean()):+.4f}  {float(ez.abs().mean()):.4f}")


if __name__ == "__main__":
    main()
