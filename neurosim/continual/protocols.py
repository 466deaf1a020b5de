"""Task sequences and the train-then-evaluate loop that fills the accuracy matrix ``R``.

Benchmarks (ALGORITHMS.md §2.4):

* **Permuted MNIST** — ``K`` tasks (10 in the paper), each a fixed pixel permutation of MNIST
  drawn from the benchmark seed; one shared 10-way head. Pixels are scaled to [0, 1] and
  normalised with mean 0.1307, std 0.3081 before permuting.
* **Split MNIST / Split Fashion-MNIST** — 5 tasks of 2 classes ((0,1), (2,3), ...), labels
  mapped to {0, 1}, one head per task (multi-head, task identity given at test time).

Permutations are applied per batch to one shared copy of the images, so ``K`` tasks cost no
more memory than one. ``R[i, j]`` is the test accuracy on task ``j`` after learning task ``i``.

Checkpoints: :func:`run_sequence` and :func:`run_multitask` hand their whole state (model,
strategy, optimizer, generators, global RNGs, ``R``, position) to a ``checkpoint`` callable
after every task (every epoch for multitask) and every ``checkpoint_every`` batches; passing
that state back as ``resume_from`` continues bit for bit (the data order of an epoch is redrawn
from the generator state saved at its start). The state holds only tensors and plain values,
so ``torch.load(weights_only=True)`` reads it.

Devices: the loops run where the model's parameters are (``model.to("cuda")``; see
:func:`to_device` for the tasks' tensors, which keeps images shared by several tasks shared);
``amp="bf16"``/``"fp16"`` runs forward passes and losses under ``torch.autocast``
(:class:`neurosim.snn.device.Precision`; fp16 with a ``GradScaler`` whose state is part of
mid-task checkpoints). A checkpoint resumes on any device.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from neurosim._rng import as_generator
from neurosim._validation import check_choice, check_int, check_positive

__all__ = ["Task", "BENCHMARKS", "permuted_mnist", "split_mnist", "load_benchmark", "load_images",
           "evaluate", "train_task", "run_sequence", "run_multitask", "to_device", "MNIST_MEAN", "MNIST_STD",
           "SEQUENCE_FORMAT"]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
BENCHMARKS = ("pmnist", "split_mnist", "split_fmnist")
#: ``format`` of the states handed to ``checkpoint`` by :func:`run_sequence` / :func:`run_multitask`
SEQUENCE_FORMAT = "neurosim.continual.sequence/1"


@dataclass
class Task:
    """One task: shared image tensors (rows = samples, normalised), optional permutation, head."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    head: int = 0
    perm: torch.Tensor | None = None
    info: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    def batch(self, split: str, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (permuted when the task has a permutation) and labels at ``idx``."""
        x, y = (self.x_train, self.y_train) if split == "train" else (self.x_test, self.y_test)
        xb = x[idx]
        if self.perm is not None:
            xb = xb[:, self.perm]
        return xb, y[idx]


def _normalise(images: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32) / 255.0)
    return (x - MNIST_MEAN) / MNIST_STD


def load_images(name: str, root=None, *, limit: int | None = None, test_limit: int | None = None,
                embedded: bool = False, seed: int = 0, normalise: bool = True):
    """(x_train, y_train, x_test, y_test) as normalised float32 rows and int64 labels.

    ``embedded=True`` uses ``neurosim.data.embedded`` (generated digits, no files).
    ``normalise=False`` returns the raw uint8 images [N, 28, 28] and labels as numpy arrays.
    Missing files raise ``FileNotFoundError`` naming the folder and the fix.
    """
    if embedded:
        from neurosim.data.embedded import load_embedded

        n_tr = 6000 if limit is None else limit
        n_te = 1000 if test_limit is None else test_limit
        xtr, ytr = load_embedded("train", n=n_tr, seed=seed)
        xte, yte = load_embedded("test", n=n_te, seed=seed)
    else:
        from neurosim.data.mnist import load_mnist

        try:
            xtr, ytr = load_mnist(name, "train", root)
            xte, yte = load_mnist(name, "test", root)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"benchmark data missing: {exc}") from None
        if limit is not None:
            xtr, ytr = xtr[:limit], ytr[:limit]
        if test_limit is not None:
            xte, yte = xte[:test_limit], yte[:test_limit]
    if not normalise:
        return xtr, np.asarray(ytr, np.int64), xte, np.asarray(yte, np.int64)
    return _normalise(xtr), torch.from_numpy(np.asarray(ytr, np.int64)), _normalise(xte), \
        torch.from_numpy(np.asarray(yte, np.int64))


def permuted_mnist(n_tasks: int = 10, *, root=None, seed: int = 0, limit: int | None = None,
                   test_limit: int | None = None, embedded: bool = False, data=None) -> list[Task]:
    """Permuted-MNIST tasks; permutation ``k`` is drawn from ``default_rng(seed)`` (all tasks permuted).

    ``data`` may pass ready ``(x_train, y_train, x_test, y_test)`` tensors (rows of pixels).
    """
    n_tasks = check_int("tasks", n_tasks, min_value=1)
    xtr, ytr, xte, yte = data if data is not None else load_images(
        "mnist", root, limit=limit, test_limit=test_limit, embedded=embedded, seed=seed)
    rng = as_generator(seed)
    D = xtr.shape[1]
    tasks = []
    for k in range(n_tasks):
        perm = torch.from_numpy(rng.permutation(D))
        tasks.append(Task(f"pmnist-{k}", xtr, ytr, xte, yte, n_classes=10, head=0, perm=perm))
    return tasks


def split_mnist(n_tasks: int = 5, *, name: str = "mnist", root=None, limit: int | None = None,
                test_limit: int | None = None, embedded: bool = False, seed: int = 0, data=None) -> list[Task]:
    """Split (Fashion-)MNIST: task k holds classes (2k, 2k+1) relabelled 0/1, head k.

    ``limit`` / ``test_limit`` cap the samples per task.
    """
    n_tasks = check_int("tasks", n_tasks, min_value=1, max_value=5)
    if data is None:  # raw uint8: only the selected samples get normalised
        xtr, ytr, xte, yte = load_images(name, root, embedded=embedded, seed=seed, normalise=False)
        norm = _normalise
    else:
        xtr, ytr, xte, yte = data
        norm = lambda v: v  # noqa: E731
    ytr, yte = torch.as_tensor(ytr), torch.as_tensor(yte)
    tasks = []
    for k in range(n_tasks):
        a, b = 2 * k, 2 * k + 1
        itr = ((ytr == a) | (ytr == b)).nonzero().squeeze(1)
        ite = ((yte == a) | (yte == b)).nonzero().squeeze(1)
        if limit is not None:
            itr = itr[:limit]
        if test_limit is not None:
            ite = ite[:test_limit]
        tasks.append(Task(f"{name}-{a}/{b}", norm(xtr[itr.numpy()] if data is None else xtr[itr]).contiguous(),
                          (ytr[itr] == b).long(), norm(xte[ite.numpy()] if data is None else xte[ite]).contiguous(),
                          (yte[ite] == b).long(), n_classes=2, head=k))
    return tasks


def load_benchmark(benchmark: str, n_tasks: int, *, root=None, seed: int = 0, limit: int | None = None,
                   embedded: bool = False) -> list[Task]:
    """Tasks of ``benchmark`` (``pmnist``, ``split_mnist``, ``split_fmnist``).

    With ``limit`` the test sets are capped at ``limit`` samples per task too (quick runs).
    """
    check_choice("benchmark", benchmark, BENCHMARKS)
    n_tasks = check_int("tasks", n_tasks, min_value=1)
    if limit is not None:
        limit = check_int("limit", limit, min_value=1)
    if benchmark == "pmnist":
        return permuted_mnist(n_tasks, root=root, seed=seed, limit=limit, test_limit=limit, embedded=embedded)
    if n_tasks > 5:
        raise ValueError(f"tasks must be <= 5 for {benchmark} (5 pairs of classes), got {n_tasks}")
    name = "mnist" if benchmark == "split_mnist" else "fashion_mnist"
    if embedded and name == "fashion_mnist":
        raise ValueError("split_fmnist has no embedded data; pass --data with fashion_mnist/")
    return split_mnist(n_tasks, name=name, root=root, limit=limit, test_limit=limit, embedded=embedded, seed=seed)


def to_device(obj, device):
    """``obj`` (tasks, lists, tuples, dicts, tensors) with its tensors on ``device``.

    A tensor reached more than once (the images the tasks of a benchmark share) is moved once
    and stays shared. uint8 tensors (random-generator states) stay where they are.
    """
    import dataclasses

    device = torch.device(device)
    moved: dict = {}

    def move(o):
        if isinstance(o, torch.Tensor):
            if o.dtype == torch.uint8 or o.device == device:
                return o
            if id(o) not in moved:
                moved[id(o)] = o.to(device)
            return moved[id(o)]
        if isinstance(o, Task):
            return dataclasses.replace(o, **{f.name: move(getattr(o, f.name)) for f in dataclasses.fields(o)
                                             if f.name != "info"})
        if isinstance(o, dict):
            return {k: move(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return type(o)(move(v) for v in o)
        return o

    return move(obj)


def _device(model) -> torch.device:
    from neurosim.snn.device import module_device  # imported here: neurosim.snn loads Numba

    return module_device(model)


def _precision(model, amp: str):
    """``(Precision, backward_step)`` of ``amp`` on the model's device (neurosim.snn.device)."""
    from neurosim.snn.device import Precision, backward_step

    return Precision.of(amp, _device(model), flag="amp"), backward_step


# ---------------------------------------------------------------------------- loops
@torch.no_grad()
def evaluate(model, task: Task, batch_size: int = 1000, amp: str = "none") -> float:
    """Test accuracy of ``model(x, task=task.head)`` on ``task`` (``amp``: see the module docstring)."""
    precision, _ = _precision(model, amp)
    was = model.training
    model.eval()
    n = int(task.x_test.shape[0])
    correct = 0
    for s in range(0, n, batch_size):
        x, y = task.batch("test", slice(s, s + batch_size))
        with precision.autocast():
            out = model(x, task=task.head)
        correct += int((out.argmax(1) == y).sum())
    model.train(was)
    return correct / max(n, 1)


def train_task(model, strategy, task: Task, t: int, *, epochs: int = 1, batch_size: int = 64, lr: float = 0.1,
               gen: torch.Generator | None = None, progress: bool = False, start: dict | None = None,
               on_batch=None, amp: str = "none") -> dict:
    """Plain SGD on one task with the strategy's hooks (penalty, after_backward, after_step).

    ``on_batch(position)``, if given, is called after every batch with ``position = {"epoch",
    "batch" (batches done in that epoch), "batches" (per epoch), "gen_epoch" (state of ``gen``
    when the epoch drew its order), "losses", "optimizer"}``. ``start``: such a position (with
    the optimizer's ``state_dict()``) to continue a task cut short; needs ``gen``. ``amp``: see
    the module docstring (with ``"fp16"`` the position also holds ``"scaler"``, the GradScaler).
    """
    if start is not None and gen is None:
        raise ValueError("start (continuing a task) needs the generator gen that drew the data order")
    params = strategy.parameters(model, t)
    opt = torch.optim.SGD(params, lr=lr)
    precision, backward_step = _precision(model, amp)
    scaler = precision.grad_scaler()
    if start is not None:
        opt.load_state_dict(start["optimizer"])
        if scaler is not None and start.get("scaler"):
            scaler.load_state_dict(start["scaler"])
    model.train()
    n = task.n_train
    nb = (n + batch_size - 1) // batch_size
    losses = list(start["losses"]) if start is not None else []
    e0, b0 = (int(start["epoch"]), int(start["batch"])) if start is not None else (0, 0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * nb, initial=e0 * nb + b0, desc=f"task {t}", leave=False)
    try:
        for e in range(e0, epochs):
            if start is not None and e == e0:
                gen.set_state(start["gen_epoch"])
            gen_epoch = gen.get_state() if gen is not None else None
            order = torch.randperm(n, generator=gen)
            for b in range(b0 if e == e0 else 0, nb):
                s = b * batch_size
                x, y = task.batch("train", order[s:s + batch_size])
                opt.zero_grad(set_to_none=True)
                with precision.autocast():
                    loss = F.cross_entropy(model(x, task=task.head), y)
                    pen = strategy.penalty(model, t)
                    total = loss if pen is None else loss + pen
                if not torch.isfinite(total):
                    raise FloatingPointError(f"training diverged on task {t} (loss {float(total.detach())}); lower lr "
                                             "or the strategy's penalty strength (e.g. EWC lam)")
                backward_step(total, opt, scaler, after_backward=lambda: strategy.after_backward(model, t))
                strategy.after_step(model, t)
                losses.append(float(loss.detach()))
                if bar is not None:
                    bar.update(1)
                if on_batch is not None:
                    on_batch({"epoch": e, "batch": b + 1, "batches": nb, "gen_epoch": gen_epoch, "losses": losses,
                              "optimizer": opt, "scaler": scaler})
    finally:
        if bar is not None:
            bar.close()
    return {"loss_last": float(np.mean(losses[-50:])) if losses else float("nan")}


def _rng_state() -> dict:
    """The global torch and NumPy RNG states (model code such as dropout may draw from them)."""
    st = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "numpy": [st[0], st[1].tolist(), int(st[2]), int(st[3]), float(st[4])]}


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    s = state["numpy"]
    np.random.set_state((s[0], np.asarray(s[1], dtype=np.uint32), s[2], s[3], s[4]))


