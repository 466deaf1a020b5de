"""Stateful layers, ``reset_states`` and time-distributed wrappers for multi-step models.

Multi-step tensors are time first, ``[T, B, ...]``. Stateless layers (``Conv2d``,
``BatchNorm2d``, ``Linear``, pooling, ``Flatten``) are applied to all steps at once by
:class:`SeqToANN`, which merges ``T`` and ``B`` into one batch dimension. Stateful layers keep
their state between calls (for streaming or truncated BPTT) until :func:`reset_states` walks
the model and resets every :class:`Stateful` module; there is no global registry.
"""
from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar

import torch
from torch import nn

__all__ = ["Stateful", "reset_states", "detach_states", "SeqToANN", "TimeDistributed", "MultiStep"]


class Stateful:
    """Mixin for modules that keep hidden state between ``forward`` calls.

    Subclasses store their state in ``self.state`` (``None`` = at rest) or override
    :meth:`reset_state` / :meth:`detach_state`. :func:`reset_states` calls ``reset_state``
    on every ``Stateful`` submodule.
    """

    state = None

    def reset_state(self) -> None:
        """Forget the hidden state (the next call starts from rest)."""
        self.state = None

    def detach_state(self) -> None:
        """Cut the autograd graph behind the state (truncated BPTT); keeps its values."""
        if self.state is not None:
            self.state = type(self.state)(*(t.detach() for t in self.state))


def _walk(model):
    if isinstance(model, nn.Module):
        return model.modules()
    if isinstance(model, Stateful):
        return [model]
    raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")


#: ids of the modules whose own ``reset_states()`` method is running in this context: when such a
#: method calls :func:`reset_states` on its module (the usual way to write one), the inner walk
#: does not call it again
_OWN_RESET_RUNNING: ContextVar[frozenset] = ContextVar("neurosim_own_reset_running", default=frozenset())


def reset_states(model) -> None:
    """Reset every hidden state inside ``model`` (in place): the one reset helper of neurosim.

    In this order:

    1. spikingjelly neurons (``spikingjelly.activation_based.functional.reset_net``) and snntorch
       neurons (``snntorch.utils.reset``), when ``model`` holds modules of those libraries
       (detected by the modules' packages; the libraries are imported only then);
    2. every neurosim :class:`Stateful` module (``reset_state()``);
    3. every other module whose class defines its own ``reset_states()`` method that takes no
       arguments (zoo models, user layers). Such a method may call this function on its own
       module: the inner call does not call it again (no recursion).

    ``model`` is an ``nn.Module`` or a bare :class:`Stateful`; ``TypeError`` otherwise.
    Resetting twice is harmless: every step only sets states to "at rest".
    """
    mods = list(_walk(model))
    if isinstance(model, nn.Module):
        packages = {type(m).__module__.partition(".")[0] for m in mods}
        if "spikingjelly" in packages:
            from spikingjelly.activation_based import functional as sjf

            sjf.reset_net(model)
        if "snntorch" in packages:
            import snntorch.utils

            snntorch.utils.reset(model)
    running = _OWN_RESET_RUNNING.get()
    for m in mods:
        if isinstance(m, Stateful):
            m.reset_state()
        own = _own_reset(m)
        if own is not None and id(m) not in running:
            token = _OWN_RESET_RUNNING.set(running | {id(m)})
            try:
                own()
            finally:
                _OWN_RESET_RUNNING.reset(token)


def _own_reset(m):
    """``m.reset_states`` when its class defines one callable without arguments, else None."""
    return m.reset_states if _has_own_reset(type(m)) else None


@functools.lru_cache(maxsize=None)
def _has_own_reset(cls) -> bool:
    """Whether instances of ``cls`` have a ``reset_states()`` method taking no arguments (cached per class)."""
    fn = getattr(cls, "reset_states", None)
    if not inspect.isfunction(fn) or fn is reset_states:  # the helper itself: this walk already does it
        return False
    try:
        inspect.signature(fn).bind(None)  # self only
    except (TypeError, ValueError):
        return False
    return True


def detach_states(model) -> None:
    """Detach the hidden state of every :class:`Stateful` module inside ``model`` (in place)."""
    for m in _walk(model):
        if isinstance(m, Stateful):
            m.detach_state()


class SeqToANN(nn.Sequential):
    """Apply stateless modules to a sequence ``[T, B, ...]`` by merging ``T`` and ``B``.

    ``SeqToANN(nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8))(x)`` with ``x`` ``[T, B, 1, H, W]``
    returns ``[T, B, 8, H-2, W-2]``; BatchNorm statistics are taken over ``T * B`` samples
    (as spikingjelly's ``SeqToANNContainer``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim < 2:
            raise ValueError(f"x must have shape [T, B, ...], got shape {tuple(x.shape)}")
        t, b = x.shape[0], x.shape[1]
        y = super().forward(x.reshape(t * b, *x.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])


#: alias (Keras name)
TimeDistributed = SeqToANN


class MultiStep(nn.Module):
    """Run a single-step module (``forward(x[B, ...], state) -> (out, state)``) over ``[T, B, ...]``.

    Useful for cells without a sequence form; returns ``(outputs [T, B, ...], state)``.
    """

    def __init__(self, cell: nn.Module):
        super().__init__()
        self.cell = cell

    def forward(self, x: torch.Tensor, state=None):  # noqa: D102
        from neurosim.snn.functional.lif import check_sequence

        check_sequence(x)
        outs = []
        for xt in x:
            out, state = self.cell(xt, state)
            outs.append(out)
        return torch.stack(outs), state
