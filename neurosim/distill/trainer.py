"""``Trainer``: supervised and distillation training with checkpoints, resume and DDP.

One class trains an ANN teacher (plain cross-entropy), a spiking student on its own, or a
student distilled from a frozen teacher with any :class:`~neurosim.distill.losses.DistillObjective`.

* **Data** are in-memory tensors ``(x, y)``; ``uint8`` images are scaled to ``[0, 1]`` per batch.
  The order of epoch ``e`` is a permutation drawn from ``(seed, e)``
  (:func:`~neurosim.distill.distributed.epoch_permutation`), so it never depends on history.
* **Spiking students**: with ``timesteps=T`` a static batch ``[B, ...]`` is repeated to
  ``[T, B, ...]`` (direct encoding); logits ``[T, B, K]`` are averaged over time; the model's
  neuron states are reset after every batch (:func:`neurosim.snn.reset_states`, which also calls
  a model's own ``reset_states()`` method).
* **Teacher** (optional): frozen (``eval()``, no gradients), fed the static batch. Features are
  captured with forward hooks on the modules named in ``objective.feature_layers``.
* **Randomness**: the data order and the blurred-KD masks come from explicit generators seeded
  from ``seed``; the checkpoint also stores the global torch/numpy RNG states (used by model code
  such as dropout), so ``resume=True`` reproduces the uninterrupted run bit for bit.
* **Outputs** (rank 0 only): ``out_dir/metrics.jsonl`` (one JSON line per epoch) and
  ``out_dir/checkpoint.pt`` written atomically after every epoch (student, loss modules,
  optimizer, scheduler, RNG states, epoch, history) and, with ``checkpoint_every=N``, after every
  ``N`` batches inside an epoch too (plus the epoch's position and running sums), so an
  interrupted run loses at most ``N`` batches and resumes bit for bit.
* **Distributed**: under ``torchrun`` (after :func:`~neurosim.distill.distributed.init_from_env`)
  the student and loss modules are wrapped in ``DistributedDataParallel``; each process takes a
  contiguous slice of every global batch. See :mod:`neurosim.distill.distributed`.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurosim._validation import check_choice, check_int, check_memory
from neurosim.distill import distributed as dist_utils
from neurosim.distill.losses import DistillObjective, make_objective
from neurosim.io.checkpoint import load_checkpoint, save_checkpoint

#: per-step learning-rate schedules of :class:`Trainer`
LR_SCHEDULES = ("constant", "cosine")

__all__ = ["Trainer", "resolve_module", "probe_shapes", "reset_model_states", "LR_SCHEDULES"]

CHECKPOINT_FORMAT = "neurosim.distill.Trainer/1"


def resolve_module(model: nn.Module, name: str, role: str = "model") -> nn.Module:
    """``model``'s sub-module called ``name``; ValueError listing the available names otherwise."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        avail = ", ".join(n for n in modules if n)
        raise ValueError(f"unknown {role} feature layer {name!r}; available layer names: {avail}")
    return modules[name]


def reset_model_states(model: nn.Module) -> None:
    """:func:`neurosim.snn.reset_states` (kept under this name for existing imports).

    The Trainer resets through this name after every batch. ``neurosim.snn`` is imported on the
    first call, so that importing ``neurosim.distill`` stays light.
    """
    from neurosim.snn.containers import reset_states

    reset_states(model)


def _encode(x: torch.Tensor, timesteps: Optional[int]) -> torch.Tensor:
    return x if timesteps is None else x.unsqueeze(0).expand(timesteps, *x.shape)


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255.0) if x.dtype == torch.uint8 else x


def _logits(out, timesteps):
    if isinstance(out, (tuple, list)):
        out = out[0]
    if timesteps is not None and out.dim() == 3:
        out = out.mean(0)
    return out


