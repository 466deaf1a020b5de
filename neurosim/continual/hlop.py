"""HLOP: Hebbian learning based orthogonal projection (Xiao et al., ICLR 2024), for SNNs.

Every protected layer ``out = W x`` owns lateral Hebbian subspace neurons (``HebbianSubspace``)
that learn the principal subspace of its presynaptic activity while a task is trained. At the
end of the task the subspace is consolidated (frozen, orthonormalised); on later tasks the
weight gradient uses ``x − Qᵀ Q x`` (``ProjLinear``), so responses to old inputs are kept,
while new neurons keep learning the new task's subspace (ALGORITHMS.md §2.1–2.4).

Subspace sizes (PMNIST): ``[80, 200, 100]`` neurons for the inputs of fc1, fc2 and the shared
classifier on task 0, then ``[70, 70, 70]`` per task, reduced by 20 each at tasks 3, 6, 9
(``hlop_sizes``). Hebbian learning rate 0.001 for the 784-d input layer, 0.01 elsewhere.

The model here is the spiking MLP of the PMNIST BPTT experiments: 784-800-800-10 without
bias, multi-step LIF (tau 2, soft reset, ``decay_input=False``, sigmoid surrogate alpha 4,
detach reset), T = 6, output = time-mean of the classifier. The static image enters fc1 once
(``W x`` is the same at every step, so computing it once and repeating is exact and 6x
cheaper), and fc1's Hebbian input is the image itself (the T identical rows of the original
give the same update).
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim._validation import check_choice, check_int, check_nonnegative, check_positive
from neurosim.continual.baselines import Strategy
from neurosim.continual.dsr import DSRLIF, weighted_rate
from neurosim.continual.hebbian import HebbianParams
from neurosim.continual.projection import ProjLinear

__all__ = ["SpikingMLP", "HLOP", "NEURONS", "hlop_sizes", "PMNIST_SIZES_FIRST", "PMNIST_SIZES_INC", "PMNIST_ETAS"]

PMNIST_SIZES_FIRST = (80, 200, 100)
PMNIST_SIZES_INC = (70, 70, 70)
PMNIST_ETAS = (0.001, 0.01, 0.01)


def hlop_sizes(t: int, first, inc, reduce_every: int = 3, reduce_by: int = 20) -> tuple[int, ...]:
    """Subspace neurons added at task ``t``: ``first`` at t = 0, then ``inc`` minus
    ``reduce_by`` for every ``reduce_every`` tasks completed (PMNIST: 70, 70, 50, 50, 50, 30, ...)."""
    t = check_int("t", t, min_value=0)
    if t == 0:
        return tuple(int(v) for v in first)
    cut = reduce_by * (t // reduce_every) if reduce_every > 0 else 0
    return tuple(max(int(v) - cut, 0) for v in inc)


#: SNN training of :class:`SpikingMLP`: LIF + surrogate through time, or DSR (rate-map backward)
NEURONS = ("bptt", "dsr")


class SpikingMLP(nn.Module):
    """Spiking MLP ``n_in - hidden... - n_out`` with projection layers and LIF neurons.

    Parameters
    ----------
    n_in, hidden, n_out : sizes (PMNIST: 784, (800, 800), 10).
    heads : number of output heads (1 = shared head; k = one head per task, multi-head).
    timesteps : T, simulation steps per sample (6).
    tau, surrogate_alpha : LIF time constant (steps) and sigmoid-surrogate sharpness.
    bias : use biases in the hidden layers (False in HLOP's PMNIST network).
    protect_head : the (shared) classifier is a protected layer (True for a shared head).
    lif_backend : backend of ``neurosim.snn`` LIF layers ("auto", "torch" or "fused").
    rng : seed / generator for the weight initialisation.
    neuron : "bptt" (multi-step LIF trained through time with a surrogate, the PMNIST-BPTT
        setting) or "dsr" (``neurosim.continual.dsr.DSRLIF``, differentiation on spike
        representation, HLOP's default: use ``timesteps=20``; the readout is the weighted firing
        rate, and the protected layers record the weighted firing rate of their inputs for HLOP).
    """

    def __init__(self, n_in: int = 784, hidden=(800, 800), n_out: int = 10, *, heads: int = 1,
                 timesteps: int = 6, tau: float = 2.0, surrogate_alpha: float = 4.0, bias: bool = False,
                 protect_head: bool | None = None, lif_backend: str = "auto", rng=None, neuron: str = "bptt"):
        super().__init__()
        from neurosim._rng import torch_generator
        from neurosim.snn.modules.lif import LIFLayer
        from neurosim.snn.surrogate import Sigmoid

        check_int("n_in", n_in, min_value=1)
        hidden = tuple(check_int("hidden", h, min_value=1) for h in hidden)
        if not hidden:
            raise ValueError("hidden must list at least one hidden layer size")
        self.timesteps = check_int("timesteps", timesteps, min_value=1)
        check_positive("tau", tau)
        heads = check_int("heads", heads, min_value=1)
        self.protect_head = (heads == 1) if protect_head is None else bool(protect_head)
        sizes = (n_in, *hidden)
        self.neuron = check_choice("neuron", neuron, NEURONS)
        self.fcs = nn.ModuleList(ProjLinear(a, b, bias=bias) for a, b in zip(sizes[:-1], sizes[1:]))
        if neuron == "dsr":
            self.lifs = nn.ModuleList(DSRLIF() for _ in hidden)
        else:
            self.lifs = nn.ModuleList(
                LIFLayer(tau=tau, reset="subtract", decay_input=False, surrogate=Sigmoid(surrogate_alpha),
                         detach_reset=True, backend=lif_backend) for _ in hidden)
        self.heads = nn.ModuleList(ProjLinear(hidden[-1], n_out, bias=heads > 1) for _ in range(heads))
        gen = torch_generator(rng)
        with torch.no_grad():  # nn.Linear's default init, drawn from the explicit generator
            for m in [*self.fcs, *self.heads]:
                bound = 1.0 / m.in_features ** 0.5
                m.weight.uniform_(-bound, bound, generator=gen)
                if m.bias is not None:
                    m.bias.uniform_(-bound, bound, generator=gen)

    def protected_layers(self) -> list[ProjLinear]:
        """Layers whose input subspaces HLOP/GPM protect (hidden layers, + the shared head)."""
        return [*self.fcs, *(self.heads if self.protect_head else [])]

    def forward(self, x: torch.Tensor, task: int = 0) -> torch.Tensor:
        """``x``: [B, n_in] (or images [B, 28, 28]); returns time-averaged logits [B, n_out]."""
        from neurosim.snn.containers import reset_states

        reset_states(self)
        h = self.fcs[0](x.flatten(1))                       # static input: W x once, repeated over T
        s = self.lifs[0](h.unsqueeze(0).expand(self.timesteps, *h.shape))
        for fc, lif in zip(self.fcs[1:], self.lifs[1:]):
            s = lif(self._fc(fc, s))
        out = self._fc(self.heads[task], s)
        if self.neuron == "dsr":
            return weighted_rate(out)
        return out.mean(0)

    def _fc(self, fc, s):
        """``fc(s)`` on ``[T, B, n]`` spikes; DSR networks hand HLOP the weighted firing rate."""
        y = fc(s)
        if self.neuron == "dsr" and getattr(fc, "record_input", False):
            fc._recorded = weighted_rate(s.detach()).reshape(-1, fc.in_features)
        return y


class HLOP(Strategy):
    """The HLOP method as task-loop hooks (see the module docstring).

    Parameters
    ----------
    sizes_first, sizes_inc : neurons per protected layer on task 0 / added per later task.
    reduce_every, reduce_by : the PMNIST schedule (−20 every 3 tasks).
    etas : Hebbian learning rate per protected layer.
    params : HebbianParams for everything but eta (iterations 5, clamp 10, momentum 0.9, spiking).
    backend : "auto" (Numba on CPU), "numba" or "torch".
    rng : seed / generator for the orthogonal initialisation of new neurons.
    freeze_1d : from task 1 on, optimise only weight matrices (no biases, BN affine parameters or
        thresholds such as DSR's ``v_th``), as in HLOP's code.
    orthonormal_rows : at consolidation replace the frozen Hebbian rows by their orthonormal
        basis (``HebbianSubspace.consolidate``); False = the literal HLOP rule.
    consolidation_samples, consolidation_epochs : 0 = the literal HLOP schedule (Hebbian updates
        only during training). ``> 0``: before a task's subspace is frozen, its first
        ``consolidation_samples`` training images are passed through the *final* network of the
        task (no gradients) and the free Hebbian rows take ``consolidation_epochs`` more passes
        over those layer inputs. The subspace then describes the representation that later
        tasks must keep, not a mixture over the drifting representations seen while training
        (an extension of HLOP, reported separately).
    async_hebbian : run each batch's Hebbian update on a worker thread while the next batch
        trains (CPU only). Exact: within a task the projection uses only the frozen basis,
        never the rows being learnt, and the updates keep their order (one worker, at most one
        batch in flight); everything waits for the worker before the task ends. During the
        task torch runs on one thread fewer and the BLAS that Numba's ``np.dot`` uses on one
        thread (via ``threadpoolctl`` when installed), so training and Hebbian learning share
        the cores instead of oversubscribing them; both are restored at the end of the task.
    residual_damping : one gamma >= 0 per protected layer (or None: off, the literal method).
        Extension of HLOP (neurosim): the layer keeps the mean second-moment matrix ``C`` of its
        inputs over the tasks learnt so far (one ``n x n`` matrix, ``C = mean_tasks X^T X / rows``)
        and, from the second task on, multiplies its (already projected) weight gradient by
        ``S = (I + gamma R / m)^-1`` with ``R = P_perp C P_perp`` the old tasks' input energy left
        outside the frozen subspace (``P_perp = I - Q^T Q``) and ``m = tr(C) / n``. Directions of
        the free space where old tasks still have energy learn more slowly, the others at full
        rate; the gradient stays orthogonal to the frozen subspace. On PMNIST (784-800-800-10)
        the forgetting sits in the first layer, and ``(10, 0, 0)`` moved ACC / BWT over 3 seeds
        from 95.36 / -1.30 to 95.52 / -0.88 (experiments/continual/README.md). Linear layers
        apply ``S`` inside their backward (``ProjLinear.grad_map``), conv layers after it.
    """

    name = "hlop"

    def __init__(self, sizes_first=PMNIST_SIZES_FIRST, sizes_inc=PMNIST_SIZES_INC, *, reduce_every: int = 3,
                 reduce_by: int = 20, etas=PMNIST_ETAS, params: HebbianParams | None = None,
                 backend: str = "auto", rng=None, freeze_1d: bool = True, orthonormal_rows: bool = False,
                 consolidation_samples: int = 0, consolidation_epochs: int = 3, async_hebbian: bool = False,
                 residual_damping=None):
        from neurosim._rng import as_generator

        self.sizes_first = tuple(int(v) for v in sizes_first)
        self.sizes_inc = tuple(int(v) for v in sizes_inc)
        if len(self.sizes_inc) != len(self.sizes_first):
            raise ValueError("sizes_inc must have one entry per protected layer, like sizes_first")
        if any(v < 0 for v in (*self.sizes_first, *self.sizes_inc)):
            raise ValueError("sizes_first and sizes_inc must be >= 0")
        self.etas = tuple(float(e) for e in etas)
        self.reduce_every = check_int("reduce_every", reduce_every, min_value=0)
        self.reduce_by = check_int("reduce_by", reduce_by, min_value=0)
        self.params = params if params is not None else HebbianParams()
        self.backend = backend
        self.rng = as_generator(rng)
        self.freeze_1d = bool(freeze_1d)
        self.orthonormal_rows = bool(orthonormal_rows)
        self.consolidation_samples = check_int("consolidation_samples", consolidation_samples, min_value=0)
        self.consolidation_epochs = check_int("consolidation_epochs", consolidation_epochs, min_value=1)
        self.async_hebbian = bool(async_hebbian)
        if residual_damping is not None:
            residual_damping = tuple(float(g) for g in residual_damping)
            if len(residual_damping) != len(self.sizes_first):
                raise ValueError(f"residual_damping has {len(residual_damping)} entries for "
                                 f"{len(self.sizes_first)} protected layers; give one gamma per layer (0 = off)")
            for g in residual_damping:
                check_nonnegative("residual_damping", g)
        self.residual_damping = residual_damping
        self._damp = []  # per protected layer: _Damping or None (set by prepare)
        self.hebbian_s = 0.0
        self._pool = None
        self._pending = None
        self._restore = None

    def prepare(self, model, tasks):
        import dataclasses

        self.layers = list(model.protected_layers())
        if len(self.sizes_first) != len(self.layers):
            raise ValueError(f"sizes_first has {len(self.sizes_first)} entries but the model has "
                             f"{len(self.layers)} protected layers")
        if len(self.etas) != len(self.layers):
            raise ValueError(f"etas has {len(self.etas)} entries for {len(self.layers)} protected layers")
        for layer, eta in zip(self.layers, self.etas):
            layer.attach_hebbian(dataclasses.replace(self.params, eta=eta), backend=self.backend)
        gammas = self.residual_damping or (0.0,) * len(self.layers)
        self._damp = [None if g == 0 else _Damping(g) for g in gammas]
        for layer in self.layers:
            if hasattr(layer, "grad_map"):
                layer.grad_map = None  # a fresh sequence starts undamped

    def _start_async(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="neurosim-hebbian")
        n = torch.get_num_threads()
        limits = None
        try:
            from threadpoolctl import threadpool_limits

            try:  # load the BLAS that Numba's np.dot calls, so that the limit reaches it even before
                import scipy.linalg.cython_blas  # noqa: F401  # the first update (a resumed run)
            except ImportError:  # pragma: no cover - scipy is a dependency
                pass
            limits = threadpool_limits(limits=1, user_api="blas")
        except ImportError:  # optional: without it BLAS keeps its threads
            pass
        torch.set_num_threads(max(1, n - 1))
        self._restore = (n, limits)

    def _stop_async(self) -> None:
        self._wait()
        if self._restore is not None:
            n, limits = self._restore
            torch.set_num_threads(n)
            if limits is not None:
                limits.restore_original_limits()
            self._restore = None

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()  # re-raises a worker's exception here

    def _update(self, xs) -> None:
        import time

        t0 = time.perf_counter()
        for layer, x in zip(self.layers, xs):
            if x is not None:
                layer.hebbian.update(x)
        self.hebbian_s += time.perf_counter() - t0

    def state_dict(self) -> dict:
        self._wait()  # the worker's pending update belongs to the state
        return {"rng": self.rng.bit_generator.state, "hebbian_s": float(self.hebbian_s),
                "damping": [None if d is None else d.state_dict() for d in self._damp]}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.hebbian_s = float(state["hebbian_s"])
        if len(state["damping"]) != len(self._damp):
            raise ValueError(f"the checkpoint has residual damping for {len(state['damping'])} layers, this HLOP "
                             f"{len(self._damp)}; resume with the same --hlop-damping")
        for layer, d, ds in zip(self.layers, self._damp, state["damping"]):
            if (d is None) != (ds is None):
                raise ValueError("the checkpoint's residual damping differs from this HLOP's; resume with the same "
                                 "--hlop-damping")
            if d is not None:
                d.load_state_dict(ds)
                if d.S is not None and isinstance(layer, ProjLinear):
                    layer.grad_map = d.S

    def resume_task(self, model, t, task):
        if self.async_hebbian and all(layer.weight.device.type == "cpu" for layer in self.layers):
            self._start_async()

    def release(self, model):
        self._stop_async()  # waits for the worker's last update, restores the thread counts

    def begin_task(self, model, t, task):
        if self.async_hebbian and all(layer.weight.device.type == "cpu" for layer in self.layers):
            self._start_async()
        sizes = hlop_sizes(t, self.sizes_first, self.sizes_inc, self.reduce_every, self.reduce_by)
        for layer, k in zip(self.layers, sizes):
            layer.hebbian.add_neurons(k, rng=self.rng)
            layer.record_input = True
            layer.projection = t > 0

    def parameters(self, model, t):
        ps = [p for p in model.parameters() if p.requires_grad]
        return [p for p in ps if p.ndim > 1] if (t > 0 and self.freeze_1d) else ps

    def after_backward(self, model, t):
        for layer, d in zip(self.layers, self._damp):  # layers without a grad_map (conv)
            if d is not None and d.S is not None and not isinstance(layer, ProjLinear) \
                    and layer.weight.grad is not None:
                g = layer.weight.grad
                g.copy_((g.reshape(g.shape[0], -1) @ d.S).reshape(g.shape))

    def after_step(self, model, t):
        xs = [layer.pop_recorded() for layer in self.layers]
        for x, d in zip(xs, self._damp):
            if d is not None and x is not None:
                d.add_inputs(x)
        if self._restore is None:
            self._update(xs)
            return
        self._wait()  # at most one batch in flight; updates stay in order
        self._pending = self._pool.submit(self._update, xs)

    @torch.no_grad()
    def _consolidation_pass(self, model, task, batch_size: int) -> None:
        """Extra Hebbian passes over the final network's layer inputs on the task's first images."""
        n = min(self.consolidation_samples, task.n_train)
        batches = []  # per batch: every protected layer's recorded input
        was = model.training
        model.eval()
        try:
            for s in range(0, n, batch_size):
                x, _ = task.batch("train", torch.arange(s, min(s + batch_size, n)))
                model(x, task=task.head)
                batches.append([layer.pop_recorded() for layer in self.layers])
        finally:
            model.train(was)
        for _ in range(self.consolidation_epochs):
            for xs in batches:
                self._update(xs)

    def end_task(self, model, t, task, seen, gen=None, batch_size=64):
        self._stop_async()
        if self.consolidation_samples > 0:
            self._consolidation_pass(model, task, batch_size)
        for layer in self.layers:
            layer.record_input = False
            layer._recorded = None
            layer.hebbian.consolidate(orthonormal_rows=self.orthonormal_rows)
            layer.set_basis(layer.hebbian.basis)
        for layer, d in zip(self.layers, self._damp):
            if d is not None:
                d.end_task(layer)


class _Damping:
    """State of ``HLOP(residual_damping=...)`` for one layer: this task's ``X^T X`` and row count,
    the sum over finished tasks of ``X^T X / rows``, and the gradient multiplier ``S``."""

    def __init__(self, gamma: float):
        self.gamma = gamma
        self.xx = None
        self.rows = 0
        self.c_sum = None
        self.tasks = 0
        self.S = None

    def state_dict(self) -> dict:
        return {"xx": self.xx, "rows": self.rows, "c_sum": self.c_sum, "tasks": self.tasks, "S": self.S}

    def load_state_dict(self, state: dict) -> None:
        cpu = [None if state[k] is None else state[k].to("cpu") for k in ("xx", "c_sum")]  # the sums live on the CPU
        self.xx, self.rows, self.c_sum = cpu[0], int(state["rows"]), cpu[1]
        self.tasks, self.S = int(state["tasks"]), state["S"]

    @torch.no_grad()
    def add_inputs(self, x: torch.Tensor) -> None:
        x = x.detach()
        xx = (x.T @ x).to("cpu", torch.float64)  # one batch in the data's precision, summed in float64
        self.xx = xx if self.xx is None else self.xx.add_(xx)
        self.rows += x.shape[0]

    @torch.no_grad()
    def end_task(self, layer) -> None:
        """Fold this task's second moment into ``C`` and rebuild ``S`` against the new frozen basis."""
        if self.rows == 0:
            return
        c = self.xx / self.rows
        self.c_sum = c if self.c_sum is None else self.c_sum.add_(c)
        self.tasks += 1
        self.xx, self.rows = None, 0
        C = self.c_sum / self.tasks
        n = C.shape[0]
        m = torch.trace(C) / n
        if float(m) <= 0.0:  # silent inputs: nothing to protect
            return
        eye = torch.eye(n, dtype=torch.float64)
        Q = layer.proj_basis.detach().to("cpu", torch.float64)
        Pp = eye - Q.T @ Q
        S = torch.linalg.inv(eye + (self.gamma / m) * (Pp @ C @ Pp))
        self.S = S.to(device=layer.weight.device, dtype=layer.weight.dtype)
        if isinstance(layer, ProjLinear):  # applied inside the layer's backward (cheaper route per batch)
            layer.grad_map = self.S
