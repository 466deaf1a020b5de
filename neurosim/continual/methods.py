"""The continual-learning methods by name: the model and strategy of each, for each benchmark.

:func:`build_method` is the factory behind ``neurosim continual --method NAME``: it builds the
spiking MLP of the benchmark and the strategy (:mod:`~neurosim.continual.baselines`,
:class:`~neurosim.continual.hlop.HLOP`) with the settings of ALGORITHMS.md §2.3-2.4:

* ``pmnist``: 784-800-800-10, one shared head; HLOP subspaces (80, 200, 100) for the first
  task and (70, 70, 70) more per task, Hebbian rates (0.001, 0.01, 0.01); GPM thresholds
  (0.95, 0.99, 0.99);
* ``split_mnist`` / ``split_fmnist``: 784-400-400 with one 2-way head per task; HLOP (40, 60)
  + (30, 30), rates (0.001, 0.01); GPM thresholds (0.95, 0.99).

torch is imported when a method is built, not when this module is imported.
"""
from __future__ import annotations

__all__ = ["METHODS", "build_method", "parse_damping"]

#: method names of :func:`build_method` (``multitask``: joint training, the upper bound)
METHODS = ("finetune", "ewc", "gpm", "replay", "hlop", "hlop+replay", "multitask")


def parse_damping(value, n_layers: int):
    """``HLOP(residual_damping=...)`` from ``"10,0,0"``, one number (every layer), a sequence or
    None (off); all zeros is off too."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            vals = [float(v) for v in value.replace(" ", "").split(",") if v != ""]
        except ValueError:
            raise ValueError(f"hlop_damping must be numbers separated by commas (e.g. 10,0,0); got {value!r}") from None
    elif isinstance(value, (int, float)):
        vals = [float(value)]
    else:
        vals = [float(v) for v in value]
    if len(vals) == 1:
        vals = vals * n_layers
    if len(vals) != n_layers:
        raise ValueError(f"hlop_damping has {len(vals)} values for {n_layers} protected layers; give one per "
                         "layer (e.g. 10,0,0) or a single value for all")
    return None if all(v == 0 for v in vals) else tuple(vals)


def build_method(method: str, benchmark: str, n_tasks: int, *, seed: int = 0, hidden=None, timesteps: int = 6,
                 hlop_sizes=None, hlop_inc=None, hlop_consolidation: int = 0, hlop_damping=None,
                 neuron: str = "bptt"):
    """``(model, strategy)`` for ``method`` on ``benchmark`` (``strategy`` is None for multitask).

    Parameters
    ----------
    method : one of :data:`METHODS`
    benchmark : one of :data:`neurosim.continual.protocols.BENCHMARKS`
    n_tasks : int
        Number of tasks (split benchmarks: one head per task).
    seed : int
        Seeds the model's initial weights and HLOP's Hebbian neurons.
    hidden : sequence of int, optional
        Hidden widths (default: the benchmark's).
    timesteps : int
        Simulation steps T (6 for ``neuron="bptt"``; HLOP's DSR uses 20).
    hlop_sizes, hlop_inc : sequence of int, optional
        HLOP subspace sizes for the first task / added per task (default: the benchmark's).
    hlop_consolidation : int
        Images per task for HLOP's optional consolidation pass
        (``HLOP(consolidation_samples=...)``; 0 = the literal method).
    hlop_damping : str, float or sequence, optional
        One gamma per protected layer for ``HLOP(residual_damping=...)`` (see
        :func:`parse_damping`; None: the literal method). HLOP methods only.
    neuron : {"bptt", "dsr"}
        LIF + surrogate through time, or HLOP's DSR training.

    HLOP runs its Hebbian updates on a worker thread (``async_hebbian=True``, exact).
    """
    from neurosim._validation import check_choice, check_int
    from neurosim.continual import hlop as hlop_mod
    from neurosim.continual.baselines import EWC, GPM, Finetune, Replay
    from neurosim.continual.protocols import BENCHMARKS

    check_choice("method", method, METHODS)
    check_choice("benchmark", benchmark, BENCHMARKS)
    hlop_consolidation = check_int("hlop_consolidation", hlop_consolidation, min_value=0)
    if benchmark == "pmnist":
        model = hlop_mod.SpikingMLP(784, hidden or (800, 800), 10, heads=1, timesteps=timesteps, rng=seed,
                                    neuron=neuron)
        first, inc = hlop_mod.PMNIST_SIZES_FIRST, hlop_mod.PMNIST_SIZES_INC
        etas, th = hlop_mod.PMNIST_ETAS, (0.95, 0.99, 0.99)
    else:
        model = hlop_mod.SpikingMLP(784, hidden or (400, 400), 2, heads=n_tasks, timesteps=timesteps, rng=seed,
                                    neuron=neuron)
        first, inc, etas, th = (40, 60), (30, 30), (0.001, 0.01), (0.95, 0.99)
    first = tuple(hlop_sizes or first)
    inc = tuple(hlop_inc or inc)
    damping = parse_damping(hlop_damping, len(first))
    if damping is not None and not method.startswith("hlop"):
        raise ValueError(f"hlop_damping applies to the hlop methods only (method {method!r}); drop --hlop-damping")

    def hlop():
        return hlop_mod.HLOP(first, inc, etas=etas[: len(first)], rng=seed, consolidation_samples=hlop_consolidation,
                             async_hebbian=True, residual_damping=damping)

    strategies = {
        "finetune": Finetune,
        "ewc": EWC,
        "gpm": lambda: GPM(thresholds=th),
        "replay": lambda: Replay(Finetune()),
        "hlop": hlop,
        "hlop+replay": lambda: Replay(hlop()),
        "multitask": lambda: None,
    }
    return model, strategies[method]()
