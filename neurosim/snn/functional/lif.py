r"""Discrete-time leaky integrate-and-fire neuron as pure torch functions.

One step is charge -> fire -> reset (time in steps; ``tau`` is the membrane time constant in
steps, ``tau = tau_mem / dt`` for forward Euler or ``1 / (1 - exp(-dt / tau_mem))`` for the
exact exponential decay)::

    charge   h_t = v_{t-1} + (x_t - (v_{t-1} - v_rest)) / tau          (decay_input=True)
             h_t = v_{t-1} - (v_{t-1} - v_rest) / tau + x_t            (decay_input=False)
    fire     s_t = H(h_t - v_th)          (H(0) = 1 for fire ">=", 0 for fire ">")
    reset    v_t = s_t v_reset + (1 - s_t) h_t                         (reset="zero")
             v_t = h_t - s_t (v_th - v_reset)                          (reset="subtract")
             v_t = h_t                                                 (reset="none")

``H`` is the surrogate's Heaviside (its smooth derivative is used in backward);
``detach_reset`` stops the gradient through ``s_t`` in the reset. The ``form`` selects the
floating-point order of operations of a peer library (``"spikingjelly"``, ``"snntorch"``:
``h = beta v + x``, ``"norse"``: ``h = v + k ((v_rest - v) + x)`` with ``k = 1/tau``) and
``reset_delay`` snntorch's reset, applied at the start of the next step from the stored
(unreset) membrane; see :mod:`neurosim.snn.conventions`.

State: :class:`LIFState` ``(v,)``, a NamedTuple of tensors shaped like one time step of the
input. ``lif_run`` is the loop over ``lif_step`` (time first).
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import torch

from neurosim._validation import check_choice
from neurosim.snn.device import holds_values
from neurosim.snn.surrogate import ATan, Surrogate, get_surrogate

__all__ = [
    "LIFSpec", "LIFState", "lif_charge", "lif_fire", "lif_reset", "lif_step", "lif_run",
    "check_sequence", "check_step_input", "check_finite", "nonfinite_error", "tau_error",
    "DISCRETIZATIONS", "continuous_tau", "discrete_decay",
]


@dataclasses.dataclass(frozen=True)
class LIFSpec:
    """Resolved discrete-time LIF options (build with :func:`neurosim.snn.conventions.resolve_lif_spec`).

    Attributes
    ----------
    tau : float
        Membrane time constant in steps, >= 1 (decay per step ``1 - 1/tau`` in [0, 1); ``inf``:
        no leak).
    v_th, v_reset, v_rest : float
        Threshold, reset potential, leak target (arbitrary units).
    reset : {"zero", "subtract", "none"}
    detach_reset : bool
    decay_input : bool
    strict : bool
        Fire on ``h > v_th`` instead of ``h >= v_th``.
    surrogate : Surrogate
    form : {"spikingjelly", "snntorch", "norse"}
        Floating-point order of operations (see the module docstring).
    reset_delay : bool
        snntorch's delayed reset (only with ``form="snntorch"``).
    beta : float or None
        Explicit decay per step for ``form="snntorch"`` (default ``1 - 1/tau``).
    """

    tau: float = 2.0
    v_th: float = 1.0
    v_reset: float = 0.0
    v_rest: float = 0.0
    reset: str = "zero"
    detach_reset: bool = False
    decay_input: bool = True
    strict: bool = False
    surrogate: Surrogate = dataclasses.field(default_factory=ATan)
    form: str = "spikingjelly"
    reset_delay: bool = False
    beta: float | None = None

    def __post_init__(self):
        if not (isinstance(self.tau, (int, float)) and self.tau >= 1.0):  # inf: no leak (IF)
            raise ValueError(tau_error("tau", self.tau))
        if self.beta is not None and not (isinstance(self.beta, (int, float)) and 0.0 <= self.beta <= 1.0):
            raise ValueError(f"beta (decay per step) must lie in [0, 1], got {self.beta}")
        if self.reset not in ("zero", "subtract", "none"):
            raise ValueError(f"reset must be one of 'zero', 'subtract', 'none'; got {self.reset!r}")
        if self.form not in ("spikingjelly", "snntorch", "norse"):
            raise ValueError(f"form must be one of 'spikingjelly', 'snntorch', 'norse'; got {self.form!r}")
        if not isinstance(self.surrogate, Surrogate):
            raise TypeError(f"surrogate must be a Surrogate object, got {type(self.surrogate).__name__}")
        if self.reset_delay and self.form != "snntorch":
            raise ValueError("reset_delay=True is snntorch's reset; use it with form='snntorch'")
        if self.reset_delay and not self.detach_reset:
            raise ValueError("detach_reset must be True with reset_delay (snntorch detaches its reset)")
        if self.reset != "none" and self.v_th <= self.v_reset:
            raise ValueError(f"v_th must be > v_reset (got v_th={self.v_th}, v_reset={self.v_reset})")

    @property
    def decay(self) -> float:
        """Membrane decay per step, ``beta`` (snntorch) = ``1 - 1/tau``."""
        return self.beta if self.beta is not None else 1.0 - 1.0 / self.tau

    @property
    def k(self) -> float:
        """Leak fraction per step, ``1 / tau`` (norse: ``dt * tau_mem_inv``)."""
        return 1.0 / self.tau

    def replace(self, **changes) -> "LIFSpec":
        return dataclasses.replace(self, **changes)

    # -- NIR: the continuous-time neuron of this discrete step (see neurosim.snn.nir) --------------
    @property
    def input_gain(self) -> float:
        """Gain ``g`` of the input in the step ``h = beta v + (1 - beta) v_rest + g x`` (every form)."""
        if not self.decay_input:
            return 1.0
        return (1.0 - float(self.decay)) if self.form == "snntorch" else float(self.k)

    def to_nir(self, dt: float, discretization: str = "euler") -> dict[str, float]:
        """NIR's neuron fields for steps of ``dt`` seconds (one value per layer).

        A leaky neuron gives ``nir.LIF``'s ``tau`` (s), ``r``, ``v_leak``, ``v_threshold``,
        ``v_reset``: ``tau = dt / (1 - beta)`` (``"euler"``) or ``-dt / ln(beta)`` (``"exact"``),
        ``r = g / (1 - beta)``, ``v_leak = v_rest``. Without leak (``beta = 1``) it gives
        ``nir.IF``'s ``r = g / dt``, ``v_threshold``, ``v_reset`` (no ``tau``).
        """
        beta, g = float(self.decay), self.input_gain
        if beta == 1.0:
            return {"r": g / dt, "v_threshold": float(self.v_th), "v_reset": float(self.v_reset)}
        return {"tau": continuous_tau(beta, dt, discretization, "membrane"), "r": g / (1.0 - beta),
                "v_leak": float(self.v_rest), "v_threshold": float(self.v_th), "v_reset": float(self.v_reset)}

    def nir_metadata(self) -> dict:
        """What NIR cannot say (exact ``tau``, reset, fire rule, surrogate ...): :meth:`from_nir` reads it back."""
        return {
            "tau": float(self.tau), "beta": -1.0 if self.beta is None else float(self.beta),
            "v_th": float(self.v_th), "v_reset": float(self.v_reset), "v_rest": float(self.v_rest),
            "reset": self.reset, "fire": ">" if self.strict else ">=", "decay_input": bool(self.decay_input),
            "detach_reset": bool(self.detach_reset), "form": self.form, "reset_delay": bool(self.reset_delay),
            "surrogate": self.surrogate.name, "surrogate_param": float(self.surrogate.kernel_param),
        }

    @classmethod
    def from_nir(cls, tau: float | None, r: float, v_leak: float, v_threshold: float, v_reset: float, *,
                 dt: float, discretization: str = "euler", metadata: dict | None = None) -> "LIFSpec":
        """The spec whose step is NIR's neuron (``tau=None``: ``nir.IF``) integrated over ``dt`` seconds.

        ``metadata`` (what :meth:`nir_metadata` wrote) restores the exact options while the NIR
        fields still agree with it; without it the neuron is NIR's: fire on ``>``, reset to ``v_reset``.
        """
        if tau is None:
            beta, g = 1.0, r * dt
        else:
            beta = discrete_decay(tau, dt, discretization)
            g = r * (1.0 - beta)
        if metadata:
            spec = cls._from_nir_metadata(metadata)
            close = lambda a, b: math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)  # noqa: E731
            if (close(float(spec.decay), beta) and close(spec.input_gain, g) and close(spec.v_th, v_threshold)
                    and close(spec.v_reset, v_reset) and (tau is None or close(spec.v_rest, v_leak))):
                # (nir.IF has no v_leak: an IF layer's v_rest, its initial membrane, lives in the metadata only)
                return spec
        if beta == 1.0:  # no leak: h = v + x (snntorch form with decay 1)
            if not math.isclose(g, 1.0, rel_tol=1e-9):
                raise ValueError(f"NIR IF with R dt = {g:g} != 1 is not supported; scale the preceding weights by R dt")
            return cls(tau=1.0, v_th=v_threshold, v_reset=v_reset, v_rest=0.0, reset="zero", strict=True,
                       decay_input=False, form="snntorch", beta=1.0)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"NIR LIF with tau={tau} s and dt={dt} s gives decay {beta} per step; "
                             "pass the dt the graph was made for (dt >= tau is unstable under forward Euler)")
        for decay_input, gain in ((True, 1.0 - beta), (False, 1.0)):
            if math.isclose(g, gain, rel_tol=1e-6):
                return cls(tau=1.0 / (1.0 - beta), v_th=v_threshold, v_reset=v_reset, v_rest=v_leak, reset="zero",
                           strict=True, decay_input=decay_input)
        raise ValueError(f"NIR LIF input gain R dt / tau = {g:g} is neither 1 nor dt/tau; scale the preceding "
                         "weights (neurosim LIF layers have R = 1 or R = tau/dt)")

    @classmethod
    def _from_nir_metadata(cls, ns: dict) -> "LIFSpec":
        name = str(ns["surrogate"])
        try:
            surrogate = type(get_surrogate(name)).from_kernel_param(float(ns["surrogate_param"]))
        except KeyError as exc:  # unknown name: not a neurosim graph this version can read
            raise ValueError(f"neurosim metadata: {exc.args[0]}") from None
        beta = float(ns["beta"])
        return cls(tau=float(ns["tau"]), v_th=float(ns["v_th"]), v_reset=float(ns["v_reset"]),
                   v_rest=float(ns["v_rest"]), reset=str(ns["reset"]), detach_reset=bool(ns["detach_reset"]),
                   decay_input=bool(ns["decay_input"]), strict=str(ns["fire"]) == ">", surrogate=surrogate,
                   form=str(ns["form"]), reset_delay=bool(ns["reset_delay"]), beta=None if beta < 0 else beta)


#: how :meth:`LIFSpec.to_nir` maps a decay per step to a continuous time constant
DISCRETIZATIONS = ("euler", "exact")


def continuous_tau(decay: float, dt: float, discretization: str = "euler", what: str = "membrane") -> float:
    """Continuous time constant (s) whose discretisation over ``dt`` s decays by ``decay`` per step.

    ``"euler"``: ``dt / (1 - decay)``; ``"exact"`` (zero-order hold): ``-dt / ln(decay)``.
    """
    check_choice("discretization", discretization, DISCRETIZATIONS)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"cannot export a {what} decay of {decay} per step (needs 0 <= decay < 1)")
    if discretization == "euler":
        return dt / (1.0 - decay)
    if decay == 0.0:
        raise ValueError(f"a {what} decay of 0 (tau = 1 step) has no exact continuous time constant; "
                         "use discretization='euler'")
    return -dt / math.log(decay)


def discrete_decay(tau: float, dt: float, discretization: str = "euler") -> float:
    """Decay per step of a continuous time constant ``tau`` (s) over steps of ``dt`` s (inverse of
    :func:`continuous_tau`; not range-checked)."""
    check_choice("discretization", discretization, DISCRETIZATIONS)
    return 1.0 - dt / tau if discretization == "euler" else math.exp(-dt / tau)


def tau_error(name: str, value, what: str = "membrane",
              alternative: str = "integration='exact' (decay exp(-dt/tau_mem), valid for any tau_mem > 0)") -> str:
    """Message for a time constant below one step: the decay per step ``1 - 1/tau`` would be
    negative, so the discrete update overshoots (it fires on every step or diverges)."""
    return (f"{name} must be >= 1 step (got {value}): the {what} decays by 1 - 1/{name} per step, which must "
            f"lie in [0, 1); a shorter time constant makes the discrete update overshoot (it fires on every step "
            f"or diverges). Use {name} >= 1, a smaller dt ({name} counts steps of dt), or {alternative}")


def nonfinite_error(x: torch.Tensor, v0: torch.Tensor | None = None, name: str = "x") -> ValueError:
    """The ``ValueError`` for a run that ended with a NaN or infinite membrane: names the first
    non-finite input value, else a non-finite initial membrane, else an overflow."""
    xd = x.detach()
    bad = ~torch.isfinite(xd)
    if bool(bad.any()):
        n_nan = int(torch.isnan(xd).sum())
        first = tuple(int(i) for i in bad.nonzero()[0])
        return ValueError(
            f"{name} contains {int(bad.sum())} non-finite values ({n_nan} NaN, {int(bad.sum()) - n_nan} inf) of "
            f"{xd.numel()}, the first at index {first}: the neuron state would be NaN and the spikes meaningless. "
            f"Replace or remove them before the layer (e.g. torch.nan_to_num({name})) or find where they arise")
    if v0 is not None and not bool(torch.isfinite(v0.detach()).all()):
        return ValueError("state.v (the initial membrane) contains NaN or inf values; pass state=None to start "
                          "from rest, or a finite state")
    big = float(xd.abs().max()) if xd.numel() else 0.0
    return ValueError(f"the membrane overflowed to inf although {name} is finite (largest |{name}| = {big:g} in "
                      f"{xd.dtype}); scale {name} down or compute in float64")


def check_finite(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """``x`` must hold no NaN or inf (``ValueError`` naming ``name`` and the first bad index)."""
    if holds_values(x) and not bool(torch.isfinite(x).all()):
        raise nonfinite_error(x, name=name)
    return x


class LIFState(NamedTuple):
    """LIF state: membrane potential ``v`` (after reset, or the unreset membrane with ``reset_delay``)."""

    v: torch.Tensor

    @classmethod
    def initial(cls, like: torch.Tensor, spec: LIFSpec) -> "LIFState":
        """``v = v_rest`` with the shape, dtype and device of one time step ``like``."""
        return cls(torch.full_like(like, spec.v_rest))


def check_step_input(x, name: str = "x") -> torch.Tensor:
    """``x`` must be a floating tensor with at least one dimension ``[B, ...]``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float32/float64), got dtype {x.dtype}; "
                        f"convert with {name}.float()")
    if x.ndim < 1:
        raise ValueError(f"{name} must have shape [B, ...] (at least 1 dimension), got a 0-d tensor")
    return x


