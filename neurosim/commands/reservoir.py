"""``neurosim reservoir``: run a reservoir on a task and write ``summary.json``.

Kinds and tasks (the first task of each kind is its default):

* ``ei-adaptive``: ``memory_capacity`` | ``narma10`` | ``mackey_glass`` -- the E/I rate
  reservoir after homeostatic self-adaptation, against the same reservoir without adaptation.
* ``lsm``: ``classification`` (MNIST from ``--data``, else the embedded digits, rate-coded)
  with software and resistive-memory weights | ``separation``.
* ``izhikevich``: ``timing`` (three-factor vs FORCE after a timing/probability change) |
  ``memory_capacity``.

Before anything is drawn, ``run`` estimates the peak memory of the whole task (weights,
state arrays, features, readout) and raises ``ValueError`` with the estimate, the memory
available and the largest ``--size`` that fits when it does not fit.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import numpy as np

from neurosim import config
from . import OUT_HELP, Option, StageResult, check_data_dir, ensure_out_dir, write_json

TASKS = {
    "ei-adaptive": ("memory_capacity", "narma10", "mackey_glass"),
    "lsm": ("classification", "separation"),
    "izhikevich": ("timing", "memory_capacity"),
}
DEFAULT_SIZE = {"ei-adaptive": 200, "lsm": 300, "izhikevich": 200}
#: the task ``--task`` defaults to for each kind (the first listed)
DEFAULT_TASK = {kind: tasks[0] for kind, tasks in TASKS.items()}
#: steps / samples the tasks use (shared by the runs and the memory estimate)
EI_STEPS, LSM_TRAIN, LSM_TEST, LSM_T, LSM_WINDOWS, IZH_TRIALS, IZH_TRIAL_LEN, IZH_MC_STEPS = \
    4000, 2000, 500, 30, 3, 200, 250, 4000


def tasks_help() -> str:
    """One line per kind: its tasks, the default first (used by ``--help``)."""
    return "; ".join(f"{kind}: {tasks[0]} (default), {', '.join(tasks[1:])}" for kind, tasks in TASKS.items())


def _ei_kwargs(seed):
    return dict(density=0.1, exc_scale=2.0, inh_scale=2.0, bias=-1.0, eta=0.05, rng=seed)


def _lsm_kwargs(seed, weights):
    return dict(density=0.1, input_density=0.1, input_scale=2.0, rec_scale=0.5, weights=weights, rng=seed)


def _izh_kwargs(task, seed):
    if task == "memory_capacity":
        return dict(input_scale=10.0, noise_exc=1.0, noise_inh=0.5, tau_trace=(5.0, 50.0), rng=seed)
    return dict(density=0.1, w_exc=0.5, w_inh=1.0, input_scale=40.0, input_density=1.0, noise_exc=0.5,
                noise_inh=0.2, tau_trace=(10.0, 300.0), rng=seed)


def task_memory_bytes(kind: str, task: str, size: int, *, n_steps: int = EI_STEPS, n_train: int = LSM_TRAIN,
                      n_test: int = LSM_TEST, T: int = LSM_T, n_trials: int = IZH_TRIALS) -> int:
    """Estimated peak bytes of running ``kind`` on ``task`` with ``size`` units (an upper bound).

    The maximum over the phases of the run: building the reservoir (its ``memory_bytes``);
    running it (state arrays ``[steps, size]``); the readout (ridge ``[F, F]`` normal matrix or
    FORCE's ``P``), each next to what is still alive then (the weights, ``weight_bytes``);
    plus 10 % for small temporaries not counted. Checked against ``tracemalloc`` at size 600:
    1.05-1.6x the measured peak.
    """
    return int(1.1 * _task_bytes(kind, task, int(size), n_steps, n_train, n_test, T, n_trials))


def _task_bytes(kind, task, n, n_steps, n_train, n_test, T, n_trials):
    import neurosim.reservoir as R
    from neurosim.reservoir.memory import ridge_fit_bytes

    if kind == "ei-adaptive":
        node = R.EIReservoir(units=1, **_ei_kwargs(0))
        build, kept = node.memory_bytes(1, n), node.weight_bytes(1, n)
        S = n_steps // 2
        readout = (ridge_fit_bytes(S, n, 100) + 8 * n_steps * 100 if task == "memory_capacity"
                   else ridge_fit_bytes(2 * (S - S // 3), n, 1))
        # one reservoir at a time; the previous run's states [steps, n] stay alive until replaced
        return max(build + 8 * n_steps * n, kept + 24 * n_steps * n, kept + 16 * n_steps * n + readout)
    if kind == "lsm":
        pixels, F = 784, LSM_WINDOWS * n
        data = 10 * T * pixels * n_train + T * pixels * (n_train + n_test)  # rate coding: random + mask
        kept_data = T * pixels * (n_train + n_test)
        node = R.LSM(units=1, **_lsm_kwargs(0, R.ResistiveDevice(n_levels=32)))  # the larger of the two
        build, kept = node.memory_bytes(pixels, n), node.weight_bytes(pixels, n)
        chunk = min(256, n_train)
        transform = 6 * chunk * T * n + 16 * (n_train + n_test) * F  # spikes uint8 x2 + float32; features
        readout = ridge_fit_bytes(2 * (n_train - n_train // 3), F, 10) if task == "classification" else 16 * n_test * F
        feats = 8 * (n_train + n_test) * F
        return max(data, kept_data + build, kept_data + kept + transform, kept_data + feats + readout)
    steps = n_trials * IZH_TRIAL_LEN if task == "timing" else IZH_MC_STEPS
    d = 2 if task == "timing" else 1
    node = R.IzhikevichReservoir(units=1, **_izh_kwargs(task, 0))
    build, kept = node.memory_bytes(d, n), node.weight_bytes(d, n)
    run = 24 * steps * n  # noise + input current, then current, spikes and traces
    # timing: spikes, traces, X = [traces, 1] and the x * x of the three-factor check; FORCE's P
    readout = (32 * steps * n + 16 * (n + 1) ** 2 if task == "timing"
               else 8 * steps * n + ridge_fit_bytes(steps // 2, n, 50) + 8 * steps * 50)
    return max(build, kept + run, kept + readout)


def _ei(task, size, seed, n_steps=EI_STEPS, on_step=None):
    import neurosim.reservoir as R

    kw = _ei_kwargs(seed)
    if task == "memory_capacity":
        u_tr, u_te = R.memory_task_input(n_steps, rng=seed + 1), R.memory_task_input(n_steps, rng=seed + 2)
        y_te, scale = None, 0.1
    elif task == "narma10":
        (u_tr, _), (u_te, y_te) = R.narma10(n_steps, rng=seed + 1), R.narma10(n_steps, rng=seed + 2)
        u_tr, u_te, scale = (u_tr - 0.25) * 4, (u_te - 0.25) * 4, 0.3
    else:
        x = (R.mackey_glass(2 * n_steps + 10, discard=300) - 0.9) / 0.23
        u_tr, u_te, y_te, scale = x[:n_steps], x[n_steps:2 * n_steps], x[n_steps + 10:2 * n_steps + 10], 0.3
    scores = {}
    for name in ("baseline", "adapted"):
        res = R.EIReservoir(size, input_scale=scale, **kw).initialize(1)
        if name == "adapted":
            res.adapt(u_tr[:, None])
            res.reset()
        st = res.run(u_te[:, None])
        if task == "memory_capacity":
            mc, mck = R.memory_capacity(st, u_te, 100, washout=200)
            scores[name] = {"memory_capacity": mc, "mc_k": mck.round(4).tolist()}
        else:
            w, half = 200, 200 + (n_steps - 200) // 2
            cv = R.RidgeCV((1e-8, 1e-5, 1e-2, 1.0), k=3).fit(st[w:half], y_te[w:half])
            scores[name] = {"nrmse": R.nrmse(y_te[half:], cv.predict(st[half:])), "alpha": cv.alpha_}
        scores[name]["mean_rate"] = float(st.mean())
        if on_step is not None:
            on_step(f"E/I {name}")
        del res, st  # one reservoir and its states at a time (what task_memory_bytes assumes)
    return scores


def _digits(data, n_train, n_test, seed):
    if data is not None:
        from neurosim.data.mnist import load_mnist

        X, y = load_mnist("mnist", "train", data)
        Xt, yt = load_mnist("mnist", "test", data)
        return X[:n_train], y[:n_train], Xt[:n_test], yt[:n_test], "mnist"
    from neurosim.data.embedded import load_embedded

    X, y = load_embedded("train", n=n_train, seed=seed)
    Xt, yt = load_embedded("test", n=n_test, seed=seed)
    return X, y, Xt, yt, "embedded"


def _lsm(task, size, seed, data, n_train=LSM_TRAIN, n_test=LSM_TEST, T=LSM_T, on_step=None):
    import neurosim.reservoir as R
    from neurosim.data.encoders import rate_encode

    X, y, Xt, yt, source = _digits(data, n_train, n_test, seed)

    def enc(imgs, s):
        return np.ascontiguousarray(np.moveaxis(rate_encode(imgs.reshape(len(imgs), -1), T, rng=s), 0, 1))

    tr, te = enc(X, seed + 1), enc(Xt, seed + 2)
    out = {"data": source, "n_train": int(len(X)), "n_test": int(len(Xt))}
    for wname, w in (("software", "gaussian"), ("device", R.ResistiveDevice(n_levels=32))):
        lsm = R.LSM(size, **_lsm_kwargs(seed, w))
        ftr, fte = lsm.transform(tr, n_windows=LSM_WINDOWS), lsm.transform(te, n_windows=LSM_WINDOWS)
        if task == "classification":
            cv = R.RidgeCV((1e-1, 1e1, 1e3, 1e5), k=3, shuffle=True, rng=seed).fit(ftr, R.one_hot(y, 10))
            out[wname] = {"accuracy": R.accuracy(yt, cv.classify(fte)), "alpha": cv.alpha_}
        else:
            out[wname] = {"separation": R.separation(fte, yt),
                          "input_separation": R.separation(te.sum(1).astype(float), yt)}
        out[wname]["mean_spikes_per_neuron"] = float(ftr.sum(1).mean() / size)
        if on_step is not None:
            on_step(f"LSM {wname}")
        del lsm, ftr, fte  # one reservoir and its features at a time (what task_memory_bytes assumes)
    return out


def _izhikevich(task, size, seed, n_trials=IZH_TRIALS):
    import neurosim.reservoir as R

    if task == "memory_capacity":
        u = R.memory_task_input(IZH_MC_STEPS, rng=seed + 1)
        izh = R.IzhikevichReservoir(size, **_izh_kwargs(task, seed))
        mc, mck = R.memory_capacity(izh.run(u[:, None]), u, 50, washout=200, alpha=1e-4)
        return {"memory_capacity": mc, "mc_k": mck.round(4).tolist()}
    trial_len, change = IZH_TRIAL_LEN, n_trials // 2
    task_ = R.timing_task(n_trials, trial_len=trial_len, latency=(60, 120), prob=(1.0, 0.5), latency_after=(120, 60),
                          prob_after=(0.3, 0.9), change_at=change, width=15.0, rng=seed)
    izh = R.IzhikevichReservoir(size, **_izh_kwargs(task, seed))
    _, tr = izh.run_full(task_.inputs)
    X = np.ascontiguousarray(np.hstack([tr, np.ones((len(tr), 1))]))
    res = {}
    for name, model in (("three_factor", R.ThreeFactorReadout(X.shape[1], 2, eta=5e-4)),
                        ("force_no_reset", R.FORCEReadout(X.shape[1], 2, alpha=1.0))):
        z = model.train(X, task_.targets, task_.gate)
        mse = ((z - task_.expected) ** 2).reshape(n_trials, trial_len, 2).mean(axis=(1, 2))
        k = max(1, min(25, change // 2))
        res[name] = {"mse_before_change": float(mse[change - k:change].mean()),
                     "mse_after_change_first": float(mse[change:change + k].mean()),
                     "mse_end": float(mse[-k:].mean())}
    return res


def run(kind: Annotated[str, Option("--kind", help="lsm, ei-adaptive or izhikevich")] = "ei-adaptive",
        task: Annotated[Optional[str], Option(
            "--task", help="task (default: the kind's first) -- ei-adaptive: memory_capacity, narma10, "
            "mackey_glass; lsm: classification, separation; izhikevich: timing, memory_capacity")] = None,
        size: Annotated[Optional[int], Option("--size", help="reservoir neurons (default: ei-adaptive 200, lsm 300, "
                                                              "izhikevich 200)")] = None,
        seed: Annotated[int, Option("--seed")] = 0,
        data: Annotated[Optional[Path], Option("--data")] = None,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/reservoir")) -> dict:
    """Run ``kind`` on ``task`` (None: the kind's default, ``DEFAULT_TASK``); write
    ``out/summary.json``; return the summary.

    Raises ``ValueError`` before any work when the estimated peak memory
    (:func:`task_memory_bytes`) exceeds the memory available; the message gives the largest
    ``--size`` that fits.
    """
    from neurosim.reservoir.memory import check_fits

    if kind not in TASKS:
        raise ValueError(f"--kind must be one of {', '.join(TASKS)}; got {kind!r}")
    task = DEFAULT_TASK[kind] if task is None else task
    if task not in TASKS[kind]:
        raise ValueError(f"--task for --kind {kind} must be one of {', '.join(TASKS[kind])}; got {task!r}")
    size = DEFAULT_SIZE[kind] if size is None else size
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"--size must be an integer >= 1, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"--seed must be an integer >= 0, got {seed!r}")
    check_data_dir(data, "mnist/")
    check_fits(f"--kind {kind} --task {task}", lambda n: task_memory_bytes(kind, task, n), int(size),
               name="--size", fix="pass a smaller --size")
    out = ensure_out_dir(out)
    t0 = time.perf_counter()
    if kind == "ei-adaptive":
        scores = _ei(task, int(size), int(seed))
    elif kind == "lsm":
        scores = _lsm(task, int(size), int(seed), data)
    else:
        scores = _izhikevich(task, int(size), int(seed))
    summary = {"kind": kind, "task": task, "size": int(size), "seed": int(seed), "scores": scores,
               "wall_s": round(time.perf_counter() - t0, 3)}
    write_json(out / "summary.json", summary)
    return summary


def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False) -> StageResult:
    """E/I reservoir memory capacity (adapted vs not) and LSM digit classification.

    ``progress``: a tqdm bar over the four parts (stderr).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tqdm import tqdm

    stage_dir = Path(stage_dir)
    fast = fast or config.fast_demo()
    n_ei, steps = (100, 1500) if fast else (200, 4000)
    n_tr, n_te, n_lsm = (200, 100, 150) if fast else (2000, 500, 300)
    with tqdm(total=4, desc="reservoir", unit="part", disable=not progress, leave=False) as bar:
        def step(done):
            bar.set_postfix_str(done)
            bar.update(1)

        ei = _ei("memory_capacity", n_ei, seed, n_steps=steps, on_step=step)
        lsm = _lsm("classification", n_lsm, seed, data_dir, n_train=n_tr, n_test=n_te, T=15 if fast else 30,
                   on_step=step)
    fig, ax = plt.subplots(figsize=(5, 3))
    for name in ("baseline", "adapted"):
        ax.plot(np.arange(1, 101), ei[name]["mc_k"], label=f"{name} (MC={ei[name]['memory_capacity']:.1f})")
    ax.set_xlabel("delay k")
    ax.set_ylabel("r^2(u(t-k), y_k)")
    ax.set_xscale("log")
    ax.legend()
    fig.tight_layout()
    fig_path = stage_dir / "memory_capacity.png"
    fig.savefig(fig_path, dpi=100)
    plt.close(fig)
    metrics = {"ei_mc_baseline": round(ei["baseline"]["memory_capacity"], 3),
               "ei_mc_adapted": round(ei["adapted"]["memory_capacity"], 3),
               "lsm_acc_software": round(lsm["software"]["accuracy"], 4),
               "lsm_acc_device": round(lsm["device"]["accuracy"], 4), "lsm_data": lsm["data"]}
    write_json(stage_dir / "summary.json", {"ei": ei, "lsm": lsm})
    text = (f"E/I sigmoid reservoir ({n_ei} units): memory capacity {metrics['ei_mc_baseline']} before and "
            f"{metrics['ei_mc_adapted']} after per-neuron homeostatic inhibition. Liquid-state machine "
            f"({n_lsm} LIF neurons) on rate-coded {lsm['data']} digits, ridge readout: accuracy "
            f"{metrics['lsm_acc_software']} (Gaussian weights) vs {metrics['lsm_acc_device']} "
            f"(resistive-memory device weights).")
    return StageResult(name="reservoir", metrics=metrics, figures=[str(fig_path)], text=text)
