"""Short-term plasticity (Tsodyks-Markram) on a synapse group: ``connect(..., plasticity=TsodyksMarkram(...))``.

Each presynaptic spike transmits ``w u x`` (the weight times the spike's efficacy), with the
two-state ``model="tsodyks2"`` (NEST ``tsodyks2_synapse``, Tsodyks & Markram 1997 with Fuhrmann
2002 facilitation; the Brian2 Stimberg et al. 2018 synapse) or the three-state
``model="tsodyks"`` (NEST ``tsodyks_synapse``, Tsodyks et al. 1998: resources pass through the
active state ``y``, which decays with ``tau_psc``). Equations, timing and state in
``neurosim.kernels.stp``. Example (NEST's "depression" example, 20 Hz efficacies .670 .268 .150 ...)::

    stp = ns.sim.TsodyksMarkram(U=0.67, tau_rec=450.0)
    net.connect(pre, post, p=0.1, weight=2.0, target="ge", plasticity=stp)

The state starts recovered (``x = 1``) and unfacilitated (the first spike has ``u = U``),
"setting ``u`` together with ``U``" as SIMULATION.md §5 asks (NEST leaves ``u`` at 0 for the
two-state model unless told). Times in ms; ``tau_fac = 0`` turns facilitation off.
"""
from __future__ import annotations

import dataclasses

from neurosim._validation import check_choice, check_nonnegative, check_number, check_positive
from neurosim.sim.network import SynapseGroup

__all__ = ["TsodyksMarkram", "STPSynapseGroup", "make_stp"]

STP_MODELS = ("tsodyks2", "tsodyks")


@dataclasses.dataclass(frozen=True)
class TsodyksMarkram:
    """Tsodyks-Markram short-term plasticity of a synapse group.

    Parameters
    ----------
    U : float
        Utilisation increment, in ``(0, 1]``.
    tau_rec : float
        Recovery time constant of the resources ``x`` (ms, > 0).
    tau_fac : float
        Facilitation time constant of ``u`` (ms, >= 0; 0: no facilitation, ``u = U``).
    tau_psc : float
        Decay of the active state ``y`` of the three-state model (ms, > 0; NEST: equal to the
        target's synaptic time constant); unused by ``"tsodyks2"``.
    model : "tsodyks2" or "tsodyks"
    """

    U: float = 0.5
    tau_rec: float = 800.0
    tau_fac: float = 0.0
    tau_psc: float = 3.0
    model: str = "tsodyks2"

    def __post_init__(self):
        u = check_number("U", self.U)
        if not 0.0 < u <= 1.0:
            raise ValueError(f"U must lie in (0, 1], got {self.U}")
        check_positive("tau_rec", self.tau_rec, unit="ms")
        check_nonnegative("tau_fac", self.tau_fac, unit="ms")
        check_positive("tau_psc", self.tau_psc, unit="ms")
        if not isinstance(self.model, str):
            raise TypeError(f"model must be a string ({', '.join(map(repr, STP_MODELS))}), got {self.model!r}")
        check_choice("model", self.model, STP_MODELS)


class STPSynapseGroup(SynapseGroup):
    """A ``SynapseGroup`` whose spikes are scaled by Tsodyks-Markram efficacies (``plasticity``: the rule)."""

    kind = "stp"

    def __init__(self, *args, plasticity, dt):
        super().__init__(*args)
        self.plasticity = plasticity
        self.dt = float(dt)

    def __repr__(self):
        return (f"STPSynapseGroup({self.name!r}, {self.pre_group.name}->{self.post_group.name}, "
                f"n={self.n_synapses}, target={self.target!r}, model={self.plasticity.model!r})")


def make_stp(sg, plasticity, dt: float) -> STPSynapseGroup:
    """The ``STPSynapseGroup`` for the static group ``sg`` just made by ``Network.connect``."""
    return STPSynapseGroup(sg.name, sg.pre_group, sg.post_group, sg.pre, sg.post, sg.weight, sg.delay_steps,
                           sg.channel, sg.target, plasticity=plasticity, dt=dt)
