"""Task sequences and the train-then-evaluate loop that fills the accuracy matrix ``R``.

Benchmarks (ALGORITHMS.md §2.4):

* **Permuted MNIST** — ``K`` tasks (10 in the paper), each a fixed pixel permutation of MNIST
  drawn from the benchmark seed; one shared 10-way head. Pixels are scaled to [0, 1] and
  normalised with mean 0.1307, std 0.3081 before permuting.
* **Split MNIST / Split Fashion-MNIST** — 5 tasks of 2 classes ((0,1), (2,3), ...), labels
  mapped to {0, 1}, one head per task (multi-head, task identity given at test time).

Permutations are applied per batch to one shared copy of the images, so ``K`` tasks cost no
more memory than one. ``R[i, j]`` is the test accuracy on task ``j`` after learning task ``i``.
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
           "evaluate", "train_task", "run_sequence", "run_multitask", "MNIST_MEAN", "MNIST_STD"]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
BENCHMARKS = ("pmnist", "split_mnist", "split_fmnist")


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


# ---------------------------------------------------------------------------- loops
@torch.no_grad()
def evaluate(model, task: Task, batch_size: int = 1000) -> float:
    """Test accuracy of ``model(x, task=task.head)`` on ``task``."""
    was = model.training
    model.eval()
    n = int(task.x_test.shape[0])
    correct = 0
    for s in range(0, n, batch_size):
        x, y = task.batch("test", slice(s, s + batch_size))
        correct += int((model(x, task=task.head).argmax(1) == y).sum())
    model.train(was)
    return correct / max(n, 1)


def train_task(model, strategy, task: Task, t: int, *, epochs: int = 1, batch_size: int = 64, lr: float = 0.1,
               gen: torch.Generator | None = None, progress: bool = False) -> dict:
    """Plain SGD on one task with the strategy's hooks (penalty, after_backward, after_step)."""
    params = strategy.parameters(model, t)
    opt = torch.optim.SGD(params, lr=lr)
    model.train()
    n = task.n_train
    losses = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * ((n + batch_size - 1) // batch_size), desc=f"task {t}", leave=False)
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            x, y = task.batch("train", order[s:s + batch_size])
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x, task=task.head), y)
            pen = strategy.penalty(model, t)
            total = loss if pen is None else loss + pen
            if not torch.isfinite(total):
                raise FloatingPointError(f"training diverged on task {t} (loss {float(total.detach())}); lower lr or the "
                                         "strategy's penalty strength (e.g. EWC lam)")
            total.backward()
            strategy.after_backward(model, t)
            opt.step()
            strategy.after_step(model, t)
            losses.append(float(loss.detach()))
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return {"loss_last": float(np.mean(losses[-50:])) if losses else float("nan")}


def run_sequence(model, strategy, tasks: list[Task], *, epochs: int = 1, batch_size: int = 64, lr: float = 0.1,
                 seed: int = 0, progress: bool = False, log=None, on_task_end=None) -> dict:
    """Learn ``tasks`` in order; after each, evaluate all tasks seen so far.

    ``lr``: one SGD learning rate, or one per task. ``on_task_end(t, model, R)``, if given, is
    called after task ``t`` has been learned and evaluated (e.g. to keep a snapshot of the
    weights); ``R`` is the accuracy matrix so far.

    Returns ``{"R": ndarray (T, T) with NaN above the diagonal, "acc", "bwt", "wall_s",
    "task_s": [seconds per task incl. evaluation]}``.
    """
    from neurosim.continual.metrics import average_accuracy, backward_transfer

    T = len(tasks)
    if T < 1:
        raise ValueError("tasks must hold at least one task (task count >= 1)")
    check_int("epochs", epochs, min_value=1)
    check_int("batch_size", batch_size, min_value=1)
    lrs = [float(v) for v in lr] if isinstance(lr, (list, tuple)) else [lr] * T
    if len(lrs) != T:
        raise ValueError(f"lr has {len(lrs)} entries for {T} tasks; give one float or one per task")
    for v in lrs:
        check_positive("lr", v)
    gen = torch.Generator().manual_seed(int(seed))
    R = np.full((T, T), np.nan)
    strategy.prepare(model, tasks)
    t0 = time.perf_counter()
    task_s = []
    for t, task in enumerate(tasks):
        ts = time.perf_counter()
        strategy.begin_task(model, t, task)
        info = train_task(model, strategy, task, t, epochs=epochs, batch_size=batch_size, lr=lrs[t], gen=gen,
                          progress=progress)
        strategy.end_task(model, t, task, tasks[: t + 1], gen=gen, batch_size=batch_size)
        for j in range(t + 1):
            R[t, j] = evaluate(model, tasks[j])
        task_s.append(time.perf_counter() - ts)
        if on_task_end is not None:
            on_task_end(t, model, R)
        if log is not None:
            log(f"task {t}: loss {info['loss_last']:.3f}  R[{t}] = "
                + " ".join(f"{100 * v:.1f}" for v in R[t, : t + 1]) + f"  ({task_s[-1]:.1f} s)")
    return {"R": R, "acc": average_accuracy(R), "bwt": backward_transfer(R),
            "wall_s": time.perf_counter() - t0, "task_s": task_s}


def run_multitask(model, tasks: list[Task], *, epochs: int = 1, batch_size: int = 64, lr: float = 0.1,
                  seed: int = 0, log=None) -> dict:
    """Upper bound: all tasks trained jointly (batches of the tasks interleaved at random).

    Returns ``{"final": accuracies per task, "acc": their mean, "wall_s"}`` (no BWT).
    """
    from neurosim.continual.baselines import Finetune

    if len(tasks) < 1:
        raise ValueError("tasks must hold at least one task (task count >= 1)")
    gen = torch.Generator().manual_seed(int(seed))
    strategy = Finetune()
    opt = torch.optim.SGD(strategy.parameters(model, 0), lr=lr)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        plan = []
        for k, task in enumerate(tasks):
            order = torch.randperm(task.n_train, generator=gen)
            plan += [(k, order[s:s + batch_size]) for s in range(0, task.n_train, batch_size)]
        for i in torch.randperm(len(plan), generator=gen).tolist():
            k, idx = plan[i]
            x, y = tasks[k].batch("train", idx)
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x, task=tasks[k].head), y).backward()
            opt.step()
    final = [evaluate(model, task) for task in tasks]
    if log is not None:
        log("multitask final: " + " ".join(f"{100 * v:.1f}" for v in final))
    return {"final": final, "acc": float(np.mean(final)), "wall_s": time.perf_counter() - t0}