def _layers(model) -> list:
    return list(model.protected_layers()) if hasattr(model, "protected_layers") else []


def _check_resume(state: dict, kind: str, config: dict) -> None:
    if not isinstance(state, dict) or state.get("format") != SEQUENCE_FORMAT or state.get("kind") != kind:
        raise ValueError(f"resume_from is not a {kind} checkpoint of neurosim.continual (format "
                         f"{state.get('format') if isinstance(state, dict) else type(state).__name__!r})")
    if state["config"] != config:
        diff = sorted(k for k in set(config) | set(state["config"]) if config.get(k) != state["config"].get(k))
        raise ValueError(f"the checkpoint was written with other settings ({', '.join(diff)}: "
                         f"{[state['config'].get(k) for k in diff]} there, {[config.get(k) for k in diff]} now); "
                         "resume with the same settings or start afresh")


def run_sequence(model, strategy, tasks: list[Task], *, epochs: int = 1, batch_size: int = 64, lr: float = 0.1,
                 seed: int = 0, progress: bool = False, log=None, on_task_end=None, checkpoint=None,
                 checkpoint_every: int = 0, resume_from: dict | None = None, amp: str = "none") -> dict:
    """Learn ``tasks`` in order; after each, evaluate all tasks seen so far.

    ``lr``: one SGD learning rate, or one per task. ``on_task_end(t, model, R)``, if given, is
    called after task ``t`` has been learned and evaluated (e.g. to keep a snapshot of the
    weights); ``R`` is the accuracy matrix so far.

    ``checkpoint(state)``, if given, receives the full state after every task and after every
    ``checkpoint_every`` batches of a task (0: only after tasks); ``resume_from=state`` (a fresh
    model and strategy built the same way) continues from it exactly: same weights, same ``R``.
    The strategy's own state goes through its ``state_dict`` / ``load_state_dict`` hooks, and
    ``resume_task`` re-enters a task cut short in place of ``begin_task``. The model's device is
    where everything runs (``tasks`` are moved there, :func:`to_device`); ``amp``: see the module
    docstring.

    Returns ``{"R": ndarray (T, T) with NaN above the diagonal, "acc", "bwt", "wall_s",
    "task_s": [seconds per task incl. evaluation], "resumed_at": (task, batch) or None}``.
    """
    from neurosim.continual.metrics import average_accuracy, backward_transfer

    T = len(tasks)
    if T < 1:
        raise ValueError("tasks must hold at least one task (task count >= 1)")
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    check_int("checkpoint_every", checkpoint_every, min_value=0)
    lrs = [float(v) for v in lr] if isinstance(lr, (list, tuple)) else [lr] * T
    if len(lrs) != T:
        raise ValueError(f"lr has {len(lrs)} entries for {T} tasks; give one float or one per task")
    for v in lrs:
        check_positive("lr", v)
    config = {"tasks": T, "epochs": epochs, "batch_size": batch_size, "lr": lrs, "seed": int(seed),
              "n_train": [task.n_train for task in tasks]}
    gen = torch.Generator().manual_seed(int(seed))
    R = np.full((T, T), np.nan)
    device = _device(model)
    tasks = to_device(tasks, device)
    strategy.prepare(model, tasks)
    task_s: list[float] = []
    t_first, start, carried, task_carried, resumed_at = 0, None, 0.0, 0.0, None
    if resume_from is not None:
        _check_resume(resume_from, "sequence", config)
        model.load_state_dict(resume_from["model"])
        strategy.load_state_dict(to_device(resume_from["strategy"], device))
        for layer, (proj, rec) in zip(_layers(model), resume_from["layers"]):
            layer.projection, layer.record_input = proj, rec
        gen.set_state(resume_from["gen"])
        _set_rng_state(resume_from["rng"])
        R[:] = resume_from["R"].numpy()
        task_s = list(resume_from["task_s"])
        t_first, start = int(resume_from["task"]), resume_from["position"]
        carried, task_carried = float(resume_from["wall_s"]), float(resume_from.get("task_elapsed", 0.0))
        resumed_at = (t_first, 0 if start is None else start["epoch"] * start["batches"] + start["batch"])
    t0 = time.perf_counter()

    def state(task_index, position, task_elapsed):
        strat = strategy.state_dict()  # first: HLOP waits for its Hebbian worker here
        return {"format": SEQUENCE_FORMAT, "kind": "sequence", "config": config, "task": task_index,
                "position": position, "task_elapsed": task_elapsed, "model": model.state_dict(),
                "layers": [[bool(l.projection), bool(l.record_input)] for l in _layers(model)],
                "strategy": strat, "gen": gen.get_state(), "rng": _rng_state(), "R": torch.from_numpy(R.copy()),
                "task_s": list(task_s), "wall_s": carried + time.perf_counter() - t0}

    for t in range(t_first, T):
        task = tasks[t]
        ts = time.perf_counter() - (task_carried if start is not None else 0.0)
        if start is None:
            strategy.begin_task(model, t, task)
        else:
            strategy.resume_task(model, t, task)

        def on_batch(pos, t=t, ts=ts):
            done = pos["epoch"] * pos["batches"] + pos["batch"]
            if checkpoint_every and done % checkpoint_every == 0 and done < epochs * pos["batches"]:
                position = {k: pos[k] for k in ("epoch", "batch", "batches", "gen_epoch")}
                position.update(losses=list(pos["losses"]), optimizer=pos["optimizer"].state_dict())
                if pos["scaler"] is not None:
                    position["scaler"] = pos["scaler"].state_dict()
                checkpoint(state(t, position, time.perf_counter() - ts))

        try:
            info = train_task(model, strategy, task, t, epochs=epochs, batch_size=batch_size, lr=lrs[t], gen=gen,
                              progress=progress, start=start, on_batch=on_batch if checkpoint is not None else None,
                              amp=amp)
        except BaseException:
            strategy.release(model)
            raise
        start = None
        strategy.end_task(model, t, task, tasks[: t + 1], gen=gen, batch_size=batch_size)
        for j in range(t + 1):
            R[t, j] = evaluate(model, tasks[j], amp=amp)
        task_s.append(time.perf_counter() - ts)
        if on_task_end is not None:
            on_task_end(t, model, R)
        if log is not None:
            log(f"task {t}: loss {info['loss_last']:.3f}  R[{t}] = "
                + " ".join(f"{100 * v:.1f}" for v in R[t, : t + 1]) + f"  ({task_s[-1]:.1f} s)")
        if checkpoint is not None:
            checkpoint(state(t + 1, None, 0.0))
    return {"R": R, "acc": average_accuracy(R), "bwt": backward_transfer(R),
            "wall_s": carried + time.perf_counter() - t0, "task_s": task_s, "resumed_at": resumed_at}


