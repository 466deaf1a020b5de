"""Continual-learning strategies: the hooks the task loop calls, and the baselines.

A strategy is an object with hooks (all optional to override)::

    prepare(model, tasks)                 once, before the first task
    begin_task(model, t, task)            before training task t
    parameters(model, t) -> params        what SGD optimises on task t
    penalty(model, t) -> tensor | None    added to the loss (EWC)
    after_backward(model, t)              gradients are ready (before the SGD step)
    after_step(model, t)                  after the SGD step (HLOP: Hebbian updates)
    end_task(model, t, task, seen, gen, batch_size)   consolidation / memory / replay
    state_dict() -> dict, load_state_dict(state)      what a checkpoint keeps beyond the model
    resume_task(model, t, task)           re-enter task t cut short (instead of begin_task)
    release(model)                        training stopped inside a task: undo begin_task's set-up

Baselines (ALGORITHMS.md §2.5 list): sequential fine-tuning; EWC with a diagonal empirical
Fisher (Kirkpatrick et al. 2017); GPM (Saha et al. 2021: SVD bases of layer inputs kept up to
an energy threshold, gradients projected orthogonally to them, reusing the HLOP projection
layers); memory replay (HLOP protocol: 50 samples per class and task, after each task one
replay epoch at lr 0.01, 50 samples per task per step); and Replay wrapped around any strategy
(``hlop+replay``). Models expose ``protected_layers()`` (the projection layers).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from neurosim._validation import check_int, check_nonnegative, check_positive

__all__ = ["Strategy", "Finetune", "EWC", "GPM", "Replay", "gpm_update_basis"]


class Strategy:
    """No-op hooks: subclass and override what the method needs."""

    name = "strategy"

    def prepare(self, model, tasks):
        pass

    def begin_task(self, model, t, task):
        pass

    def parameters(self, model, t):
        return [p for p in model.parameters() if p.requires_grad]

    def penalty(self, model, t):
        return None

    def after_backward(self, model, t):
        pass

    def after_step(self, model, t):
        pass

    def end_task(self, model, t, task, seen, gen=None, batch_size=64):
        pass

    def state_dict(self) -> dict:
        """The strategy's own state for a checkpoint (tensors and plain values; the model's
        parameters and buffers are saved with the model)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (called after ``prepare`` and the model's ``load_state_dict``)."""

    def resume_task(self, model, t, task):
        """Continue task ``t`` from a checkpoint taken inside it: set up what ``begin_task`` set
        up outside the saved state (threads, hooks); never repeat its state changes."""

    def release(self, model):
        """Training stopped inside a task (an exception, Ctrl-C): give back what ``begin_task``
        took (worker threads, thread limits) without finishing the task."""


class Finetune(Strategy):
    """Sequential fine-tuning: plain SGD on each task in turn (the lower bound)."""

    name = "finetune"


class EWC(Strategy):
    """Elastic weight consolidation with a diagonal empirical Fisher per task.

    ``penalty = (λ/2) Σ_tasks Σ_i F_i (θ_i − θ*_i)²``, ``F_i`` = mean over ``n_fisher`` training
    samples of the squared per-sample gradient of the log-likelihood of the true label.

    Plain SGD on the quadratic penalty is stable only while ``lr · λ · Σ_tasks max F < 2``. On
    the PMNIST spiking MLP the classifier's Fisher reaches ~0.1 after one task, so with lr 0.1
    ``λ = 1000`` diverged (NaN) in our runs; the default ``λ = 20`` keeps 10 tasks stable.
    """

    name = "ewc"

    def __init__(self, lam: float = 20.0, n_fisher: int = 200):
        self.lam = check_nonnegative("lam", lam)
        self.n_fisher = check_int("n_fisher", n_fisher, min_value=1)
        self.anchors: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []

    def penalty(self, model, t):
        if not self.anchors or self.lam == 0:
            return None
        params = [p for p in model.parameters() if p.requires_grad]
        total = 0.0
        for fisher, star in self.anchors:
            for p, f, s in zip(params, fisher, star):
                total = total + (f * (p - s) ** 2).sum()
        return 0.5 * self.lam * total

    def end_task(self, model, t, task, seen, gen=None, batch_size=64):
        params = [p for p in model.parameters() if p.requires_grad]
        fisher = [torch.zeros_like(p) for p in params]
        n = min(self.n_fisher, task.n_train)
        idx = torch.randperm(task.n_train, generator=gen)[:n]
        was = model.training
        model.eval()
        for i in idx.tolist():
            x, y = task.batch("train", slice(i, i + 1))
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x, task=task.head), y).backward()
            for f, p in zip(fisher, params):
                if p.grad is not None:
                    f.add_(p.grad.detach() ** 2)
        model.zero_grad(set_to_none=True)
        model.train(was)
        self.anchors.append(([f / n for f in fisher], [p.detach().clone() for p in params]))

    def state_dict(self) -> dict:
        return {"anchors": [[list(f), list(s)] for f, s in self.anchors]}

    def load_state_dict(self, state: dict) -> None:
        self.anchors = [(list(f), list(s)) for f, s in state["anchors"]]