def check_sequence(x, name: str = "x") -> torch.Tensor:
    """``x`` must be a floating tensor ``[T, B, ...]`` with ``T >= 1``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float32/float64), got dtype {x.dtype}; "
                        f"convert with {name}.float()")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape [T, B, ...] (time first, at least 2 dimensions), "
                         f"got shape {tuple(x.shape)}; use the Cell form for one step")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has T = 0 time steps (shape {tuple(x.shape)}); T must be >= 1")
    return x


def _check_state(state, x_step: torch.Tensor, spec, cls=LIFState):
    """``None`` -> ``cls.initial``; otherwise check the fields' shapes against one input step."""
    if state is None:
        return cls.initial(x_step, spec)
    if not isinstance(state, tuple) or len(state) != len(cls._fields):
        raise TypeError(f"state must be a {cls.__name__} (or None), got {type(state).__name__}")
    state = cls(*state)
    for name, t in zip(cls._fields, state):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"state.{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.device != x_step.device:
            raise ValueError(f"state.{name} is on {t.device} but x is on {x_step.device}; move the state to the "
                             f"input's device (state.{name}.to(x.device)) or pass state=None to start from rest")
        if t.shape != x_step.shape:
            raise ValueError(f"state.{name} has shape {tuple(t.shape)}, expected {tuple(x_step.shape)} "
                             "(one time step of the input); pass state=None to start from rest")
    return state


