"""LSM on MNIST converted to spikes/events: classification (software vs resistive-memory weights)
and zero-shot cross-modal retrieval with frozen LSM encoders + contrastive projection heads.

Modality A ("frames"): static MNIST images, Bernoulli rate-coded over T steps (784 inputs).
Modality B ("events"): *different* MNIST samples recorded by the simulated saccade event camera
(three 100 ms saccades, 34x34 sensor, log-intensity threshold), binned into T frames, 2x2
sum-pooled to 17x17, two polarities, binarised (578 inputs) -- the N-MNIST recording principle.

Classification: spike counts in 3 time windows -> RidgeCV classifier (and an ANN readout).
Zero-shot (ALGORITHMS.md §4.3 protocol): heads (Linear + GELU, 64 dims, CLIP loss) trained on
pairs of *different* samples of the same class from classes 0-7; top-1 retrieval events->frames
and frames->events on unseen classes 8-9 (chance 50 %) and on held-out samples of 0-7 (chance 12.5 %).

    python experiments/reservoir/lsm_mnist.py --train 3000 --test 1000 --units 500 --seed 0
    python experiments/reservoir/lsm_mnist.py --train 1000 --test 500 --units 300 --epochs 10 \
        --pairs-per-epoch 800 --no-ann --seed 0
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import neurosim.reservoir as R
from neurosim.data.encoders import rate_encode
from neurosim.data.events import SaccadeCamera
from neurosim.data.mnist import load_mnist


def frames_modality(images, T, seed):
    x = rate_encode(images.reshape(len(images), -1), T, rng=seed)  # [T, B, 784]
    return np.ascontiguousarray(np.moveaxis(x, 0, 1))


def events_modality(images, T, seed, chunk=500):
    cam = SaccadeCamera()
    out = []
    for s in range(0, len(images), chunk):
        fr = cam.frames(images[s:s + chunk], n_bins=T, rng=seed + s)  # [B, T, 2, 34, 34]
        fr = fr.reshape(*fr.shape[:3], 17, 2, 17, 2).sum(axis=(4, 6))  # 2x2 pooling
        out.append((fr > 0).astype(np.uint8).reshape(len(fr), T, -1))
    return np.concatenate(out)


def lsm_for(weights, seed, units):
    w = R.ResistiveDevice(n_levels=32, sigma_read=0.02) if weights == "device" else "gaussian"
    return R.LSM(units, density=0.1, input_density=0.1, input_scale=2.0, rec_scale=0.5, weights=w, rng=seed)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--units", type=int, default=500)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--pairs-per-epoch", type=int, default=2000)
    ap.add_argument("--no-ann", action="store_true", help="skip the ANN readout (ridge only)")
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--out", default="experiments/reservoir/results")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # tiny batches: threads only add overhead (and spin on a shared machine)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    X, y = load_mnist("mnist", "train", args.data)
    Xt, yt = load_mnist("mnist", "test", args.data)
    n, m = args.train, args.test
    # different samples per modality (A: first block, B: second block)
    data = {"frames": (X[:n], y[:n], Xt[:m], yt[:m]), "events": (X[n:2 * n], y[n:2 * n], Xt[m:2 * m], yt[m:2 * m])}
    inputs, timing = {}, {}
    for mod, (a, la, b, lb) in data.items():
        t1 = time.time()
        enc = frames_modality if mod == "frames" else events_modality
        inputs[mod] = (enc(a, args.steps, args.seed), la, enc(b, args.steps, args.seed + 1), lb)
        timing[f"encode_{mod}_s"] = round(time.time() - t1, 1)
        print(mod, "encoded", timing[f"encode_{mod}_s"], "s; mean input activity",
              float(inputs[mod][0].mean()), flush=True)
    results = {"classification": {}, "zero_shot": {}}
    for weights in ("software", "device"):
        feats = {}
        for k, mod in enumerate(("frames", "events")):
            t1 = time.time()
            lsm = lsm_for(weights, 100 * args.seed + k, args.units)
            tr, ltr, te, lte = inputs[mod]
            ftr, fte = lsm.transform(tr, n_windows=3), lsm.transform(te, n_windows=3)
            feats[mod] = (ftr, ltr, fte, lte)
            cv = R.RidgeCV((1e-1, 1e1, 1e3, 1e5), k=3, shuffle=True, rng=args.seed).fit(ftr, R.one_hot(ltr, 10))
            ann_acc = None
            if not args.no_ann:
                ann = R.ANNReadout(hidden=(200,), epochs=args.epochs, lr=1e-3, batch_size=100, rng=args.seed)
                ann_acc = R.accuracy(lte, ann.fit(ftr, ltr, 10).classify(fte))
            results["classification"][f"{mod}/{weights}"] = {
                "ridge_acc": R.accuracy(lte, cv.classify(fte)), "ridge_alpha": cv.alpha_,
                "ann_acc": ann_acc, "rate_per_step": float(ftr.mean() / args.steps * 3),
                "wall_s": round(time.time() - t1, 1)}
            print(weights, mod, results["classification"][f"{mod}/{weights}"], flush=True)
        from neurosim.reservoir.contrastive import ContrastiveHeads

        t1 = time.time()
        fa, la, fa_te, la_te = feats["frames"]
        fb, lb, fb_te, lb_te = feats["events"]
        seen_a, seen_b = la < 8, lb < 8
        heads = ContrastiveHeads(fa.shape[1], fb.shape[1], proj_dim=64, temperature=0.1, lr=1e-3, epochs=args.epochs,
                                 batch_size=8, pairs_per_epoch=args.pairs_per_epoch, rng=args.seed)
        heads.fit(fa[seen_a], la[seen_a], fb[seen_b], lb[seen_b])
        za, zb = heads.embed(fa_te, "a"), heads.embed(fb_te, "b")
        res = {}
        for name, sel_a, sel_b in (("unseen_8_9", la_te >= 8, lb_te >= 8), ("seen_0_7_heldout", la_te < 8, lb_te < 8)):
            res[name] = {"events_to_frames_top1": R.top1_retrieval(zb[sel_b], lb_te[sel_b], za[sel_a], la_te[sel_a]),
                         "frames_to_events_top1": R.top1_retrieval(za[sel_a], la_te[sel_a], zb[sel_b], lb_te[sel_b]),
                         "n_query_events": int(sel_b.sum()), "n_query_frames": int(sel_a.sum())}
        res["final_loss"] = heads.loss_history_[-1]
        res["wall_s"] = round(time.time() - t1, 1)
        results["zero_shot"][weights] = res
        print(weights, "zero-shot", res, flush=True)
    results["args"] = vars(args)
    results["timing"] = timing
    results["wall_s"] = round(time.time() - t0, 1)
    (out / f"lsm_mnist_train{args.train}_units{args.units}.json").write_text(json.dumps(results, indent=2))
    print("total", results["wall_s"], "s")


if __name__ == "__main__":
    main()
