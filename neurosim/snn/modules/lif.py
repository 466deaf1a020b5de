"""LIF modules: ``LIFCell`` (one step), ``LIF`` (sequence) and ``LIFLayer`` (stateful sequence).

The equations are in :mod:`neurosim.snn.functional.lif`; the options and the
``convention="neurosim" | "spikingjelly" | "snntorch" | "norse"`` presets in
:mod:`neurosim.snn.conventions`. Every option left at ``None`` takes the preset's value.

>>> lif = LIF(tau=2.0, surrogate=ATan(2.0))         # doctest: +SKIP
>>> spikes, state = lif(x)                          # x: [T, B, ...]
>>> layer = LIFLayer(tau=2.0)                       # for nn.Sequential: spikes only, state kept
>>> reset_states(model)                             # before the next sample
"""
from __future__ import annotations

import torch
from torch import nn

from neurosim.snn.conventions import resolve_lif_spec
from neurosim.snn.functional.lif import (LIFSpec, LIFState, check_finite, check_sequence, check_step_input,
                                         lif_run, lif_step)
from neurosim.snn.modules.base import StatefulLayer

__all__ = ["LIFCell", "LIF", "LIFLayer", "LIFAvgPool", "LIFAvgPoolLayer"]

_BACKENDS = ("auto", "torch", "fused", "triton")


class _LIFOptions(nn.Module):
    """Shared constructor: resolves the options into ``self.spec`` (a :class:`LIFSpec`).

    Parameters
    ----------
    tau : float, optional
        Membrane time constant in steps, >= 1 (> 1 for spikingjelly); default from the
        convention (2; norse 10).
    convention : {"neurosim", "spikingjelly", "snntorch", "norse"}
        Preset for every option left at ``None``.
    tau_mem, dt : float, optional
        Physical time constant and step (ms) instead of ``tau`` (``tau = tau_mem / dt``).
    beta : float, optional
        Decay per step (snntorch's parameter) instead of ``tau``.
    integration : {"euler", "exact"}
        ``"exact"`` uses the decay ``exp(-dt / tau_mem)`` per step.
    v_th, v_reset, v_rest : float, optional
        Threshold (1), reset potential (0) and leak target.
    reset : {"zero", "subtract", "none"}, optional
    detach_reset, decay_input : bool, optional
    fire : {">=", ">"}, optional
    surrogate : Surrogate or str, optional
    params : neurosim.neurons.LIFParams, optional
        Physical parameters (``tau_mem``, ``v_th``, ``v_reset``, ``v_rest``, ``reset``); use with ``dt``.
    spec : LIFSpec, optional
        A resolved spec (all other options must then be left out).
    """

    def __init__(self, tau=None, *, convention="neurosim", tau_mem=None, dt=1.0, beta=None,
                 integration="euler", v_th=None, v_reset=None, v_rest=None, reset=None,
                 detach_reset=None, decay_input=None, fire=None, surrogate=None, params=None,
                 spec: LIFSpec | None = None):
        super().__init__()
        if spec is not None:
            if not isinstance(spec, LIFSpec):
                raise TypeError(f"spec must be a LIFSpec, got {type(spec).__name__}")
            self.spec = spec
        else:
            self.spec = resolve_lif_spec(
                convention, tau=tau, tau_mem=tau_mem, dt=dt, beta=beta, integration=integration,
                v_th=v_th, v_reset=v_reset, v_rest=v_rest, reset=reset, detach_reset=detach_reset,
                decay_input=decay_input, fire=fire, surrogate=surrogate, params=params)

    def extra_repr(self) -> str:
        s = self.spec
        return (f"tau={s.tau:g}, v_th={s.v_th:g}, v_reset={s.v_reset:g}, reset={s.reset!r}, "
                f"decay_input={s.decay_input}, detach_reset={s.detach_reset}, "
                f"fire={'>' if s.strict else '>='!r}, surrogate={s.surrogate!r}, form={s.form!r}")


class LIFCell(_LIFOptions):
    """One LIF step: ``forward(x[B, ...], state=None) -> (spikes, LIFState)``."""

    def forward(self, x: torch.Tensor, state: LIFState | None = None):  # noqa: D102
        check_finite(check_step_input(x))
        return lif_step(x, state, self.spec)


