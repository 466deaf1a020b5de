"""Convention presets that reproduce spikingjelly, snntorch and norse LIF neurons.

The libraries differ in five named choices (see ``shared/specs/PEERS.md``); neurosim makes
each an option and bundles them per library:

==============  ================  ================  ====================  ======================
option          ``neurosim``      ``spikingjelly``  ``snntorch``          ``norse``
==============  ================  ================  ====================  ======================
charge form     spikingjelly      spikingjelly      snntorch              norse
decay_input     True              True              False                 True
fire            ``>=``            ``>=``            ``>``                 ``>``
reset           zero              zero (hard)       subtract, *delayed*   zero
detach_reset    False             False             True (always)         False
surrogate       ATan(2)           Sigmoid(4)        ATan(2)               SuperSpike(alpha=1)*
default tau     2 steps           2 steps           2 steps (beta 0.5)    10 steps (10 ms, dt 1)
leak target     v_reset (hard)    v_reset (hard)    0                     v_rest (v_leak)
==============  ================  ================  ====================  ======================

Time constants: every form decays the membrane by ``1 - 1/tau`` per step (``tau`` in steps), so
``tau >= 1`` is required (``tau_mem / dt >= 1`` with Euler integration; ``integration="exact"``
takes any ``tau_mem > 0``); spikingjelly's preset asks ``tau > 1`` as spikingjelly's ``LIFNode``
does. A shorter time constant overshoots: the membrane flips sign every step and fires on
every step or diverges, so it is an error, not a silent wrong answer.

Charge forms (the order of floating-point operations of each library)::

    spikingjelly  h = v + (x - (v - v_rest)) / tau          | v - (v - v_rest) / tau + x
    snntorch      h = beta v + x   (beta = 1 - 1/tau, or given)
    norse         h = v + k ((v_rest - v) + x),  k = dt / tau_mem (forward Euler)

*norse 1.1.0's SuperSpike backward ignores ``alpha`` (default 100) and computes
``1 / (|x| + 1)^2``; the preset reproduces what norse computes. Pass
``surrogate=SuperSpike(100.)`` for the published SuperSpike.

snntorch's delayed reset (``reset_delay=True``): the stored membrane is the *unreset* one;
at the next step the reset signal ``r = H(mem - v_th)`` (detached) is computed from it and
``mem = beta mem + x - r v_th`` (subtract) or ``mem = beta (1 - r) mem + x`` (zero). This is
different dynamics from spikingjelly/norse soft reset (fewer spikes), not only a different
order of floating-point operations.

The ``form`` also fixes the floating-point order of operations, so spikes are bit-identical
to the peer under its preset (tested in ``tests/test_snn_parity.py``).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Callable

from neurosim._validation import check_choice, check_number, check_positive
from neurosim.snn.surrogate import ATan, Sigmoid, SuperSpike, Surrogate, get_surrogate

__all__ = ["Convention", "CONVENTIONS", "get_convention", "resolve_lif_spec", "FORMS", "RESETS"]

FORMS = ("spikingjelly", "snntorch", "norse")
RESETS = ("zero", "subtract", "none")
_FIRE = {">=": False, ">": True, "ge": False, "gt": True}


@dataclasses.dataclass(frozen=True)
class Convention:
    """Defaults of one library's LIF neuron (see the module table)."""

    name: str
    form: str
    decay_input: bool
    strict: bool
    reset: str
    detach_reset: bool
    reset_delay: bool
    surrogate: Callable[[], Surrogate]
    tau: float


CONVENTIONS: dict[str, Convention] = {
    "neurosim": Convention("neurosim", "spikingjelly", True, False, "zero", False, False, ATan, 2.0),
    "spikingjelly": Convention("spikingjelly", "spikingjelly", True, False, "zero", False, False,
                               Sigmoid, 2.0),
    "snntorch": Convention("snntorch", "snntorch", False, True, "subtract", True, True, ATan, 2.0),
    "norse": Convention("norse", "norse", True, True, "zero", False, False,
                        lambda: SuperSpike(alpha=1.0), 10.0),
}


def get_convention(name: str) -> Convention:
    """Preset by name; ``KeyError`` lists the valid names."""
    if isinstance(name, Convention):
        return name
    if not isinstance(name, str):
        raise TypeError(f"convention must be a name ({', '.join(CONVENTIONS)}) or a Convention, "
                        f"got {type(name).__name__}")
    if name not in CONVENTIONS:
        raise KeyError(f"unknown convention {name!r}; valid names: {', '.join(CONVENTIONS)}")
    return CONVENTIONS[name]