# -- the three pieces -------------------------------------------------------------------------
def lif_charge(x: torch.Tensor, v: torch.Tensor, spec: LIFSpec, k: torch.Tensor | None = None) -> torch.Tensor:
    """Membrane after integrating one step of input (before firing).

    ``k`` (optional tensor) replaces the leak fraction ``1/tau`` by a learnable value and is
    multiplied in (spikingjelly's parametric LIF: ``h = v + (x - (v - v_rest)) k``).
    """
    vr = spec.v_rest
    if spec.form == "snntorch":
        b = spec.decay if k is None else 1.0 - k
        xin = x * (1.0 - b) if spec.decay_input else x
        if vr == 0.0:
            return b * v + xin
        return b * (v - vr) + vr + xin
    if spec.form == "norse":
        kk = spec.k if k is None else k
        if spec.decay_input:
            return v + kk * ((vr - v) + x)
        return v + kk * (vr - v) + x
    if k is not None:
        if spec.decay_input:
            return v + (x - (v - vr)) * k
        return v - (v - vr) * k + x
    if spec.decay_input:
        return v + (x - (v - vr)) / spec.tau
    return v - (v - vr) / spec.tau + x


def lif_fire(h: torch.Tensor, spec: LIFSpec) -> torch.Tensor:
    """Spikes ``H(h - v_th)`` with the surrogate derivative in backward."""
    return spec.surrogate.fire(h - spec.v_th, spec.strict)