def gpm_update_basis(basis: torch.Tensor, R: torch.Tensor, threshold: float) -> torch.Tensor:
    """GPM basis update for one layer.

    ``basis``: orthonormal rows (r x n) kept so far; ``R``: representation rows (m x n, the layer
    inputs of the new task). First task: keep the top singular directions of ``R`` holding a
    fraction ``threshold`` of its energy. Later: add directions of the residual
    ``R − R BᵀB`` until the energy of ``R`` captured by the old basis plus the new directions
    reaches ``threshold``. Returns the new (r' x n) basis.
    """
    Rt = R.double().T                                  # n x m, columns = samples
    total = float((Rt ** 2).sum())
    if total == 0.0:
        return basis
    B = basis.double().T                               # n x r
    if B.shape[1] > 0:
        res = Rt - B @ (B.T @ Rt)
    else:
        res = Rt
    U, S, _ = torch.linalg.svd(res, full_matrices=False)
    captured = total - float((res ** 2).sum())
    if captured / total >= threshold:
        return basis
    acc = captured + torch.cumsum(S ** 2, 0)
    k = int((acc / total < threshold).sum()) + 1
    k = min(k, Rt.shape[0] - B.shape[1], U.shape[1])
    new = torch.cat([B, U[:, :k]], 1)
    Q, _ = torch.linalg.qr(new)                        # keep the rows exactly orthonormal
    return Q.T.to(basis.dtype).contiguous()


class GPM(Strategy):
    """Gradient projection memory on the model's projection layers.

    ``thresholds``: energy thresholds per protected layer (PMNIST MLP in GPM's code: 0.95 for
    the input layer, 0.99 after; recalled, not verified), optionally raised by ``increment``
    per task. ``n_samples`` training samples per task build the representation matrices.
    """

    name = "gpm"

    def __init__(self, thresholds=(0.95, 0.99, 0.99), increment: float = 0.0, n_samples: int = 125):
        self.thresholds = tuple(float(v) for v in thresholds)
        for v in self.thresholds:
            if not 0.0 < v < 1.0:
                raise ValueError(f"thresholds must lie in (0, 1), got {v}")
        self.increment = check_nonnegative("increment", increment)
        self.n_samples = check_int("n_samples", n_samples, min_value=1)

    def prepare(self, model, tasks):
        self.layers = list(model.protected_layers())
        if len(self.thresholds) < len(self.layers):
            raise ValueError(f"thresholds has {len(self.thresholds)} entries for {len(self.layers)} protected layers")

    def begin_task(self, model, t, task):
        for layer in self.layers:
            layer.projection = t > 0

    @torch.no_grad()
    def end_task(self, model, t, task, seen, gen=None, batch_size=64):
        n = min(self.n_samples, task.n_train)
        idx = torch.randperm(task.n_train, generator=gen)[:n]
        for layer in self.layers:
            layer.record_input = True
        x, _ = task.batch("train", idx)
        model(x, task=task.head)
        for i, layer in enumerate(self.layers):
            layer.record_input = False
            R = layer.pop_recorded()
            th = min(self.thresholds[i] + self.increment * t, 0.9999)
            layer.set_basis(gpm_update_basis(layer.proj_basis, R, th))


