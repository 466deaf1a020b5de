"""Three-factor (error-modulated, attention-gated) readout vs FORCE after a change in stimulus
timing and probability, without any reset (ALGORITHMS.md §6 template).

Heterogeneous Izhikevich reservoir (2003 heterogeneity, per-neuron readout trace time constants
log-uniform in 10-300 ms). Two cues; the readout for cue k must output the expected outcome
``p_k * bump(t - latency_k)`` after its cue. Phase 1: latencies (60, 120) ms, probabilities
(1.0, 0.5); at trial ``change_at`` the latencies swap to (120, 60) ms and the probabilities
become (0.3, 0.9). Teaching signal: the realised outcome (stochastic), gate = 1 during trials.
Readouts run online through the whole run; FORCE is not reset (a reset-at-change FORCE is shown
for reference). Score: MSE to the expected output per trial, averaged over blocks.

    python experiments/reservoir/three_factor_timing.py --trials 600 --units 300 --seed 0
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import neurosim.reservoir as R


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=600)
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eta", type=float, default=5e-4)
    ap.add_argument("--alpha", type=float, default=1.0)
    ap.add_argument("--out", default="experiments/reservoir/results")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    trial_len, change = 250, args.trials // 2
    task = R.timing_task(args.trials, trial_len=trial_len, latency=(60, 120), prob=(1.0, 0.5),
                         latency_after=(120, 60), prob_after=(0.3, 0.9), change_at=change, width=15.0,
                         rng=args.seed)
    izh = R.IzhikevichReservoir(args.units, density=0.1, w_exc=0.5, w_inh=1.0, input_scale=40.0, input_density=1.0,
                                noise_exc=0.5, noise_inh=0.2, tau_trace=(10.0, 300.0), rng=args.seed)
    sp, tr = izh.run_full(task.inputs)
    rate_hz = float(sp.mean() * 1000)
    del sp
    X = np.ascontiguousarray(np.hstack([tr, np.ones((len(tr), 1))]))
    t_res = time.time() - t0
    outs, walls = {}, {}
    t1 = time.time()
    tf = R.ThreeFactorReadout(X.shape[1], 2, eta=args.eta)
    outs["three_factor"] = tf.train(X, task.targets, task.gate)
    walls["three_factor"] = time.time() - t1
    t1 = time.time()
    fo = R.FORCEReadout(X.shape[1], 2, alpha=args.alpha)
    outs["force_no_reset"] = fo.train(X, task.targets, task.gate)
    walls["force_no_reset"] = time.time() - t1
    t1 = time.time()
    fr = R.FORCEReadout(X.shape[1], 2, alpha=args.alpha)
    cut = change * trial_len
    z1 = fr.train(X[:cut], task.targets[:cut], task.gate[:cut])
    fr.reset_p()
    outs["force_reset_at_change"] = np.vstack([z1, fr.train(X[cut:], task.targets[cut:], task.gate[cut:])])
    walls["force_reset_at_change"] = time.time() - t1
    # offline optimum (ridge on the phase's own second half, evaluated on the same trials) for scale
    per_trial = {k: ((z - task.expected) ** 2).reshape(args.trials, trial_len, 2).mean(axis=(1, 2))
                 for k, z in outs.items()}
    blocks = {"phase1_last_50": (change - 50, change), "phase2_first_50": (change, change + 50),
              "phase2_trials_50_100": (change + 50, change + 100), "phase2_last_50": (args.trials - 50, args.trials)}
    table = {k: {b: float(v[a:c].mean()) for b, (a, c) in blocks.items()} for k, v in per_trial.items()}
    ref = float((task.expected ** 2).reshape(args.trials, trial_len, 2).mean(axis=(1, 2))[change:].mean())
    # peak timing of the cue-k readout after the change (last 50 trials)
    peaks = {}
    for k, z in outs.items():
        zt = z.reshape(args.trials, trial_len, 2)
        lat = {}
        for cue in (0, 1):
            sel = (task.cue == cue) & (np.arange(args.trials) >= args.trials - 50)
            lat[f"cue{cue}_peak_ms"] = int(np.argmax(zt[sel, :, cue].mean(0)))
            lat[f"cue{cue}_peak_amp"] = float(zt[sel, :, cue].mean(0).max())
        peaks[k] = lat
    summary = {"mse_blocks": table, "zero_predictor_mse_phase2": ref, "peaks_last_50": peaks,
               "expected_after": {"cue0": {"latency_ms": 120, "amp": 0.3}, "cue1": {"latency_ms": 60, "amp": 0.9}},
               "reservoir_rate_hz": rate_hz,
               "wall_s": {"reservoir": round(t_res, 1), **{k: round(v, 1) for k, v in walls.items()},
                          "total": round(time.time() - t0, 1)},
               "args": vars(args)}
    (out / "three_factor_timing.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