def run_multitask(model, tasks: list[Task], *, epochs: int = 1, batch_size: int = 64, lr: float = 0.1,
                  seed: int = 0, log=None, checkpoint=None, checkpoint_every: int = 0,
                  resume_from: dict | None = None, amp: str = "none") -> dict:
    """Upper bound: all tasks trained jointly (batches of the tasks interleaved at random).

    ``checkpoint`` / ``checkpoint_every`` / ``resume_from`` as in :func:`run_sequence` (states
    after every epoch and every ``checkpoint_every`` batches); the device and ``amp`` as there.

    Returns ``{"final": accuracies per task, "acc": their mean, "wall_s", "resumed_at"}`` (no BWT).
    """
    from neurosim.continual.baselines import Finetune

    if len(tasks) < 1:
        raise ValueError("tasks must hold at least one task (task count >= 1)")
    check_int("checkpoint_every", checkpoint_every, min_value=0)
    config = {"tasks": len(tasks), "epochs": epochs, "batch_size": batch_size, "lr": float(lr), "seed": int(seed),
              "n_train": [task.n_train for task in tasks]}
    gen = torch.Generator().manual_seed(int(seed))
    tasks = to_device(tasks, _device(model))
    precision, backward_step = _precision(model, amp)
    scaler = precision.grad_scaler()
    strategy = Finetune()
    opt = torch.optim.SGD(strategy.parameters(model, 0), lr=lr)
    e0, b0, carried, resumed_at = 0, 0, 0.0, None
    if resume_from is not None:
        _check_resume(resume_from, "multitask", config)
        model.load_state_dict(resume_from["model"])
        opt.load_state_dict(resume_from["optimizer"])
        if scaler is not None and resume_from.get("scaler"):
            scaler.load_state_dict(resume_from["scaler"])
        _set_rng_state(resume_from["rng"])
        gen.set_state(resume_from["gen_epoch"])
        e0, b0, carried = int(resume_from["epoch"]), int(resume_from["batch"]), float(resume_from["wall_s"])
        resumed_at = (e0, b0)
    t0 = time.perf_counter()
    model.train()
    for e in range(e0, epochs):
        gen_epoch = gen.get_state()
        plan = []
        for k, task in enumerate(tasks):
            order = torch.randperm(task.n_train, generator=gen)
            plan += [(k, order[s:s + batch_size]) for s in range(0, task.n_train, batch_size)]
        picks = torch.randperm(len(plan), generator=gen).tolist()
        for b in range(b0 if e == e0 else 0, len(picks)):
            k, idx = plan[picks[b]]
            x, y = tasks[k].batch("train", idx)
            opt.zero_grad(set_to_none=True)
            with precision.autocast():
                loss = F.cross_entropy(model(x, task=tasks[k].head), y)
            backward_step(loss, opt, scaler)
            last = b + 1 == len(picks)
            if checkpoint is not None and (last or (checkpoint_every and (b + 1) % checkpoint_every == 0)):
                if last:  # the next epoch starts from the generator as it is now
                    e_next, b_next, g = e + 1, 0, gen.get_state()
                else:
                    e_next, b_next, g = e, b + 1, gen_epoch
                checkpoint({"format": SEQUENCE_FORMAT, "kind": "multitask", "config": config, "epoch": e_next,
                            "batch": b_next, "batches": len(picks), "gen_epoch": g, "model": model.state_dict(),
                            "optimizer": opt.state_dict(), "rng": _rng_state(),
                            "scaler": None if scaler is None else scaler.state_dict(),
                            "wall_s": carried + time.perf_counter() - t0})
    final = [evaluate(model, task, amp=amp) for task in tasks]
    if log is not None:
        log("multitask final: " + " ".join(f"{100 * v:.1f}" for v in final))
    return {"final": final, "acc": float(np.mean(final)), "wall_s": carried + time.perf_counter() - t0,
            "resumed_at": resumed_at}