class _Capture:
    """Forward hook storing the output of one module."""

    def __init__(self, module: nn.Module):
        self.value = None
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, module, inputs, output):
        self.value = output[0] if isinstance(output, (tuple, list)) else output

    def pop(self):
        v, self.value = self.value, None
        return v


class _Step(nn.Module):
    """Student forward + objective, the unit wrapped by DDP."""

    def __init__(self, student: nn.Module, objective: DistillObjective, timesteps, capture):
        super().__init__()
        self.student = student
        self.objective = objective
        self.timesteps = timesteps
        self._capture = capture

    def forward(self, x, y, t_logits, t_feat, rows, total, generator):
        logits = _logits(self.student(_encode(x, self.timesteps)), self.timesteps)
        s_feat = self._capture.pop() if self._capture is not None else None
        loss, parts = self.objective(logits, y, t_logits, s_feat, t_feat, generator=generator, rows=rows,
                                     total=total)
        return loss, parts, logits.detach()


def probe_shapes(model: nn.Module, layers, x: torch.Tensor, timesteps: Optional[int] = None) -> dict:
    """Output shapes of the named ``layers`` (and ``"logits"``) for one input batch ``x`` (static).

    Runs in eval mode without gradients and resets neuron states afterwards; ``x`` is moved to
    the model's device.
    """
    from neurosim.snn.device import module_device

    x = x.to(module_device(model))
    caps = {name: _Capture(resolve_module(model, name)) for name in layers}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = _logits(model(_encode(_as_float(x), timesteps)), timesteps)
        shapes = {name: tuple(c.value.shape) for name, c in caps.items()}
        shapes["logits"] = tuple(out.shape)
    finally:
        for c in caps.values():
            c.handle.remove()
        reset_model_states(model)
        model.train(was_training)
    return shapes


