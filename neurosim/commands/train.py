"""``neurosim train``: plain cross-entropy training of a zoo model on MNIST-like data.

Data: ``mnist``, ``fashion_mnist`` (IDX files under ``--data`` or ``$NEUROSIM_DATA``) or
``embedded`` (generated digits, no files). Images (28x28 grey) are scaled to [0, 1];
spiking models see them repeated for ``T`` steps (direct encoding) and are trained on the
time-averaged logits with surrogate gradients (BPTT); ANN teachers see them once.

Training runs through :class:`neurosim.distill.Trainer` (Adam, checkpoints after every
epoch and every ``checkpoint_every`` batches, ``--resume``, ``metrics.jsonl``). Writes into ``out``:

* ``summary.json``: ``test_acc``, ``test_loss``, ``epochs``, ``wall_s``, ``train_samples_per_s``,
  ``history`` (one record per epoch), model/dataset/settings, ``n_params``, ``resumed`` (true
  only when a checkpoint was found and continued) and, for spiking
  models, ``activity`` (firing rates, SOPs vs ANN MACs and energy from
  :mod:`neurosim.snn.stats`, measured on 256 test images);
* ``metrics.jsonl`` and ``checkpoint.pt`` (from the Trainer);
* ``model.pt``: the trained model as a self-describing file (:func:`neurosim.models.load_model`).

``--model converted:FILE`` trains an ANN converted to integrate-and-fire neurons (fine-tuning
after conversion, through the IF layers' surrogate gradient, at ``--timesteps``): FILE is a
trained ANN's ``model.pt``, converted here as ``neurosim convert`` does (``--convert-mode``,
default 99.9%; ``--convert-calibration`` of this run's training images drawn with ``--seed``,
default 512 or all if fewer), or a converted ``model.pt`` (``neurosim convert``, or the output of
such a run), trained as it is (``--convert-*`` must then be left out). ``summary["converted"]``
holds the conversion's settings and the accuracy before training; ``model.pt`` is a converted
model file again. ``--resume`` continues such a run exactly: the conversion is repeated (same
images, same result) and the checkpoint's weights replace the converted ones.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

from neurosim._validation import check_choice, check_int, check_positive
from neurosim.commands import (AMP_HELP, CKPT_HELP, DEVICE_HELP, OUT_HELP, RESUME_HELP, Interrupted, Option,
                               StageResult, check_data_dir, ensure_out_dir, resolve_device, write_json)
from neurosim.commands.convert import CONVERT_CALIBRATION_HELP, CONVERT_MODE_HELP

__all__ = ["run", "demo_stage", "DATASETS", "is_spiking"]

DATASETS = ("mnist", "fashion_mnist", "embedded")
MODEL_HELP = ("a registry name, or converted:FILE to train an ANN converted to IF neurons (FILE: a trained ANN's "
              "model.pt, converted here, or a model.pt written by neurosim convert)")

#: names that moved to the library, still importable from here: name -> module
_MOVED = {"input_config": "neurosim.models.building", "load_tensors": "neurosim.distill.datasets"}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_spiking(model) -> bool:
    """True when ``model`` holds stateful (spiking) layers, i.e. takes ``[T, B, ...]``."""
    from neurosim.snn.containers import Stateful

    return any(isinstance(m, Stateful) for m in model.modules())


def _activity(net, x, timesteps):
    """Firing rates, SOPs, MACs and energy on a static batch ``x`` (uint8 [B, 1, H, W])."""
    from neurosim.snn.device import module_device
    from neurosim.snn.stats import measure_activity

    xb = x.float().div(255.0).to(module_device(net))
    was = net.training
    net.eval()
    try:
        st = measure_activity(net, xb.unsqueeze(0).expand(timesteps, *xb.shape))
    finally:
        net.train(was)
    d = st.as_dict()
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()
            if k in ("firing_rates", "mean_firing_rate", "total_sops", "total_macs", "total_ann_macs",
                     "energy_snn_pj", "energy_ann_pj", "energy_source", "timesteps")} | {
        "energy_ratio_snn_over_ann": round(st.energy_snn_pj / st.energy_ann_pj, 6) if st.energy_ann_pj else None,
        "n_samples": st.samples}


def run(dataset: Annotated[str, Option("--dataset")] = "fashion_mnist",
        model: Annotated[str, Option("--model", help=MODEL_HELP)] = "spiking_convnet",
        epochs: Annotated[int, Option("--epochs")] = 1,
        batch_size: Annotated[int, Option("--batch-size")] = 128,
        lr: Annotated[float, Option("--lr")] = 1e-3,
        timesteps: Annotated[int, Option("--timesteps", "-T")] = 4,
        seed: Annotated[int, Option("--seed")] = 0,
        data: Annotated[Optional[Path], Option("--data", help="data folder (default: $NEUROSIM_DATA)")] = None,
        limit: Annotated[Optional[int], Option("--limit", help="use only this many training samples")] = None,
        resume: Annotated[bool, Option("--resume/--no-resume", help=RESUME_HELP)] = False,
        checkpoint_every: Annotated[int, Option("--checkpoint-every", help=CKPT_HELP)] = 100,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/train"), *,
        convert_mode: Annotated[Optional[str], Option("--convert-mode", help=CONVERT_MODE_HELP)] = None,
        convert_calibration: Annotated[Optional[int], Option("--convert-calibration",
                                                             help=CONVERT_CALIBRATION_HELP)] = None,
        device: Annotated[str, Option("--device", help=DEVICE_HELP)] = "auto",
        amp: Annotated[str, Option("--amp", help=AMP_HELP)] = "none",
        model_cfg: dict | None = None, test_limit=None, progress: bool = True, precise_bn: int = 2000) -> dict:
    """Train ``model`` on ``dataset``; returns the summary (also ``out/summary.json``).

    ``model_cfg`` overrides constructor options (e.g. smaller ``channels``); ``test_limit``
    evaluates on the first ``test_limit`` test images (default: all). ``precise_bn``: after
    each epoch the BatchNorm running statistics are recomputed on this many training images
    (:meth:`neurosim.distill.Trainer.recalibrate_bn`, 0 = off). Without it a short run's
    running averages (momentum 0.1 over few batches) are far from the final weights'
    statistics and can silence every spike in eval mode (``--limit 3000 --epochs 1`` scored
    chance, 10 %, in eval mode while the same weights scored ~69 % with batch statistics).
    ``checkpoint_every``: also checkpoint after every this many batches inside an epoch (0: at
    epoch ends only). ``resume=True`` continues from ``out/checkpoint.pt`` when there is one
    (else starts from scratch; ``summary["resumed"]`` says which). Ctrl-C raises
    :class:`Interrupted` naming the last checkpoint.

    ``model="converted:FILE"`` trains a converted SNN (see the module docstring);
    ``convert_mode``/``convert_calibration`` apply to it only. ``device`` (``cpu``, ``cuda``,
    ``auto``) and ``amp`` (``none``, ``bf16``, ``fp16``): where and in which precision the
    Trainer runs (:mod:`neurosim.snn.device`); ``summary["device"]`` / ``["amp"]`` record them.
    """
    import torch

    from neurosim.commands.convert import converted_file, load_converted
    from neurosim.distill import Trainer, load_tensors
    from neurosim.io.checkpoint import save_model
    from neurosim.models import build_model, input_config

    check_choice("dataset", dataset, DATASETS)
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    check_positive("lr", lr)
    check_int("timesteps", timesteps, min_value=1)
    check_int("seed", seed, min_value=0)
    check_int("checkpoint_every", checkpoint_every, min_value=0)
    if limit is not None:
        check_int("limit", limit, min_value=1)
    if test_limit is not None:
        check_int("test_limit", test_limit, min_value=1)
    check_int("precise_bn", precise_bn, min_value=0)
    check_data_dir(data, f"{dataset}/ (or set NEUROSIM_DATA)")
    dev, precision = resolve_device(device, amp)
    conv_file = converted_file(model)
    if conv_file is None:
        for flag, value in (("--convert-mode", convert_mode), ("--convert-calibration", convert_calibration)):
            if value is not None:
                raise ValueError(f"{flag} applies only to --model converted:FILE; --model {model} is a registry "
                                 f"model: leave {flag} out")
    elif model_cfg:
        raise ValueError(f"model_cfg does not apply to --model {model}: the file's options are used")
    out = ensure_out_dir(out)
    conv = None
    if conv_file is None:
        name, cfg = model, {**input_config(model), **(model_cfg or {})}
        net = build_model(model, seed=seed, **cfg)
    t_start = time.perf_counter()
    train = load_tensors(dataset, "train", data, limit, seed)
    test = load_tensors(dataset, "test", data, test_limit, seed)
    if conv_file is not None:
        conv = load_converted("--model", conv_file, train[0], mode=convert_mode, calibration=convert_calibration,
                              seed=seed, timesteps=timesteps)
        name, cfg, net = conv.name, conv.cfg, conv.snn
    spiking = is_spiking(net)
    trainer = Trainer(net, None, epochs=epochs, batch_size=batch_size, lr=lr,
                      timesteps=timesteps if spiking else None, seed=seed, out_dir=out, resume=resume,
                      progress=progress, precise_bn=precise_bn, checkpoint_every=checkpoint_every, device=dev,
                      amp=precision.amp)
    try:
        acc_before = trainer.evaluate(*test)["acc"] if conv is not None else None  # the network as converted
        history = trainer.fit(train, val=test)
    except KeyboardInterrupt as exc:
        raise Interrupted(trainer.describe_checkpoint()) from exc
    finally:
        trainer.close()
    train_wall = sum(h.get("wall_s", 0.0) for h in history)
    last = history[-1]
    summary = {
        "test_acc": last.get("val_acc"), "test_loss": last.get("val_loss"), "epochs": epochs,
        "wall_s": round(time.perf_counter() - t_start, 3),
        "train_samples_per_s": round(len(train[0]) * len(history) / train_wall, 2) if train_wall > 0 else None,
        "history": history, "dataset": dataset, "model": model, "spiking": spiking,
        "timesteps": timesteps if spiking else None, "batch_size": batch_size, "lr": lr, "seed": seed,
        "n_train": len(train[0]), "n_test": len(test[0]), "n_params": sum(p.numel() for p in net.parameters()),
        "threads": torch.get_num_threads(), "resumed": trainer.resumed, "precise_bn": precise_bn,
        "device": str(dev), "amp": precision.amp,
    }
    if spiking:
        summary["activity"] = _activity(net, test[0][:256], timesteps)
    extra = {}
    if conv is not None:
        from neurosim.convert import recipe

        summary["converted"] = {"file": conv.file, "model": conv.name, "converted_here": conv.converted_here,
                                "mode": conv.mode, "calibration": conv.calibration,
                                "convert_s": round(conv.convert_s, 3), "acc_before_training": acc_before}
        extra = {"conversion": recipe(net, tuple(train[0].shape[1:])), "converted_from": conv.file}
    save_model(out / "model.pt", net, name, cfg, dataset=dataset,
               test_acc=summary["test_acc"], input_size=int(train[0].shape[-1]),
               timesteps=timesteps if spiking else None, **extra)
    summary["model_file"] = str(out / "model.pt")
    write_json(out / "summary.json", summary)
    return summary


def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False,
               device: str = "cpu", amp: str = "none") -> StageResult:
    """Train a small spiking net (surrogate gradients, T = 4) briefly; plot accuracy and firing rates.

    Embedded digits when ``data_dir`` is None, else Fashion-MNIST from ``data_dir``. Fast mode
    trains a spiking MLP, full mode a small spiking ConvNet. ``progress``: tqdm bars (stderr);
    ``device``/``amp``: as in :func:`run`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stage_dir = Path(stage_dir)
    dataset = "embedded" if data_dir is None else "fashion_mnist"
    if fast:  # a spiking MLP: a few seconds on 2 cores
        model, cfg, n_train, n_test, epochs, lr = "spiking_mlp", {"hidden": (128,)}, 1500, 500, 2, 2e-3
        desc = "A spiking MLP (784 - 128 LIF - 10)"
    else:
        model, cfg, n_train, n_test, epochs, lr = ("spiking_convnet", {"channels": (8, 16), "hidden": (64,)},
                                                   3000, 1000, 3, 2e-3)
        desc = "A spiking ConvNet (conv 8 - BN - LIF - pool, conv 16 - BN - LIF - pool, fc 64 - LIF, fc 10)"
    s = run(dataset=dataset, model=model, epochs=epochs, batch_size=64, lr=lr, timesteps=4,
            seed=seed, data=data_dir, limit=n_train, out=stage_dir, model_cfg=cfg, test_limit=n_test,
            progress=progress, device=device, amp=amp)
    act = s["activity"]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    ep = [h["epoch"] for h in s["history"]]
    axes[0].plot(ep, [h["train_acc"] for h in s["history"]], "o-", label="train")
    axes[0].plot(ep, [h["val_acc"] for h in s["history"]], "s-", label="test")
    axes[0].set(xlabel="epoch", ylabel="accuracy", title=f"{model} on {dataset}", ylim=(0, 1))
    axes[0].legend()
    names = list(act["firing_rates"])
    axes[1].bar(range(len(names)), [act["firing_rates"][n] for n in names])
    axes[1].set_xticks(range(len(names)), [n.split(".")[-1] for n in names])
    axes[1].set(ylabel="spikes / neuron / step", title="firing rates (test)")
    fig.tight_layout()
    fig_path = stage_dir / "training.png"
    fig.savefig(fig_path, dpi=100)
    plt.close(fig)
    metrics = {"test_acc": round(s["test_acc"], 4), "model": model, "epochs": epochs, "n_train": s["n_train"],
               "dataset": dataset, "train_samples_per_s": s["train_samples_per_s"],
               "mean_firing_rate": round(act["mean_firing_rate"], 4),
               "energy_snn_over_ann": act["energy_ratio_snn_over_ann"], "wall_s": s["wall_s"]}
    text = (f"{desc}, LIF tau = 2, ATan surrogate, T = 4 steps of direct encoding, trained with BPTT and Adam for "
            f"{epochs} epochs on {s['n_train']} {dataset} images reaches {s['test_acc']:.1%} test accuracy "
            f"({s['n_test']} test images, chance 10%). Mean firing rate "
            f"{act['mean_firing_rate']:.3f} spikes/neuron/step; with 0.9 pJ per accumulate and 4.6 pJ per "
            f"MAC (45 nm, Horowitz 2014) the SNN costs {act['energy_ratio_snn_over_ann']:.2f}x the energy of "
            f"the same network as an ANN.")
    return StageResult(name="training", metrics=metrics, figures=[str(fig_path)], text=text)