def _effective_tau(tau, tau_mem, dt, beta, integration):
    """Membrane time constant in steps, such that one step decays by ``1 - 1/tau``."""
    integration = check_choice("integration", integration, ("euler", "exact"))
    given = [n for n, v in (("tau", tau), ("tau_mem", tau_mem), ("beta", beta)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give only one of tau, tau_mem, beta; got {', '.join(given)}")
    if beta is not None:
        beta = check_number("beta", beta)
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must lie in [0, 1) (decay per step), got {beta}")
        return 1.0 / (1.0 - beta), beta
    if tau_mem is not None:
        tau_mem = check_positive("tau_mem", tau_mem, unit="ms")
        dt = check_positive("dt", dt, unit="ms")
        steps = tau_mem / dt
        if integration == "euler" and not steps >= 1.0:
            raise ValueError(f"tau_mem / dt must be >= 1 with integration='euler' (got tau_mem={tau_mem}, dt={dt}: "
                             f"{steps:g} steps): the membrane decays by 1 - dt/tau_mem per step, which must lie "
                             "in [0, 1). Use a smaller dt or integration='exact'")
    elif tau is not None:
        steps = check_positive("tau", tau, unit="steps")
        if integration == "euler" and not steps >= 1.0:
            from neurosim.snn.functional.lif import tau_error

            raise ValueError(tau_error("tau", tau))
    else:
        return None, None
    if integration == "exact":
        decay = math.exp(-1.0 / steps)
        return 1.0 / (1.0 - decay), decay
    return steps, None


def resolve_lif_spec(convention="neurosim", *, tau=None, tau_mem=None, dt=1.0, beta=None,
                     integration="euler", v_th=None, v_reset=None, v_rest=None, reset=None,
                     detach_reset=None, decay_input=None, fire=None, surrogate=None,
                     params=None):
    """Merge a convention preset with explicit options into a validated ``LIFSpec``.

    ``None`` means "the preset's value". ``params`` (a :class:`neurosim.neurons.LIFParams`)
    supplies ``tau_mem`` (with ``dt``), ``v_th``, ``v_reset``, ``v_rest`` and ``reset``; its
    scalar fields only (``t_ref`` must be 0 and ``r`` 1: scale the input instead).
    """
    from neurosim.snn.functional.lif import LIFSpec

    conv = get_convention(convention)
    if params is not None:
        for name in ("tau_mem", "v_th", "v_reset", "v_rest", "t_ref", "r"):
            if not isinstance(getattr(params, name), float):
                raise ValueError(f"params.{name} must be a scalar for the torch layers, got an array")
        if params.t_ref != 0.0:
            raise ValueError("params.t_ref must be 0: the torch LIF layers have no refractory period")
        if params.r != 1.0:
            raise ValueError("params.r must be 1 for the torch LIF layers; scale the input instead")
        if tau is not None or beta is not None:
            raise ValueError("give either params (with dt) or tau/beta, not both")
        tau_mem = params.tau_mem if tau_mem is None else tau_mem
        v_th = params.v_th if v_th is None else v_th
        v_reset = params.v_reset if v_reset is None else v_reset
        v_rest = params.v_rest if v_rest is None else v_rest
        reset = params.reset if reset is None else reset
    tau_eff, beta_eff = _effective_tau(tau, tau_mem, dt, beta, integration)
    if tau_eff is None:
        tau_eff = conv.tau
    if conv.name == "spikingjelly" and beta_eff is None and not tau_eff > 1.0:
        raise ValueError(f"tau must be > 1 step with convention='spikingjelly' (got {tau_eff:g}; spikingjelly's "
                         "LIFNode asserts tau > 1); use tau > 1 or integration='exact'")
    reset = conv.reset if reset is None else check_choice("reset", reset, RESETS)
    if fire is None:
        strict = conv.strict
    else:
        if fire not in _FIRE:
            raise ValueError(f"fire must be one of '>=', '>'; got {fire!r}")
        strict = _FIRE[fire]
    if surrogate is None:
        surrogate = conv.surrogate()
    else:
        surrogate = get_surrogate(surrogate)
    v_th = 1.0 if v_th is None else check_number("v_th", v_th)
    v_reset = 0.0 if v_reset is None else check_number("v_reset", v_reset)
    if v_rest is None:
        v_rest = v_reset if (conv.form == "spikingjelly" and reset == "zero") else 0.0
    return LIFSpec(
        tau=tau_eff, v_th=v_th, v_reset=v_reset, v_rest=check_number("v_rest", v_rest),
        reset=reset,
        detach_reset=conv.detach_reset if detach_reset is None else bool(detach_reset),
        decay_input=conv.decay_input if decay_input is None else bool(decay_input),
        strict=strict, surrogate=surrogate, form=conv.form, reset_delay=conv.reset_delay,
        beta=beta_eff,
    )