class Trainer:
    """Train ``student`` (optionally distilled from ``teacher``) with checkpoints and resume.

    Parameters
    ----------
    student : nn.Module
        Model to train. Spiking models take ``[T, B, ...]`` (set ``timesteps``).
    objective : DistillObjective, optional
        Loss recipe (default: cross-entropy only, ``make_objective("none")``).
    teacher : nn.Module, optional
        Frozen teacher, required when the objective uses logits or features of a teacher.
    epochs, batch_size : int
        Number of epochs; global batch size (split over processes in distributed runs).
    optimizer : callable, optional
        ``optimizer(params) -> torch.optim.Optimizer``; default ``Adam(lr)``. It receives the
        student's and the objective's parameters (alignment conv, restoration block).
    scheduler : callable, optional
        ``scheduler(optimizer) -> LRScheduler``, stepped once per epoch.
    lr : float
        Learning rate of the default optimizer.
    timesteps : int, optional
        Repeat static inputs ``T`` times for spiking students (None for ANNs).
    seed : int
        Seeds the data order and the blurred-KD masks.
    out_dir : path, optional
        Where ``metrics.jsonl`` and ``checkpoint.pt`` go (nothing is written if None).
    resume : bool
        Continue from ``out_dir/checkpoint.pt`` if it exists.
    device : str or torch.device, optional
        ``"cpu"``, ``"cuda"`` (``cuda:LOCAL_RANK``), ``"cuda:N"``, ``"auto"`` (the default: CUDA if
        available) or a ``torch.device``; the models and batches move there; checkpoints resume on any.
    amp : {"none", "bf16", "fp16"}
        Mixed precision (:class:`neurosim.snn.device.Precision`): autocast forward passes and losses;
        ``"fp16"`` (CUDA) adds a checkpointed ``GradScaler``; ``"none"`` (default): float32.
    progress : bool
        Show a tqdm bar (rank 0).
    grad_clip : float, optional
        Clip the global gradient norm.
    lr_schedule : {"constant", "cosine"}
        ``"cosine"``: every optimizer step ``i`` of the ``epochs * steps_per_epoch`` steps uses
        ``lr_i = lr_0 (1 + cos(pi i / steps)) / 2`` (per group, ``lr_0`` = the group's initial
        lr), annealing to 0 at the end of training (BKDSNN's recipes are cosine). A pure function
        of the global step, so resuming continues it exactly. Combine with ``scheduler`` only
        if that scheduler does not set the lr itself.
    checkpoint_every : int
        Also write the checkpoint after every this many batches inside an epoch (0: only at the
        end of each epoch). Single-process runs only (in distributed runs the per-process
        running sums would need gathering; they checkpoint at epoch ends).
    precise_bn : int
        If > 0, after every epoch the BatchNorm running statistics are recomputed as plain
        averages over this many training samples (a fixed, seed-determined subset; no
        gradients; "precise BN"). Short runs otherwise evaluate with running statistics that
        still carry their initial values (0.9^k of running_var = 1 after k steps). Training
        itself is unaffected (train-mode BN uses batch statistics).
    """

    def __init__(self, student: nn.Module, objective: Optional[DistillObjective] = None, *,
                 teacher: Optional[nn.Module] = None, epochs: int = 1, batch_size: int = 128,
                 optimizer: Optional[Callable] = None, scheduler: Optional[Callable] = None, lr: float = 1e-3,
                 timesteps: Optional[int] = None, seed: int = 0, out_dir=None, resume: bool = False,
                 device=None, progress: bool = True, grad_clip: Optional[float] = None,
                 eval_batch_size: Optional[int] = None, precise_bn: int = 0, lr_schedule: str = "constant",
                 checkpoint_every: int = 0, amp: str = "none"):
        if not isinstance(student, nn.Module):
            raise TypeError(f"student must be a torch.nn.Module, got {type(student).__name__}")
        self.objective = make_objective("none") if objective is None else objective
        if not isinstance(self.objective, DistillObjective):
            raise TypeError("objective must be a neurosim.distill.DistillObjective (see make_objective)")
        if self.objective.needs_teacher and teacher is None:
            raise ValueError("this objective distils from a teacher: pass teacher=<frozen nn.Module>")
        self.epochs = check_int("epochs", epochs, min_value=1)
        self.batch_size = check_int("batch_size", batch_size, min_value=1)
        self.timesteps = None if timesteps is None else check_int("timesteps", timesteps, min_value=1)
        self.seed = check_int("seed", seed, min_value=0)
        self.eval_batch_size = self.batch_size if eval_batch_size is None else check_int(
            "eval_batch_size", eval_batch_size, min_value=1)
        from neurosim.snn.device import Precision, resolve_device

        self.device = resolve_device("auto" if device is None else device, flag="device")
        self.precision = Precision.of(amp, self.device, flag="amp")
        self.scaler = self.precision.grad_scaler()
        self.rank, self.world = dist_utils.world_info()
        if self.batch_size < self.world:
            raise ValueError(f"batch_size {batch_size} is smaller than the number of processes {self.world}")
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume = bool(resume)
        self.progress = bool(progress)
        self.grad_clip = grad_clip
        self.precise_bn = check_int("precise_bn", precise_bn, min_value=0)
        self.lr_schedule = check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        self.checkpoint_every = check_int("checkpoint_every", checkpoint_every, min_value=0)
        self.student = student.to(self.device)
        self.objective.to(self.device)
        self.teacher = teacher
        if teacher is not None:
            teacher.to(self.device).eval()
            teacher.requires_grad_(False)
        # hooks (unknown layer names fail here, before any training)
        self._s_cap = self._t_cap = None
        if self.objective.feature_layers is not None:
            s_name, t_name = self.objective.feature_layers
            self._s_cap = _Capture(resolve_module(self.student, s_name, "student"))
            self._t_cap = _Capture(resolve_module(teacher, t_name, "teacher"))
        self._step = _Step(self.student, self.objective, self.timesteps, self._s_cap)
        params = [p for p in self._step.parameters() if p.requires_grad]
        self.optimizer = (optimizer or (lambda ps: torch.optim.Adam(ps, lr=lr)))(params)
        self.scheduler = scheduler(self.optimizer) if scheduler is not None else None
        self._base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self._ddp = None
        if self.world > 1:
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DDP(self._step, device_ids=ids)
        self.mask_generator = torch.Generator().manual_seed((self.seed * 2654435761 + 97) % (2**63 - 1))
        self.epoch = 0
        self.history: list[dict] = []
        self._partial: Optional[dict] = None  # position inside an epoch (mid-epoch checkpoints)
        #: True once :meth:`fit` continued from a checkpoint
        self.resumed = False
        #: where the last checkpoint written or loaded stands: ``{"epoch", "batch", "batches"}``
        #: (``batch`` batches of epoch ``epoch + 1`` done; 0 at an epoch's end), None before any
        self.saved_at: Optional[dict] = None

    # ------------------------------------------------------------------ state
    @property
    def checkpoint_path(self) -> Optional[Path]:
        return None if self.out_dir is None else self.out_dir / "checkpoint.pt"

    def state_dict(self) -> dict:
        """Everything needed to continue training exactly."""
        np_state = np.random.get_state()
        return {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "student": self.student.state_dict(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "mask_generator": self.mask_generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy_rng": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
            "history": self.history,
            "config": self._config(),
            "partial": self._partial,
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
        }

    def _config(self) -> dict:
        cfg = {"seed": self.seed, "batch_size": self.batch_size, "timesteps": self.timesteps}
        if self.lr_schedule != "constant":  # old checkpoints (constant lr) keep resuming
            cfg.update(lr_schedule=self.lr_schedule, epochs=self.epochs)
        if self.precision.enabled:  # likewise: float32 runs keep the old configuration
            cfg["amp"] = self.precision.amp
        return cfg

    def _set_lr(self, step: int, total: int) -> None:
        """Per-step learning rate of ``lr_schedule`` (no-op for ``"constant"``)."""
        if self.lr_schedule == "cosine":
            f = 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))
            for g, lr0 in zip(self.optimizer.param_groups, self._base_lrs):
                g["lr"] = lr0 * f

    def load_state_dict(self, state: dict, *, path=None) -> None:
        """Continue from ``state`` (a :meth:`state_dict`, e.g. read from ``checkpoint.pt``).

        ``path``: the file ``state`` was read from; every error then is a
        :class:`~neurosim.io.CorruptFileError` naming it (without ``path``: a ``ValueError``).
        Refused: anything that is not a Trainer checkpoint, one written with other settings
        (seed, batch size, timesteps, schedule), student weights of another model and optimizer
        state of another set of parameters.
        """
        from collections.abc import Mapping

        from neurosim.io.checkpoint import load_module_state
        from neurosim.io.files import CorruptFileError, brief

        def fail(problem: str):
            if path is not None:
                raise CorruptFileError(path, problem)
            raise ValueError(f"checkpoint {problem}")

        if not isinstance(state, Mapping) or state.get("format") != CHECKPOINT_FORMAT:
            got = f"format {state.get('format')!r}" if isinstance(state, Mapping) else f"a {type(state).__name__}"
            fail(f"is not a Trainer checkpoint ({got}, expected format {CHECKPOINT_FORMAT!r}); resume only from "
                 "the checkpoint.pt that a Trainer wrote in this out_dir, or start without resume")
        missing = [k for k in ("config", "epoch", "student", "objective", "optimizer", "scheduler", "mask_generator",
                               "torch_rng", "cuda_rng", "numpy_rng", "history") if k not in state]
        if missing:
            fail(f"is an incomplete Trainer checkpoint (missing {', '.join(missing)}); start without resume")
        cfg = state["config"]
        mine = self._config()
        if cfg != mine:
            fail(f"was written with {cfg}, this run uses {mine}; resume with the same settings or start a new "
                 "out_dir")
        load_module_state(self.student, state["student"], path=path, what="the student")
        load_module_state(self.objective, state["objective"], path=path, what="the distillation objective")
        for what, obj, key in (("optimizer", self.optimizer, "optimizer"),
                               ("lr scheduler", self.scheduler, "scheduler")):
            if obj is None or state[key] is None:
                continue
            try:
                obj.load_state_dict(state[key])
            except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
                fail(f"holds {what} state that does not fit this run's {what} (another model's or another "
                     f"configuration's checkpoint?): {brief(exc)}")
        try:
            self.mask_generator.set_state(state["mask_generator"])
            if self.scaler is not None and state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["torch_rng"])
            if state["cuda_rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
            s = state["numpy_rng"]
            np.random.set_state((s[0], np.asarray(s[1], dtype=np.uint32), s[2], s[3], s[4]))
            self.epoch = int(state["epoch"])
            self.history = list(state["history"])
            p = state.get("partial")
            self.saved_at = {"epoch": self.epoch, "batch": p["batch"] if p else 0,
                             "batches": p["batches"] if p else None}
        except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as exc:
            fail(f"holds damaged random-generator or progress state ({brief(exc)}); start without resume")
        self._partial = p

    def describe_checkpoint(self) -> Optional[str]:
        """``"checkpoint after epoch 2 of 5"`` or ``"checkpoint at epoch 3, batch 120 of 469"``
        (:attr:`saved_at` in words), None before any checkpoint."""
        at = self.saved_at
        if at is None:
            return None
        if at["batch"]:
            return f"checkpoint at epoch {at['epoch'] + 1}, batch {at['batch']} of {at['batches']}"
        return f"checkpoint after epoch {at['epoch']} of {self.epochs}"

    def _save(self) -> None:
        if self.out_dir is None:
            return
        if self.rank == 0:
            save_checkpoint(self.checkpoint_path, self.state_dict())
        p = self._partial
        self.saved_at = {"epoch": self.epoch, "batch": p["batch"] if p else 0, "batches": p["batches"] if p else None}
        if p is None:
            dist_utils.barrier()

    def _write_metrics(self, rewrite: bool = False) -> None:
        if self.out_dir is None or self.rank != 0:
            return
        path = self.out_dir / "metrics.jsonl"
        if rewrite:
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(h, sort_keys=True) + "\n" for h in self.history))
            os.replace(tmp, path)
        else:
            with open(path, "a") as fh:
                fh.write(json.dumps(self.history[-1], sort_keys=True) + "\n")

    # ------------------------------------------------------------------ checks
    def check_compatible(self, x: torch.Tensor) -> None:
        """Class counts of teacher and student must agree (probe on one sample)."""
        if self.teacher is None:
            return
        xs = x[:1].to(self.device)
        s = probe_shapes(self.student, [], xs, self.timesteps)["logits"]
        t = probe_shapes(self.teacher, [], xs, None)["logits"]
        if s[-1] != t[-1]:
            raise ValueError(f"teacher predicts {t[-1]} classes but the student {s[-1]}; they must match "
                             "(num_classes of both models)")

    # ------------------------------------------------------------------ training
    def _teacher_out(self, xb):
        if self.teacher is None:
            return None, None
        with torch.no_grad(), self.precision.autocast():
            t_logits = _logits(self.teacher(xb), None)
            t_feat = self._t_cap.pop() if self._t_cap is not None else None
        reset_model_states(self.teacher)
        return t_logits, t_feat

    def _train_epoch(self, x, y, epoch, rec: dict, start: Optional[dict] = None):
        """One epoch; ``start``: the position and running sums of a mid-epoch checkpoint."""
        from tqdm.auto import tqdm

        from neurosim.snn.device import backward_step

        n = len(x)
        perm = dist_utils.epoch_permutation(n, self.seed, epoch)
        starts = [s for s in range(0, n, self.batch_size) if min(self.batch_size, n - s) >= self.world]
        if start is not None and start["batches"] != len(starts):
            raise ValueError(f"the checkpoint was written inside an epoch of {start['batches']} batches, this run "
                             f"has {len(starts)}; resume with the same data (--limit) and batch size")
        self.student.train()
        self.objective.train()
        step_fn = self._ddp if self._ddp is not None else self._step
        sums = dict(start["sums"]) if start else {}
        seen = torch.tensor([start["seen"] if start else 0.0], dtype=torch.float64)
        correct = torch.tensor([start["correct"] if start else 0.0], dtype=torch.float64)
        first = start["batch"] if start else 0
        every = self.checkpoint_every if (self.world == 1 and self.out_dir is not None) else 0
        bar = tqdm(total=len(starts), initial=first, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                   disable=not self.progress or self.rank != 0)
        try:
            for i in range(first, len(starts)):
                s = starts[i]
                self._set_lr(epoch * len(starts) + i, self.epochs * len(starts))
                gidx = perm[s:s + self.batch_size]
                lo, hi = dist_utils.shard_bounds(len(gidx), self.rank, self.world)
                idx = gidx[lo:hi]
                xb = _as_float(x[idx]).to(self.device, non_blocking=True)
                yb = y[idx].to(self.device, non_blocking=True)
                t_logits, t_feat = self._teacher_out(xb)
                with self.precision.autocast():
                    loss, parts, logits = step_fn(xb, yb, t_logits, t_feat, slice(lo, hi), len(gidx),
                                                  self.mask_generator)
                self.optimizer.zero_grad(set_to_none=True)
                backward_step(loss * ((hi - lo) * self.world / len(gidx)), self.optimizer, self.scaler,
                              clip=self.grad_clip, params=self._step.parameters())
                reset_model_states(self.student)
                nb = hi - lo
                seen += nb
                for k, v in {"loss": loss.detach(), **parts}.items():
                    sums[k] = sums.get(k, 0.0) + float(v) * nb
                if not yb.dtype.is_floating_point:
                    correct += float((logits.argmax(-1) == yb).sum())
                if self.rank == 0:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
                if every and (i + 1) % every == 0 and i + 1 < len(starts):
                    self._partial = {"epoch": epoch, "batch": i + 1, "batches": len(starts), "sums": dict(sums),
                                     "seen": float(seen), "correct": float(correct), "record": dict(rec)}
                    self._save()
        finally:
            bar.close()
        self._partial = None
        keys = sorted(sums)
        vec = torch.tensor([sums[k] for k in keys] + [float(seen), float(correct)], dtype=torch.float64)
        dist_utils.all_reduce_sum(vec)
        total = max(vec[-2].item(), 1.0)
        out = {f"train_{k}": vec[i].item() / total for i, k in enumerate(keys)}
        out["train_acc"] = vec[-1].item() / total
        return out

    @torch.no_grad()
    def recalibrate_bn(self, x, n_samples: int) -> int:
        """Recompute BatchNorm running statistics of the student over ``n_samples`` training samples.

        Every process uses the same samples (the first ``n_samples`` of a permutation drawn from
        ``seed``), so the buffers agree across processes; they are shown in batches of
        ``eval_batch_size`` (:func:`neurosim.snn.recalibrate_batchnorm`). Returns the number of
        BN layers.
        """
        from neurosim.snn.calibration import recalibrate_batchnorm

        if n_samples <= 0:
            return 0

        def batches():
            idx = dist_utils.epoch_permutation(len(x), self.seed, 10**6)[:n_samples]
            for s in range(0, len(idx), self.eval_batch_size):
                xb = _as_float(x[idx[s:s + self.eval_batch_size]]).to(self.device)
                yield _encode(xb, self.timesteps)

        try:
            with self.precision.autocast():
                return recalibrate_batchnorm(self.student, batches(), reset=reset_model_states)
        finally:
            if self._s_cap is not None:
                self._s_cap.pop()

    @torch.no_grad()
    def evaluate(self, x, y, model: Optional[nn.Module] = None, timesteps: Optional[int] = -1) -> dict:
        """Accuracy and mean cross-entropy of ``model`` (default the student) on ``(x, y)``.

        Work is split over processes in distributed runs; every process gets the global result.
        ``timesteps=-1`` means the trainer's (use None for an ANN teacher).
        """
        from neurosim.snn.device import module_device

        model = self.student if model is None else model
        device = module_device(model, self.device)  # another model (a teacher) may live elsewhere
        t = self.timesteps if timesteps == -1 else timesteps
        was = model.training
        model.eval()
        lo, hi = dist_utils.shard_bounds(len(x), self.rank, self.world) if len(x) >= self.world else (0, 0)
        acc = torch.zeros(3, dtype=torch.float64)
        for s in range(lo, hi, self.eval_batch_size):
            e = min(s + self.eval_batch_size, hi)
            xb = _as_float(x[s:e]).to(device)
            yb = y[s:e].to(device)
            with self.precision.autocast():
                logits = _logits(model(_encode(xb, t)), t).float()
            reset_model_states(model)
            acc += torch.tensor([float((logits.argmax(-1) == yb).sum()),
                                 float(F.cross_entropy(logits, yb, reduction="sum")), e - s], dtype=torch.float64)
        model.train(was)
        dist_utils.all_reduce_sum(acc)
        n = max(acc[2].item(), 1.0)
        return {"acc": acc[0].item() / n, "loss": acc[1].item() / n, "n": int(acc[2].item())}

    def fit(self, train, val=None) -> list[dict]:
        """Train on ``train = (x, y)`` for the remaining epochs; evaluate on ``val`` after each.

        Returns the history (one dict per epoch, also in ``metrics.jsonl``).
        """
        x, y = train
        if len(x) != len(y):
            raise ValueError(f"train x has {len(x)} samples but y has {len(y)}")
        if len(x) < self.world:
            raise ValueError(f"{len(x)} training samples cannot be split over {self.world} processes")
        if self.timesteps is not None:  # the repeated input and each layer's activations: T x B x sample floats
            b = min(self.batch_size, len(x))
            check_memory("timesteps x batch_size", self.timesteps * b, 4.0 * max(int(np.prod(x.shape[1:])), 1),
                         f"a batch of {b} samples {tuple(x.shape[1:])} over {self.timesteps} time steps (float32)")
        self.check_compatible(x)
        if self.out_dir is not None and self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        dist_utils.barrier()
        if self.resume and self.checkpoint_path is not None and self.checkpoint_path.is_file():
            self.load_state_dict(load_checkpoint(self.checkpoint_path, map_location="cpu"), path=self.checkpoint_path)
            self.resumed = True
            self._write_metrics(rewrite=True)
        elif self.out_dir is not None and self.rank == 0:
            (self.out_dir / "metrics.jsonl").unlink(missing_ok=True)
        while self.epoch < self.epochs:
            t0 = time.perf_counter()
            start, self._partial = self._partial, None
            if start is not None and start["epoch"] != self.epoch:
                start = None
            rec = dict(start["record"]) if start else {"epoch": self.epoch + 1,
                                                       "lr": self.optimizer.param_groups[0]["lr"]}
            rec.update(self._train_epoch(x, y, self.epoch, rec, start))
            if self.scheduler is not None:
                self.scheduler.step()
            if self.precise_bn:
                self.recalibrate_bn(x, self.precise_bn)
            if val is not None:
                ev = self.evaluate(*val)
                rec.update(val_acc=ev["acc"], val_loss=ev["loss"])
            rec["wall_s"] = round(time.perf_counter() - t0, 3)
            self.epoch += 1
            self.history.append(rec)
            self._save()
            self._write_metrics()
        return self.history

    def close(self) -> None:
        """Remove the forward hooks."""
        for c in (self._s_cap, self._t_cap):
            if c is not None:
                c.handle.remove()