class LIF(_LIFOptions):
    """LIF over a sequence: ``forward(x[T, B, ...], state=None) -> (spikes[T, B, ...], LIFState)``.

    ``backend="auto"`` (default) runs the fused Numba forward/backward
    (:mod:`neurosim.snn.fused`) on CPU float32/float64 tensors, the Triton kernels
    (:mod:`neurosim.snn.triton`) on CUDA tensors, the step loop otherwise; ``"fused"`` and
    ``"triton"`` force a kernel, ``"torch"`` the loop. All give identical spikes.
    """

    def __init__(self, tau=None, *, backend: str = "auto", **kwargs):
        super().__init__(tau, **kwargs)
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}; got {backend!r}")
        self.backend = backend

    def forward(self, x: torch.Tensor, state: LIFState | None = None):  # noqa: D102
        return lif_run(x, state, self.spec, backend=self.backend)

    _pool = False

    def run_static(self, x: torch.Tensor, steps: int, state: LIFState | None = None):
        """The same input ``x`` ``[B, ...]`` at each of ``steps`` steps: same result as
        ``forward(x.expand(steps, *x.shape), state)``; the fused kernel reads ``x`` once per step
        without materialising the expanded sequence and sums the input gradient over the steps."""
        check_step_input(x)
        if int(steps) < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if self.backend != "torch":
            from neurosim.snn.fused import dispatch

            fused = dispatch(x, state, self.spec, self.backend, pool=self._pool, steps=int(steps))
            if fused is not None:
                return fused
        seq_forward = LIFAvgPool.forward if self._pool else LIF.forward  # not the stateful wrapper
        return seq_forward(self, x.unsqueeze(0).expand(int(steps), *x.shape), state)


class LIFLayer(StatefulLayer, LIF):
    """Stateful LIF for ``nn.Sequential``: ``forward(x[T, B, ...]) -> spikes[T, B, ...]``.

    The final state is kept in ``self.state`` and continues into the next call until
    :func:`neurosim.snn.reset_states` (or :meth:`reset_state`). A state that does not fit the
    next input raises ``ValueError`` (call ``reset_states(model)`` between samples).
    """

    def forward_static(self, x: torch.Tensor, steps: int) -> torch.Tensor:
        """:meth:`LIF.run_static` with the kept state: the same input ``x`` ``[B, ...]`` at each of
        ``steps`` steps (equals ``self(x.expand(steps, *x.shape))``)."""
        out, self.state = self.run_static(x, steps, self._kept_state(x.shape))
        return out


class LIFAvgPool(LIF):
    """LIF then 2x2 average pooling (stride 2) of the spikes over the last two dimensions.

    ``forward(x[T, B, ..., H, W], state=None) -> (pooled[T, B, ..., H/2, W/2], LIFState)``; the
    state has the unpooled shape ``[B, ..., H, W]``. Same values and gradients as ``LIF``
    followed by ``avg_pool2d(2)`` (the spikes are 0 or 1, so the means are exact). With the
    fused backend (CPU float tensors, even ``H`` and ``W``) the pooling runs inside the LIF
    kernel and the full-size spike tensor is never made (less memory traffic; no separate
    pooling pass forward or backward).
    """

    _pool = True

    def forward(self, x: torch.Tensor, state: LIFState | None = None):  # noqa: D102
        check_sequence(x, "x")
        if x.ndim < 4:
            raise ValueError(f"LIFAvgPool needs x of shape [T, B, ..., H, W], got {tuple(x.shape)}")
        if self.backend != "torch":
            from neurosim.snn.fused import dispatch

            fused = dispatch(x, state, self.spec, self.backend, pool=True)
            if fused is not None:
                return fused
        s, st = lif_run(x, state, self.spec, backend=self.backend)
        h, w = x.shape[-2:]
        pooled = torch.nn.functional.avg_pool2d(s.reshape(-1, 1, h, w), 2)
        return pooled.reshape(*x.shape[:-2], *pooled.shape[-2:]), st


class LIFAvgPoolLayer(StatefulLayer, LIFAvgPool):
    """Stateful :class:`LIFAvgPool` for ``nn.Sequential``: ``forward(x[T, B, ..., H, W]) ->
    pooled[T, B, ..., H/2, W/2]`` (state kept as in :class:`LIFLayer`)."""

    forward_static = LIFLayer.forward_static
