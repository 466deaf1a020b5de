"""``neurosim convert``: a trained ANN model file to a spiking (IF) network, with accuracy against T.

Steps (the library: :func:`neurosim.convert.ann_to_snn`, ``shared/specs/CONVERSION.md``):

1. read ``--model`` (a self-describing ``model.pt`` of an ANN, as ``neurosim train`` writes
   it) with :func:`neurosim.models.load_model`;
2. load ``--dataset`` (``mnist`` or ``fashion_mnist`` from ``--data``/``$NEUROSIM_DATA``);
   pixels / 255, as the Trainer presents them;
3. calibrate the layer scales (``--mode``: ``max``, a percentile ``p%`` or a fraction of the
   maximum) on ``--calibration`` training images drawn without replacement with ``--seed``,
   and convert (IF neurons, reset by subtraction, the image presented at every step);
4. evaluate the ANN and the SNN on the test set (the first ``--limit`` images): one simulation
   of ``max(T)`` steps gives the accuracy at every ``T`` of ``--timesteps`` (argmax of the
   running mean of the output);
5. write into ``--out``: ``summary.json`` (``ann_acc``, ``snn_acc`` {"T": accuracy},
   ``mode``, ``timesteps``, ``wall_s`` and the settings), ``acc_vs_t.png`` and ``model.pt``,
   the converted SNN as a self-describing model file (the ANN's name and options plus a
   conversion recipe) that :func:`neurosim.models.load_model` reads back.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

from neurosim._validation import check_choice, check_int
from neurosim.commands import OUT_HELP, Option, StageResult, check_data_dir, ensure_out_dir, write_json

__all__ = ["run", "demo_stage", "DATASETS", "parse_timesteps", "parse_mode_option", "calibration_images", "converted_file",
           "load_converted", "ConvertedModel", "check_takes_images", "CONVERTED", "CONVERT_MODE_HELP",
           "CONVERT_CALIBRATION_HELP"]

DATASETS = ("mnist", "fashion_mnist")

#: prefix of a model spec naming a file to convert (or a converted file): ``converted:PATH/model.pt``
CONVERTED = "converted:"
#: defaults of ``--convert-mode`` / ``--convert-calibration`` (``neurosim train`` and ``distill``)
DEFAULT_MODE, DEFAULT_CALIBRATION = "99.9%", 512
CONVERT_MODE_HELP = ("with converted:FILE of an ANN: layer scale of the conversion (as neurosim convert --mode: max, "
                     "a percentile such as 99.9%, or a fraction of the max in (0, 1]; default 99.9%)")
CONVERT_CALIBRATION_HELP = ("with converted:FILE of an ANN: training images (of this run's, drawn with --seed) that "
                            f"calibrate the layer scales (default {DEFAULT_CALIBRATION}, or all of them if fewer)")


def parse_timesteps(text) -> list[int]:
    """``"8,16,32"`` -> ``[8, 16, 32]`` (sorted, unique); ``ValueError`` naming ``--timesteps``."""
    if not isinstance(text, str):
        raise TypeError(f"--timesteps must be a comma-separated string such as '8,16,32,64', got {type(text).__name__}")
    parts = [p.strip() for p in text.split(",")]
    out = []
    for p in parts:
        try:
            t = int(p)
        except ValueError:
            raise ValueError(f"--timesteps {text!r}: {p!r} is not an integer; write e.g. --timesteps 8,16,32,64") from None
        if t < 1:
            raise ValueError(f"--timesteps {text!r}: every T must be at least 1, got {t}")
        out.append(t)
    if max(out) > 100_000:
        raise ValueError(f"--timesteps {text!r}: T = {max(out)} is beyond 100000 steps; use fewer steps")
    return sorted(set(out))


def parse_mode_option(text, option: str = "--mode"):
    """``--mode`` text -> the ``mode`` of :func:`neurosim.convert.ann_to_snn` (``"max"``, ``"p%"`` or a float).

    ``option``: the flag named in errors (``--convert-mode`` in ``neurosim train``/``distill``).
    """
    from neurosim.convert import parse_mode

    if not isinstance(text, str):
        raise TypeError(f"{option} must be a string such as '99.9%', 'max' or '0.5', got {type(text).__name__}")
    mode = text.strip()
    try:
        mode = float(mode)
    except ValueError:
        pass
    try:
        parse_mode(mode)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{option} {text!r}: {exc}") from None
    return mode


def calibration_images(x, n: int, seed: int):
    """``n`` of the images ``x`` (uint8 ``[N, ...]``) drawn without replacement by
    ``numpy.random.default_rng(seed)``, in index order, as floats / 255: the calibration set."""
    import numpy as np
    import torch

    pick = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[torch.from_numpy(pick)].float().div_(255.0)


def converted_file(spec) -> Optional[str]:
    """The ``FILE`` of a ``converted:FILE`` model spec, else None."""
    return spec[len(CONVERTED):] if isinstance(spec, str) and spec.startswith(CONVERTED) else None


@dataclass(frozen=True)
class ConvertedModel:
    """What :func:`load_converted` made of ``converted:FILE``.

    ``snn``: the :class:`~neurosim.convert.ConvertedSNN` to train; ``name``/``cfg``: the ANN's registry
    name and options (what :func:`neurosim.models.save_model` records, with a ``conversion`` recipe);
    ``ann``: the trained ANN it was converted from (None when FILE was converted already: such a
    file holds the SNN's weights only); ``converted_here``: False for an already converted FILE;
    ``mode``/``calibration``: the conversion's settings (those recorded in FILE when it was
    converted already; ``calibration`` is then None); ``convert_s``: seconds spent converting;
    ``converted_from``: the ANN file that an already converted FILE records, else None.
    """

    snn: Any
    name: str
    cfg: dict
    ann: Any
    file: str
    converted_here: bool
    mode: Any
    calibration: Optional[int]
    convert_s: float
    converted_from: Optional[str] = None


def load_converted(option: str, file: str, train_x, *, mode: Optional[str], calibration: Optional[int], seed: int,
                   timesteps: int, batch_size: int = 250) -> ConvertedModel:
    """The converted network of ``option converted:FILE``, ready to be trained at ``timesteps`` steps.

    FILE is either a trained ANN's ``model.pt`` (``neurosim train``, or a teacher of ``neurosim
    distill``), converted here as ``neurosim convert`` does (IF neurons, reset by subtraction;
    ``mode`` default 99.9%, ``calibration`` images of ``train_x`` drawn with ``seed``, default
    ``min(512, len(train_x))``), or a ``model.pt`` written by ``neurosim convert`` (or by a run
    that trained a converted network), used as it is: ``mode`` and ``calibration`` must then be
    None. The network's default ``timesteps`` becomes the training ``T``.
    """
    from neurosim.commands.train import is_spiking
    from neurosim.convert import ConvertedSNN, ann_to_snn
    from neurosim.models import load_model

    spec = f"{option} {CONVERTED}{file}"
    if not file:
        raise ValueError(f"{spec}: no file named; write {option} {CONVERTED}PATH/model.pt")
    if not Path(file).is_file():
        raise FileNotFoundError(f"{spec}: no such file; pass the model.pt of a trained ANN (neurosim train) or of a "
                                "converted SNN (neurosim convert)")
    rec = load_model(file)
    size = int(train_x.shape[-1])
    if rec.input_size is not None and rec.input_size != size:
        raise ValueError(f"{spec}: the model takes {rec.input_size}x{rec.input_size} images, this run's data are "
                         f"{size}x{size}")
    if isinstance(rec.model, ConvertedSNN):
        check_takes_images(rec.model, train_x[:1].float().div(255.0).unsqueeze(0), spec)
        for flag, value in (("--convert-mode", mode), ("--convert-calibration", calibration)):
            if value is not None:
                raise ValueError(f"{flag} applies when {option} converted: names an ANN to convert; {file} holds an "
                                 f"SNN converted already (its scales are kept): leave {flag} out")
        snn = rec.model
        snn.timesteps = timesteps
        src = rec.meta.get("converted_from")
        return ConvertedModel(snn, rec.name, dict(rec.cfg), None, file, False, snn.info.get("mode"), None, 0.0,
                              src if isinstance(src, str) else None)
    if is_spiking(rec.model):
        raise ValueError(f"{spec}: the file holds a spiking model ({rec.name!r}), neither an ANN to convert nor a "
                         "converted SNN; pass the model.pt of a trained ANN (e.g. neurosim train --model convnet)")
    scale_mode = parse_mode_option(DEFAULT_MODE if mode is None else mode, "--convert-mode")
    if calibration is None:
        calibration = min(DEFAULT_CALIBRATION, len(train_x))
    else:
        check_int("convert_calibration", calibration, min_value=1)
        if calibration > len(train_x):
            raise ValueError(f"--convert-calibration {calibration} exceeds the {len(train_x)} training images of this "
                             "run (--limit); use at most that many")
    ann = rec.model.eval()
    check_takes_images(ann, train_x[:1].float().div(255.0), spec)
    method = "_forward" if callable(getattr(ann, "_forward", None)) else "forward"
    t0 = time.perf_counter()
    try:
        snn = ann_to_snn(ann, calibration_images(train_x, calibration, seed), mode=scale_mode, timesteps=timesteps,
                         method=method, batch_size=batch_size)
    except ValueError as exc:
        raise ValueError(f"{spec}: {exc}") from None
    return ConvertedModel(snn, rec.name, dict(rec.cfg), ann, file, True, scale_mode, calibration,
                          time.perf_counter() - t0)


def check_takes_images(model, x, spec: str) -> None:
    """Run ``model`` on ``x`` (one image; ``[1, 1, ...]`` for an SNN); a ValueError naming ``spec`` if
    it does not take such images."""
    import torch

    from neurosim.io.files import brief
    from neurosim.snn import reset_states

    try:
        with torch.no_grad():
            model(x)
    except RuntimeError as exc:  # matrix / conv shapes of another input size
        raise ValueError(f"{spec}: the model does not take this run's images of shape {tuple(x.shape[-3:])} "
                         f"({brief(exc)})") from None
    finally:
        reset_states(model)


def _load_ann(model: Path):
    from neurosim.commands.train import is_spiking
    from neurosim.models import load_model

    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"--model {model} is not a file; pass a model.pt written by neurosim train")
    rec = load_model(str(path))
    if is_spiking(rec.model):
        raise ValueError(f"--model {model} holds a spiking model ({rec.name!r}); neurosim convert turns an ANN "
                         "into an SNN: train an ANN first (e.g. neurosim train --model convnet)")
    return rec


def _accuracy_ann(ann, x, y, batch_size: int) -> float:
    import torch

    hits = 0
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            xb = x[s:s + batch_size].float().div_(255.0)
            hits += int((ann(xb).argmax(-1) == y[s:s + batch_size]).sum())
    return hits / len(x)


def _activity(snn, ann, x, timesteps: int) -> dict:
    """Rates, SOPs, MACs and energy per image of ``snn`` over ``timesteps`` steps and of ``ann``, on uint8 ``x``."""
    from neurosim.snn.stats import measure_activity

    xb = x.float().div(255.0)
    s = measure_activity(snn, xb.unsqueeze(0).expand(timesteps, *xb.shape))
    a = measure_activity(ann, xb, time_major=False)
    return {"timesteps": timesteps, "n_samples": s.samples, "firing_rates": s.firing_rates,
            "mean_firing_rate": s.mean_firing_rate, "sops": s.sops, "macs": s.macs, "total_sops": s.total_sops,
            "total_macs": s.total_macs, "total_ann_macs": a.total_ann_macs, "energy_snn_pj": s.energy_snn_pj,
            "energy_ann_pj": a.energy_ann_pj, "energy_ratio_snn_over_ann": s.energy_snn_pj / a.energy_ann_pj,
            "e_ac_pj": s.energy.e_ac_pj, "e_mac_pj": s.energy.e_mac_pj, "energy_source": s.energy.source}


def run(model: Annotated[Path, Option("--model", help="model.pt of a trained ANN (as neurosim train writes it)")],
        dataset: Annotated[str, Option("--dataset", help="mnist or fashion_mnist")] = "mnist",
        timesteps: Annotated[str, Option("--timesteps", "-T",
                                         help="comma-separated step counts to evaluate, e.g. 8,16,32,64")
                             ] = "8,16,32,64",
        mode: Annotated[str, Option("--mode", help="layer scale: max, a percentile such as 99.9%, or a fraction "
                                                   "of the max in (0, 1]")] = "99.9%",
        data: Annotated[Optional[Path], Option("--data", help="data folder (default: $NEUROSIM_DATA)")] = None,
        calibration: Annotated[int, Option("--calibration",
                                           help="training images used for the layer scales")] = 512,
        limit: Annotated[Optional[int], Option("--limit", help="evaluate on the first this many test images")
                         ] = None,
        seed: Annotated[int, Option("--seed", help="draws the calibration images")] = 0,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/convert"), *,
        batch_size: int = 250, per_channel: bool = False, v_init: float = 0.0) -> dict:
    """Convert the ANN in ``model``; returns the summary (also ``out/summary.json``).

    ``batch_size``: images per calibration / ANN evaluation batch (the SNN simulates
    :func:`neurosim.convert.evaluate.sim_batch_size` images at a time, at most
    :data:`~neurosim.convert.evaluate.STEP_BUDGET` image-steps);
    ``per_channel`` and ``v_init`` are passed to :func:`neurosim.convert.ann_to_snn`.
    """
    from neurosim.distill import load_tensors

    check_choice("dataset", dataset, DATASETS)
    ts = parse_timesteps(timesteps)
    scale_mode = parse_mode_option(mode)
    check_int("calibration", calibration, min_value=1)
    if limit is not None:
        check_int("limit", limit, min_value=1)
    check_int("seed", seed, min_value=0)
    check_int("batch_size", batch_size, min_value=1)
    check_data_dir(data, f"{dataset}/ (or set NEUROSIM_DATA)")
    rec = _load_ann(model)
    out = ensure_out_dir(out)
    t_start = time.perf_counter()
    xtr, _ = load_tensors(dataset, "train", data)
    xte, yte = load_tensors(dataset, "test", data, limit)
    if calibration > len(xtr):
        raise ValueError(f"--calibration {calibration} exceeds the {len(xtr)} training images of {dataset}")
    summary = _convert_and_evaluate(rec.model.eval(), rec.name, dict(rec.cfg), xtr, xte, yte, out, ts=ts,
                                    mode=scale_mode, mode_text=mode, calibration=calibration, seed=seed,
                                    batch_size=batch_size, per_channel=per_channel, v_init=v_init,
                                    activity=0, dataset=dataset, source=str(model), t_start=t_start)
    write_json(out / "summary.json", summary)
    return summary


def _convert_and_evaluate(ann, name: str, cfg: dict, xtr, xte, yte, out: Path, *, ts, mode, mode_text: str,
                          calibration: int, seed: int, batch_size: int, per_channel: bool, v_init: float,
                          activity: int, dataset: str, source: str, t_start: float) -> dict:
    """Steps 3-5 of the module docstring for ``ann`` (eval mode; registry ``name`` and options ``cfg``)
    on uint8 images: calibrate on ``calibration`` of ``xtr`` drawn with ``seed``, convert, evaluate
    on ``(xte, yte)``, write ``model.pt`` and ``acc_vs_t.png`` into ``out``; returns the summary
    (not written). ``activity`` > 0: also ``summary["activity"]``, firing rates, SOPs, MACs and
    energy per image of the SNN at ``max(ts)`` steps and of the ANN on the first ``activity`` test
    images (:func:`neurosim.snn.stats.measure_activity`)."""
    import torch

    from neurosim.convert import accuracy_vs_timesteps, ann_to_snn, recipe
    from neurosim.convert.evaluate import sim_batch_size
    from neurosim.io.checkpoint import save_model
    from neurosim.plot.accuracy import plot_accuracy_vs_timesteps

    calib = calibration_images(xtr, calibration, seed)
    method = "_forward" if callable(getattr(ann, "_forward", None)) else "forward"
    t0 = time.perf_counter()  # first: an unconvertible model fails before any evaluation
    try:
        snn = ann_to_snn(ann, calib, mode=mode, timesteps=max(ts), per_channel=per_channel, v_init=v_init,
                         method=method, batch_size=batch_size)
    except ValueError as exc:
        raise ValueError(f"--model {source}: {exc}") from None
    convert_s = time.perf_counter() - t0
    ann_acc = _accuracy_ann(ann, xte, yte, batch_size)
    t0 = time.perf_counter()
    acc = accuracy_vs_timesteps(snn, xte, yte, ts, batch_size=batch_size, scale=255.0)
    simulate_s = time.perf_counter() - t0
    act = _activity(snn, ann, xte[:activity], max(ts)) if activity else None
    meta = {"dataset": dataset, "input_size": int(xte.shape[-1]), "timesteps": max(ts),
            "test_acc": acc[max(ts)], "ann_acc": ann_acc, "converted_from": source}
    save_model(out / "model.pt", snn, name, cfg, conversion=recipe(snn, tuple(xte.shape[1:])), **meta)
    plot_accuracy_vs_timesteps(ts, [acc[t] for t in ts], ann_acc=ann_acc, path=out / "acc_vs_t.png",
                               title=f"{name} -> SNN ({dataset}, mode {mode_text})")
    summary = {
        "ann_acc": ann_acc, "snn_acc": {str(t): a for t, a in acc.items()}, "mode": mode, "timesteps": ts,
        "wall_s": round(time.perf_counter() - t_start, 3), "convert_s": round(convert_s, 3),
        "simulate_s": round(simulate_s, 3), "dataset": dataset, "model": name, "ann_file": source,
        "calibration": calibration, "seed": seed, "n_test": len(xte), "batch_size": batch_size,
        "sim_batch_size": sim_batch_size(batch_size, max(ts)),
        "per_channel": per_channel, "v_init": v_init,
        "scales": {k: float(v.max()) for k, v in snn.scales.items()}, "info": snn.info,
        "model_file": str(out / "model.pt"), "threads": torch.get_num_threads(),
    }
    if act is not None:
        summary["activity"] = act
    return summary


#: sizes of the demo stage (``demo_stage``)
_DEMO = {
    "fast": {"n_train": 600, "n_test": 200, "epochs": 1, "batch_size": 32, "lr": 3e-3, "timesteps": (4, 8, 16, 32),
             "calibration": 256, "activity": 25},
    "full": {"n_train": 1500, "n_test": 500, "epochs": 2, "batch_size": 32, "lr": 3e-3,
             "timesteps": (4, 8, 16, 32, 64), "calibration": 512, "activity": 50},
}


def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False) -> StageResult:
    """Train a small ANN ConvNet briefly, convert it (99.9 % scales) and plot SNN accuracy against T.

    Embedded digits when ``data_dir`` is None, else Fashion-MNIST from ``data_dir`` (the data of
    the training and distillation stages). The ANN (conv 8 - BN - ReLU - avgpool, conv 16 - BN -
    ReLU - avgpool, fc 64 - ReLU, fc 10: the distillation stage's teacher architecture, trained
    here again so that each stage stands alone) is trained by :class:`neurosim.distill.Trainer`
    as ``neurosim train`` does, into ``ann/`` (with its ``model.pt``); the conversion writes
    ``summary.json``, ``acc_vs_t.png`` and ``model.pt`` as ``neurosim convert`` does (paths in
    ``summary.json`` relative to the stage folder). Sizes (:data:`_DEMO`): fast, 600 training
    images, 1 epoch, 200 test images, T = 4, 8, 16, 32; full, 1500 images, 2 epochs, 500 test
    images, T = 4 ... 64. Energy per image (:mod:`neurosim.snn.stats`) on the first 25 (fast) or
    50 (full) test images at the largest T. ``progress``: tqdm bars (stderr).
    """
    import torch

    from neurosim.distill import Trainer, load_tensors
    from neurosim.io.checkpoint import save_model
    from neurosim.models import build_model, input_config

    stage_dir = ensure_out_dir(stage_dir)
    t_start = time.perf_counter()
    dataset = "embedded" if data_dir is None else "fashion_mnist"
    setup = _DEMO["fast" if fast else "full"]
    n_train, n_test, epochs = setup["n_train"], setup["n_test"], setup["epochs"]
    xtr, ytr = load_tensors(dataset, "train", data_dir, n_train, seed)
    xte, yte = load_tensors(dataset, "test", data_dir, n_test, seed)
    name, cfg = "convnet", {**input_config("convnet"), "channels": (8, 16), "hidden": (64,)}
    ann = build_model(name, seed=seed, **cfg)
    trainer = Trainer(ann, None, epochs=epochs, batch_size=setup["batch_size"], lr=setup["lr"], seed=seed,
                      out_dir=stage_dir / "ann", progress=progress, precise_bn=min(2000, n_train))
    try:
        hist = trainer.fit((xtr, ytr))
    finally:
        trainer.close()
    ann.eval()
    save_model(stage_dir / "ann" / "model.pt", ann, name, cfg, dataset=dataset, input_size=int(xtr.shape[-1]),
               timesteps=None)
    ann_s = time.perf_counter() - t_start
    ts = list(setup["timesteps"])
    s = _convert_and_evaluate(ann, name, cfg, xtr, xte, yte, stage_dir, ts=ts, mode="99.9%", mode_text="99.9%",
                              calibration=min(setup["calibration"], n_train), seed=seed, batch_size=250,
                              per_channel=False, v_init=0.0, activity=setup["activity"], dataset=dataset,
                              source="ann/model.pt", t_start=t_start)
    s.update({"ann_epochs": epochs, "ann_history": hist, "ann_wall_s": round(ann_s, 3), "n_train": len(xtr),
              "threads": torch.get_num_threads(), "model_file": "model.pt"})
    write_json(stage_dir / "summary.json", s)
    t_max, act = max(ts), s["activity"]
    metrics = {"dataset": dataset, "n_train": len(xtr), "n_test": s["n_test"], "ann_epochs": epochs,
               "mode": s["mode"], "ann_acc": round(s["ann_acc"], 4),
               **{f"snn_acc_t{t}": round(s["snn_acc"][str(t)], 4) for t in ts},
               "snn_minus_ann_at_tmax": round(s["snn_acc"][str(t_max)] - s["ann_acc"], 4),
               "mean_firing_rate": round(act["mean_firing_rate"], 4),
               "energy_snn_uj": round(act["energy_snn_pj"] / 1e6, 4),
               "energy_ann_uj": round(act["energy_ann_pj"] / 1e6, 4),
               "energy_snn_over_ann": round(act["energy_ratio_snn_over_ann"], 4),
               "ann_wall_s": round(ann_s, 3), "convert_wall_s": s["convert_s"], "simulate_wall_s": s["simulate_s"]}
    first = next(iter(act["macs"]))  # the first synaptic layer, which reads the analog image
    first_share = act["macs"][first] * act["e_mac_pj"] / act["energy_snn_pj"] if act["energy_snn_pj"] else 0.0
    curve = ", ".join(f"T = {t}: {s['snn_acc'][str(t)]:.1%}" for t in ts)
    text = (f"A ReLU ConvNet (conv 8 - BN - ReLU - avgpool, conv 16 - BN - ReLU - avgpool, fc 64 - ReLU, fc 10) "
            f"trained for {epochs} epoch{'s' if epochs > 1 else ''} on {len(xtr)} {dataset} images scores "
            f"{s['ann_acc']:.1%} on {s['n_test']} test images. Conversion (`neurosim.convert.ann_to_snn`) folds "
            f"BatchNorm into the convolutions, sets each layer's scale to the 99.9th percentile of its non-zero "
            f"activations on {s['calibration']} training images and replaces every ReLU by an integrate-and-fire "
            f"neuron with reset by subtraction; the image is presented at every step. SNN accuracy: {curve} "
            f"(chance 10%). At T = {t_max} the SNN fires {act['mean_firing_rate']:.3f} spikes/neuron/step and "
            f"costs {act['energy_snn_pj'] / 1e6:.3g} uJ per image against {act['energy_ann_pj'] / 1e6:.3g} uJ for "
            f"the ANN ({act['e_ac_pj']:g} pJ per accumulate, {act['e_mac_pj']:g} pJ per MAC; pooled spikes count as "
            f"synaptic operations of their source spikes, `neurosim.snn.stats`); {first_share:.0%} of it is the "
            f"first convolution, which reads the analog image at each of the {t_max} steps. The distillation "
            f"stage trains the same architecture as its teacher; this stage trains its own copy so that each "
            f"stage stands alone.")
    return StageResult(name="conversion", metrics=metrics, figures=[str(stage_dir / "acc_vs_t.png")], text=text)