class Replay(Strategy):
    """Memory replay around another strategy (``Replay(Finetune())``, ``Replay(HLOP())``).

    After each task (the base strategy's ``end_task`` first), store the first ``memory_size``
    training samples of every class; from the second task on, train ``epochs`` epoch(s) on the
    memories of all seen tasks with SGD at ``lr``, each step accumulating the gradients of
    ``per_task`` samples of every task (projection and Hebbian learning off during replay).
    """

    def __init__(self, base: Strategy | None = None, memory_size: int = 50, epochs: int = 1, lr: float = 0.01,
                 per_task: int = 50):
        self.base = base if base is not None else Finetune()
        self.memory_size = check_int("memory_size", memory_size, min_value=1)
        self.epochs = check_int("epochs", epochs, min_value=0)
        self.lr = check_positive("lr", lr)
        self.per_task = check_int("per_task", per_task, min_value=1)
        self.memory: list[tuple[torch.Tensor, torch.Tensor, int]] = []
        self.name = "replay" if isinstance(self.base, Finetune) else f"{self.base.name}+replay"

    def prepare(self, model, tasks):
        self.base.prepare(model, tasks)

    def begin_task(self, model, t, task):
        self.base.begin_task(model, t, task)

    def parameters(self, model, t):
        return self.base.parameters(model, t)

    def penalty(self, model, t):
        return self.base.penalty(model, t)

    def after_backward(self, model, t):
        self.base.after_backward(model, t)

    def after_step(self, model, t):
        self.base.after_step(model, t)

    def resume_task(self, model, t, task):
        self.base.resume_task(model, t, task)

    def release(self, model):
        self.base.release(model)

    def state_dict(self) -> dict:
        return {"base": self.base.state_dict(), "memory": [[x, y, int(h)] for x, y, h in self.memory]}

    def load_state_dict(self, state: dict) -> None:
        self.base.load_state_dict(state["base"])
        self.memory = [(x, y, int(h)) for x, y, h in state["memory"]]

    def _store(self, task):
        y = task.y_train
        keep = []
        for c in range(task.n_classes):
            keep.append((y == c).nonzero().squeeze(1)[: self.memory_size])
        idx = torch.cat(keep)
        x, yy = task.batch("train", idx)
        self.memory.append((x.clone(), yy.clone(), task.head))

    def end_task(self, model, t, task, seen, gen=None, batch_size=64):
        self.base.end_task(model, t, task, seen, gen=gen, batch_size=batch_size)
        self._store(task)
        if t == 0 or self.epochs == 0:
            return
        layers = list(model.protected_layers()) if hasattr(model, "protected_layers") else []
        saved = [(l.projection, l.record_input) for l in layers]
        for l in layers:
            l.projection, l.record_input = False, False
        opt = torch.optim.SGD(self.base.parameters(model, t), lr=self.lr)
        model.train()
        m = min(len(x) for x, _, _ in self.memory)
        for _ in range(self.epochs):
            order = torch.randperm(m, generator=gen)
            for s in range(0, m, self.per_task):
                idx = order[s:s + self.per_task]
                opt.zero_grad(set_to_none=True)
                for x, y, head in self.memory:
                    F.cross_entropy(model(x[idx], task=head), y[idx]).backward()
                opt.step()
        for l, (p, r) in zip(layers, saved):
            l.projection, l.record_input = p, r