def lif_reset(h: torch.Tensor, s: torch.Tensor, spec: LIFSpec) -> torch.Tensor:
    """Membrane after the reset that follows spikes ``s``."""
    if spec.reset == "none":
        return h
    if spec.detach_reset:
        s = s.detach()
    if spec.reset == "zero":
        return s * spec.v_reset + (1.0 - s) * h
    return h - s * (spec.v_th - spec.v_reset)


def _delayed_reset(v: torch.Tensor, spec: LIFSpec) -> torch.Tensor:
    """snntorch: apply at step t the reset due to the spike of step t-1 (detached)."""
    if spec.reset == "none":
        return v
    r = ((v > spec.v_th) if spec.strict else (v >= spec.v_th)).to(v.dtype)
    if spec.reset == "zero":
        if spec.v_reset == 0.0:
            return (1.0 - r) * v
        return (1.0 - r) * v + r * spec.v_reset
    return v  # subtract: applied after the charge (see lif_step)


def lif_step(x: torch.Tensor, state: LIFState | None, spec: LIFSpec, k: torch.Tensor | None = None):
    """One time step: ``(spikes, LIFState)`` for input ``x`` ``[B, ...]`` (``k``: see :func:`lif_charge`)."""
    state = _check_state(state, x, spec)
    v = state.v
    if spec.reset_delay:
        v0 = v
        v = _delayed_reset(v, spec)
        h = lif_charge(x, v, spec, k)
        if spec.reset == "subtract":
            r = ((v0 > spec.v_th) if spec.strict else (v0 >= spec.v_th)).to(v0.dtype)
            h = h - r * (spec.v_th - spec.v_reset)
        s = lif_fire(h, spec)
        return s, LIFState(h)
    h = lif_charge(x, v, spec, k)
    s = lif_fire(h, spec)
    return s, LIFState(lif_reset(h, s, spec))


