"""``neurosim distill``: train an ANN teacher, then a spiking student distilled from it.

Steps (every training run goes through :class:`neurosim.distill.Trainer`):

1. load the dataset (``mnist``, ``fashion_mnist`` from ``--data``/``$NEUROSIM_DATA``, or the
   file-free ``embedded`` digits), first ``--limit`` training (and test) samples;
2. train the teacher (``--teacher``, an ANN from ``neurosim.models``) for ``--teacher-epochs``
   with cross-entropy into ``out/teacher/`` (``--resume`` re-uses a finished teacher there);
3. train the student (``--student``, input repeated ``--timesteps`` times) with the ``--kd``
   recipe into ``out/student/``: ``none`` (CE), ``kd`` (Hinton, T = 4), ``wsld`` (T = 2),
   ``feature`` (MSE), ``bkd`` (blurred KD, lambda 0.15, alpha 2e-3) or ``bkd+wsld`` (BKDSNN).
   Features are compared at each model's ``distill_layer`` (the last feature map);
4. write ``out/summary.json``: ``test_acc``, ``teacher_acc``, ``epochs``, ``wall_s``, ``resumed``
   (true when a checkpoint of either run was continued) and more.

**A converted student** (``--student converted:FILE``; conversion + fine-tuning, the hybrid
recipe): no teacher is trained (``--teacher-epochs`` must be left out or 0) and

* FILE is a trained ANN's ``model.pt`` (``neurosim train``, or ``DIR/teacher/model.pt`` of an
  earlier distill run): it is converted to IF neurons as ``neurosim convert`` does
  (``--convert-mode``, default 99.9%; ``--convert-calibration`` training images of this run,
  drawn with ``--seed``, default 512 or all if fewer) and that ANN is the teacher: ``--teacher``
  must be left out;
* FILE is a converted SNN's ``model.pt`` (``neurosim convert``, or the student of such a run): it
  is trained as it is (``--convert-*`` must be left out). The file holds no ANN weights, so the
  teacher is ``--teacher FILE`` or ``NAME@FILE`` (a trained ANN), or there is none (``--kd none``).

The converted network trains through its IF layers with their surrogate gradient at
``--timesteps``. Feature recipes compare one IF layer (its spikes times its scale) with the ANN
activation it replaced, chosen by the teacher's ``distill_layer``
(:func:`neurosim.convert.feature_pair`); a teacher of another architecture, or shapes that differ,
are refused. ``summary["converted"]`` holds the conversion's settings and the accuracy before
training (``acc_before_training``); ``out/student/model.pt`` is a converted model file
(:func:`neurosim.models.load_model`, ``neurosim tsrsa --model``, ``--student converted:`` again).

Both runs checkpoint after every epoch and every ``checkpoint_every`` batches; Ctrl-C raises
:class:`~neurosim.commands.Interrupted` naming the checkpoints kept.

Under ``torchrun`` the runs are data-parallel (gloo on CPU, NCCL on GPU); rank 0 writes files.
Model weights are initialised from ``torch.manual_seed(seed)`` (set here, at application level).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

from neurosim._validation import check_choice, check_int, check_nonnegative, check_positive, check_probability
from neurosim.commands import (AMP_HELP, CKPT_HELP, DEVICE_HELP, OUT_HELP, RESUME_HELP, Interrupted, Option,
                               StageResult, check_data_dir, ensure_out_dir, resolve_device, write_json)
from neurosim.commands.convert import CONVERT_CALIBRATION_HELP, CONVERT_MODE_HELP

__all__ = ["run", "demo_stage", "DATASETS"]

DATASETS = ("mnist", "fashion_mnist", "embedded")
DEFAULT_TEACHER, TEACHER_EPOCHS = "convnet", 5
#: recipes that compare features (they need a feature layer on both models)
FEATURE_RECIPES = ("feature", "bkd", "bkd+wsld")
STUDENT_HELP = ("spiking student: a registry name, or converted:FILE to fine-tune an ANN converted to IF neurons "
                "(FILE: an ANN's model.pt, converted here, its ANN the teacher; or a model.pt of neurosim convert)")
TEACHER_HELP = (f"ANN teacher: a registry name trained here (default {DEFAULT_TEACHER}); with --student converted:FILE "
                "leave it out, unless FILE is converted already: then a trained ANN, FILE or NAME@FILE")


def run(dataset: Annotated[str, Option("--dataset")] = "fashion_mnist",
        teacher: Annotated[Optional[str], Option("--teacher", help=TEACHER_HELP)] = None,
        student: Annotated[str, Option("--student", help=STUDENT_HELP)] = "spiking_convnet",
        kd: Annotated[str, Option("--kd", help="none, kd, wsld, feature, bkd or bkd+wsld")] = "bkd+wsld",
        epochs: Annotated[int, Option("--epochs")] = 1,
        teacher_epochs: Annotated[Optional[int], Option(
            "--teacher-epochs", help=f"epochs of the registry teacher (default {TEACHER_EPOCHS}); not with "
                                     "--student converted:FILE, whose teacher is trained already")] = None,
        batch_size: Annotated[int, Option("--batch-size")] = 128,
        timesteps: Annotated[int, Option("--timesteps", "-T")] = 4,
        seed: Annotated[int, Option("--seed")] = 0,
        data: Annotated[Optional[Path], Option("--data")] = None,
        limit: Annotated[Optional[int], Option("--limit")] = None,
        resume: Annotated[bool, Option("--resume/--no-resume", help=RESUME_HELP)] = False,
        checkpoint_every: Annotated[int, Option("--checkpoint-every", help=CKPT_HELP)] = 100,
        out: Annotated[Path, Option("--out", help=OUT_HELP)] = Path("neurosim-out/distill"), *,
        label_smoothing: Annotated[float, Option("--label-smoothing",
                                                 help="student CE label smoothing (BKDSNN: 0.1)")] = 0.0,
        lr_schedule: Annotated[str, Option("--lr-schedule",
                                           help="student lr: constant or cosine (per step, to 0)")] = "constant",
        bkd_alpha: Annotated[float, Option("--bkd-alpha", help="weight of the blurred KD term (BKDSNN alpha_mgd; "
                                                               "its shipped configs use 2e-3)")] = 6e-3,
        bkd_lambda: Annotated[float, Option("--bkd-lambda",
                                            help="channel mask ratio of blurred KD (lambda_mgd)")] = 0.15,
        kd_temperature: Annotated[Optional[float], Option(
            "--kd-temperature", help="logits KD temperature (default 4 for kd, 2 for WSLD)")] = None,
        convert_mode: Annotated[Optional[str], Option("--convert-mode", help=CONVERT_MODE_HELP)] = None,
        convert_calibration: Annotated[Optional[int], Option("--convert-calibration",
                                                             help=CONVERT_CALIBRATION_HELP)] = None,
        device: Annotated[str, Option("--device", help=DEVICE_HELP)] = "auto",
        amp: Annotated[str, Option("--amp", help=AMP_HELP)] = "none",
        lr: float = 1e-3, teacher_lr: float = 1e-3, model_cfg: dict | None = None, progress: bool = True,
        test_limit=None, precise_bn: int = 2000) -> dict:
    """Run the pipeline; returns the summary dict (also written to ``out/summary.json``).

    ``model_cfg`` is passed to both ``get_model`` calls (e.g. smaller ``channels`` for demos);
    ``test_limit`` defaults to ``limit``. ``precise_bn``: BatchNorm statistics are recomputed on
    this many training samples after each epoch (see ``Trainer``), so that short runs are not
    evaluated with running statistics still biased by their initial values. ``label_smoothing``
    (of the student's CE term) and ``lr_schedule`` (``"constant"`` or per-step ``"cosine"``)
    apply to the student; the teacher always trains with plain CE at a constant lr.
    ``bkd_alpha`` / ``bkd_lambda``: weight and channel-mask ratio of the blurred KD term (BKDSNN
    alpha_mgd / lambda_mgd; BKDSNN's shipped configs use 2e-3 / 0.15); ``kd_temperature``: logits
    temperature (default: 4 for ``kd``, 2 for WSLD). ``checkpoint_every``: both runs also
    checkpoint after every this many batches inside an epoch (0: at epoch ends only).
    ``teacher`` defaults to ``"convnet"`` and ``teacher_epochs`` to 5 for a registry student;
    ``student="converted:FILE"``: see the module docstring (``convert_mode``/``convert_calibration``
    apply to it only). ``device``/``amp``: where and in which precision both runs train
    (:mod:`neurosim.snn.device`; under torchrun ``cuda`` is ``cuda:LOCAL_RANK`` and DDP uses NCCL).

    The defaults are the best measured recipe (``experiments/distill/README.md``, session 5):
    a 5-epoch ANN teacher, a 1-epoch student, BKD + WSLD with ``bkd_alpha=6e-3``. On all of
    Fashion-MNIST they give 89.14-89.34 % (seed 0; 89.28 +- 0.16 % over seeds 0-4) against 88.77 +- 0.37 %
    without KD.
    """
    import torch

    from neurosim.commands.convert import converted_file, load_converted
    from neurosim.distill import KD_RECIPES, Trainer, load_tensors, make_objective, probe_shapes
    from neurosim.distill import distributed as dist_utils
    from neurosim.distill.trainer import LR_SCHEDULES
    from neurosim.models import get_model, list_models

    check_choice("dataset", dataset, DATASETS)
    conv_file = converted_file(student)
    if conv_file is None:
        teacher = DEFAULT_TEACHER if teacher is None else teacher
        for role, name in (("teacher", teacher), ("student", student)):
            if name not in list_models():
                raise ValueError(f"--{role}: unknown model {name!r}; valid names: {', '.join(list_models())}"
                                 + (" (or converted:FILE)" if role == "student" else ""))
        for flag, value in (("--convert-mode", convert_mode), ("--convert-calibration", convert_calibration)):
            if value is not None:
                raise ValueError(f"{flag} applies only to --student converted:FILE (an ANN converted here); "
                                 f"--student {student} is a registry model: leave {flag} out")
    check_choice("kd", kd, KD_RECIPES)
    check_int("epochs", epochs, min_value=1)
    if teacher_epochs is not None:
        check_int("teacher_epochs", teacher_epochs, min_value=0)
    if conv_file is None:
        teacher_epochs = TEACHER_EPOCHS if teacher_epochs is None else teacher_epochs
    elif teacher_epochs:
        raise ValueError(f"--teacher-epochs {teacher_epochs}: with --student {student} no teacher is trained (the "
                         "teacher is the trained ANN in FILE, or the --teacher file); leave --teacher-epochs out")
    else:
        teacher_epochs = 0
        if model_cfg:
            raise ValueError(f"model_cfg does not apply to --student {student}: the file's options are used")
    check_int("batch_size", batch_size, min_value=1)
    check_int("timesteps", timesteps, min_value=1)
    check_int("seed", seed, min_value=0)
    check_int("checkpoint_every", checkpoint_every, min_value=0)
    check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
    check_nonnegative("bkd_alpha", bkd_alpha)
    check_probability("bkd_lambda", bkd_lambda)
    if kd_temperature is not None:
        check_positive("kd_temperature", kd_temperature)
    if limit is not None:
        check_int("limit", limit, min_value=1)
    check_data_dir(data, f"{dataset}/ (or set NEUROSIM_DATA)")
    if conv_file is None and teacher_epochs == 0 and kd != "none":
        raise ValueError(f"--kd {kd} needs a trained teacher: use --teacher-epochs >= 1 (or --kd none)")
    dev, precision = resolve_device(device, amp)
    started_group = dist_utils.init_from_env(device=dev)
    rank, _ = dist_utils.world_info()
    out = Path(out)
    if rank == 0:
        ensure_out_dir(out)
    t_start = time.perf_counter()
    trainers = []  # (role, Trainer) started so far: what an interrupt kept
    try:
        train = load_tensors(dataset, "train", data, limit, seed)
        test = load_tensors(dataset, "test", data, test_limit if test_limit is not None else limit, seed)
        teacher_acc = None
        teacher_hist = []
        conv = None
        t0 = time.perf_counter()
        torch.manual_seed(seed)  # the initial weights (models, and the objective's alignment / restoration layers)
        if conv_file is None:
            cfg = dict(model_cfg or {})
            cfg.setdefault("num_classes", 10)
            teacher_model = get_model(teacher, **cfg)
            student_model = get_model(student, **cfg)
            for role, m in (("teacher", teacher_model), ("student", student_model)):
                if not hasattr(m, "distill_layer"):
                    raise ValueError(f"--{role} {m.__class__.__name__} has no distill_layer; choose a model from "
                                     "neurosim.models with named feature layers")
            if teacher_epochs > 0:
                tt = Trainer(teacher_model, None, epochs=teacher_epochs, batch_size=batch_size, lr=teacher_lr,
                             seed=seed, out_dir=out / "teacher", resume=resume, progress=progress,
                             precise_bn=precise_bn, checkpoint_every=checkpoint_every, device=dev,
                             amp=precision.amp)
                trainers.append(("teacher", tt))
                teacher_hist = tt.fit(train)
                teacher_acc = tt.evaluate(*test, timesteps=None)["acc"]
                tt.close()
            layers = (student_model.distill_layer, teacher_model.distill_layer)
            s_shape = probe_shapes(student_model, [layers[0]], train[0][:1], timesteps)[layers[0]]
            t_shape = probe_shapes(teacher_model, [layers[1]], train[0][:1], None)[layers[1]]
        else:
            conv = load_converted("--student", conv_file, train[0], mode=convert_mode, calibration=convert_calibration,
                                  seed=seed, timesteps=timesteps)
            student_model, cfg = conv.snn, conv.cfg
            teacher_model = _converted_teacher(conv, teacher, kd, train[0])
            layers, s_shape, t_shape = _converted_features(conv, teacher_model, kd, train[0][:1], timesteps)
        teacher_wall = time.perf_counter() - t0
        channels = {} if layers is None else {
            "student_channels": s_shape[2] if len(s_shape) == len(t_shape) + 1 else s_shape[1],
            "teacher_channels": t_shape[1]}
        objective = make_objective(kd, **channels, feature_layers=layers,
                                   label_smoothing=label_smoothing, alpha=bkd_alpha, lam=bkd_lambda,
                                   temperature=kd_temperature)
        t0 = time.perf_counter()
        st = Trainer(student_model, objective, teacher=teacher_model if objective.needs_teacher else None,
                     epochs=epochs, batch_size=batch_size, lr=lr, timesteps=timesteps, seed=seed,
                     out_dir=out / "student", resume=resume, progress=progress, precise_bn=precise_bn,
                     lr_schedule=lr_schedule, checkpoint_every=checkpoint_every, device=dev, amp=precision.amp)
        trainers.append(("student", st))
        if conv is not None:  # the converted network before training, and its ANN
            converted_acc = st.evaluate(*test)["acc"]
            if teacher_model is not None:
                teacher_acc = st.evaluate(*test, model=teacher_model, timesteps=None)["acc"]
        hist = st.fit(train, val=test)
        test_eval = {"acc": hist[-1]["val_acc"], "loss": hist[-1]["val_loss"]}  # evaluated after the last epoch
        st.close()
        student_wall = time.perf_counter() - t0
        if rank == 0:  # self-describing model files (``neurosim tsrsa --model DIR/student/model.pt``)
            from neurosim.io.checkpoint import save_model

            meta = {"dataset": dataset, "input_size": int(train[0].shape[-1])}
            if conv is None:
                save_model(out / "student" / "model.pt", student_model, student, cfg, test_acc=test_eval["acc"],
                           timesteps=timesteps, kd=kd, **meta)
            else:
                from neurosim.convert import recipe

                save_model(out / "student" / "model.pt", student_model, conv.name, cfg, test_acc=test_eval["acc"],
                           timesteps=timesteps, kd=kd, conversion=recipe(student_model, tuple(train[0].shape[1:])),
                           converted_from=conv.file, **meta)
            if teacher_epochs > 0:
                save_model(out / "teacher" / "model.pt", teacher_model, teacher, cfg, test_acc=teacher_acc,
                           timesteps=None, **meta)
        summary = {
            "test_acc": test_eval["acc"], "test_loss": test_eval["loss"], "teacher_acc": teacher_acc,
            "epochs": epochs, "teacher_epochs": teacher_epochs, "wall_s": round(time.perf_counter() - t_start, 3),
            "teacher_wall_s": round(teacher_wall, 3), "student_wall_s": round(student_wall, 3),
            "kd": kd, "dataset": dataset, "teacher": teacher, "student": student, "timesteps": timesteps,
            "batch_size": batch_size, "seed": seed, "n_train": len(train[0]), "n_test": len(test[0]),
            "feature_layers": None if layers is None else list(layers), "world_size": dist_utils.world_info()[1],
            "threads": torch.get_num_threads(), "precise_bn": precise_bn,
            "label_smoothing": label_smoothing, "lr_schedule": lr_schedule, "bkd_alpha": bkd_alpha,
            "bkd_lambda": bkd_lambda, "kd_temperature": kd_temperature, "history": hist, "teacher_history": teacher_hist,
            "resumed": any(t.resumed for _, t in trainers), "device": str(dev), "amp": precision.amp,
        }
        if conv is not None:
            summary["converted"] = {"file": conv.file, "model": conv.name, "converted_here": conv.converted_here,
                                    "mode": conv.mode, "calibration": conv.calibration,
                                    "convert_s": round(conv.convert_s, 3), "acc_before_training": converted_acc,
                                    "teacher": "the ANN in the file" if conv.ann is not None else teacher}
        if rank == 0:
            write_json(out / "summary.json", summary)
        return summary
    except KeyboardInterrupt as exc:
        if isinstance(exc, Interrupted):
            raise
        kept = [f"{role} {t.describe_checkpoint()}" for role, t in trainers if t.saved_at is not None]
        raise Interrupted(" and ".join(kept) or None) from exc
    finally:
        if started_group:
            torch.distributed.destroy_process_group()


def _converted_teacher(conv, teacher: Optional[str], kd: str, x):
    """The frozen ANN teacher of a converted student (None: none, with ``--kd none``); see the module docstring."""
    from neurosim.commands.convert import check_takes_images
    from neurosim.commands.train import is_spiking
    from neurosim.models import load_model

    student = f"--student converted:{conv.file}"
    if conv.ann is not None:
        if teacher is not None:
            raise ValueError(f"--teacher {teacher} conflicts with {student}: the trained ANN in that file is the "
                             "teacher; leave --teacher out")
        return conv.ann
    if teacher is None:
        if kd == "none":
            return None
        hint = "" if conv.converted_from is None else f" (e.g. {conv.converted_from}, the ANN it was converted from)"
        raise ValueError(f"--kd {kd} needs a teacher, but {student} holds an SNN converted already, without the ANN's "
                         f"weights: pass --teacher FILE or NAME@FILE, a trained ANN{hint}, or use --kd none")
    file = teacher.split("@", 1)[1] if "@" in teacher else teacher
    if "@" in teacher or Path(file).suffix in (".pt", ".pth", ".ckpt") or Path(file).exists():
        if not Path(file).is_file():
            raise FileNotFoundError(f"--teacher {teacher}: no such file {file}")
    try:
        rec = load_model(teacher)
    except KeyError as exc:  # an unknown registry name
        raise ValueError(f"--teacher {teacher}: {exc.args[0] if exc.args else exc}") from None
    if not rec.trained:
        raise ValueError(f"--teacher {teacher} is an untrained registry model; with {student} (converted already) "
                         "pass a trained ANN: --teacher FILE or NAME@FILE (no teacher is trained here)")
    if is_spiking(rec.model):
        raise ValueError(f"--teacher {teacher} holds a spiking model ({rec.name!r}); the teacher must be an ANN")
    check_takes_images(rec.model.eval(), x[:1].float().div(255.0), f"--teacher {teacher}")
    return rec.model


def _converted_features(conv, teacher_model, kd: str, x, timesteps: int):
    """``(feature_layers, student shape, teacher shape)`` of a converted student (see
    :func:`neurosim.convert.finetune.feature_pair`); ``(None, None, None)`` for the other recipes."""
    from neurosim.convert import feature_pair
    from neurosim.distill import probe_shapes

    if kd not in FEATURE_RECIPES:
        return None, None, None
    try:
        layers = feature_pair(conv.snn, teacher_model)
    except ValueError as exc:
        raise ValueError(f"--kd {kd} compares features, but {exc}; use --kd kd, wsld or none") from None
    s_shape = probe_shapes(conv.snn, [layers[0]], x, timesteps)[layers[0]]
    try:
        t_shape = probe_shapes(teacher_model, [layers[1]], x, None)[layers[1]]
    except RuntimeError as exc:  # a --teacher of another input shape
        raise ValueError(f"--kd {kd}: the teacher does not take this run's images ({exc})") from None
    if tuple(s_shape[2:]) != tuple(t_shape[1:]):
        raise ValueError(f"--kd {kd} compares the converted student's IF layer "
                         f"{conv.snn.feature_tap.source!r} (shape {tuple(s_shape[2:])} per sample) with the teacher's "
                         f"{layers[1]!r} (shape {tuple(t_shape[1:])}): they differ (a max pool moved before the "
                         "activation?); use --kd kd, wsld or none")
    return layers, s_shape, t_shape


def demo_stage(stage_dir, *, data_dir=None, fast: bool = False, seed: int = 0, progress: bool = False,
               device: str = "cpu", amp: str = "none") -> StageResult:
    """A small ConvNet teacher and spiking ConvNet student on the embedded digits (or Fashion-MNIST).

    Fast: 400 training images, T = 2, only the BKD+WSLD student. Full: 1500 images, T = 4, and a
    no-KD student for comparison. Two epochs each, channels (8, 16), hidden 64. ``progress``:
    tqdm bars (stderr); ``device``/``amp``: as in :func:`run`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stage_dir = ensure_out_dir(stage_dir)
    dataset = "embedded" if data_dir is None else "fashion_mnist"
    n = 400 if fast else 1500
    common = dict(dataset=dataset, teacher="convnet", student="spiking_convnet", epochs=2,
                  teacher_epochs=2, batch_size=25, timesteps=2 if fast else 4, seed=seed,
                  data=data_dir, limit=n, test_limit=200 if fast else 600, progress=progress,
                  model_cfg={"channels": (8, 16), "hidden": (64,)}, lr=1e-2, teacher_lr=3e-3, device=device, amp=amp)
    arms = ["bkd+wsld"] if fast else ["none", "bkd+wsld"]
    results = {}
    for arm in arms:
        results[arm] = run(kd=arm, out=stage_dir / arm.replace("+", "_"), **common)
    main = results["bkd+wsld"]
    metrics = {"dataset": dataset, "n_train": main["n_train"], "n_test": main["n_test"],
               "timesteps": main["timesteps"], "teacher_acc": round(main["teacher_acc"], 4),
               "student_acc_bkd_wsld": round(main["test_acc"], 4)}
    if "none" in results:
        metrics["student_acc_no_kd"] = round(results["none"]["test_acc"], 4)
    fig, ax = plt.subplots(1, 2, figsize=(8, 3))
    for arm, res in results.items():
        ax[0].plot([h["epoch"] for h in res["history"]], [h["train_loss"] for h in res["history"]], "o-", label=arm)
    ax[0].set_xlabel("epoch")
    ax[0].set_ylabel("training loss")
    ax[0].legend()
    names = ["teacher (ANN)"] + [f"SNN {a}" for a in results]
    accs = [main["teacher_acc"]] + [r["test_acc"] for r in results.values()]
    ax[1].bar(range(len(names)), accs, color=["grey"] + ["C0", "C1"][:len(results)])
    ax[1].set_xticks(range(len(names)), names, rotation=15)
    ax[1].set_ylabel("test accuracy")
    ax[1].set_ylim(0, 1)
    fig.tight_layout()
    fig_path = stage_dir / "distillation.png"
    fig.savefig(fig_path, dpi=100)
    plt.close(fig)
    text = (f"An ANN ConvNet teacher and a spiking ConvNet student (LIF, T = {main['timesteps']}, "
            f"direct encoding) on {dataset} ({main['n_train']} training images). The student is trained "
            f"with cross-entropy + blurred KD (channel masks, lambda 0.15, restoration conv block) + WSLD "
            f"(BKDSNN objective) by `neurosim.distill.Trainer`. Teacher accuracy {main['teacher_acc']:.3f}, "
            f"student {main['test_acc']:.3f}"
            + (f", no-KD student {results['none']['test_acc']:.3f}." if "none" in results else ".")
            + " Small sizes: these numbers only show that the pipeline runs.")
    return StageResult(name="distillation", metrics=metrics, figures=[str(fig_path)], text=text)