def lif_run(xs: torch.Tensor, state: LIFState | None, spec: LIFSpec, backend: str = "torch",
            k: torch.Tensor | None = None):
    """Sequence form: loop :func:`lif_step` over ``xs`` ``[T, B, ...]``; returns ``(spikes, state)``.

    ``backend="auto"`` uses the fused Numba kernel (:mod:`neurosim.snn.fused`) for CPU
    float32/float64 input when it supports ``spec``, the Triton kernels
    (:mod:`neurosim.snn.triton`) for CUDA input; ``"fused"`` and ``"triton"`` force one of
    them; ``"torch"`` always loops here. A NaN or
    infinite value in ``xs`` (or the state) raises ``ValueError`` on either path.
    """
    check_sequence(xs, "x")
    if backend not in ("torch", "auto", "fused", "triton"):
        raise ValueError(f"backend must be one of 'auto', 'torch', 'fused', 'triton'; got {backend!r}")
    if backend != "torch":
        from neurosim.snn.fused import dispatch

        fused = dispatch(xs, state, spec, backend, k)  # a fresh state (v_rest) is not materialised
        if fused is not None:
            return fused
    fresh = state is None
    state = _check_state(state, xs[0], spec)
    v0 = None if fresh else state.v
    out = []
    for x in xs:
        s, state = lif_step(x, state, spec, k)
        out.append(s)
    if holds_values(state.v) and not bool(torch.isfinite(state.v).all()):  # a NaN or inf in xs or v0 ends here
        raise nonfinite_error(xs, v0)
    return torch.stack(out), state
