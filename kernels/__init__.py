"""Numba kernels (numpy + numba only), imported as ``neurosim.kernels``.

Conventions: public ``<model>_integrate`` kernels run a time loop over the private one-step
``_<model>_update``; kernels take contiguous arrays, write into caller-allocated outputs, draw no
random numbers, and take their Numba flags from ``neurosim.config`` only.

Modules
-------
lif         exact-exponential LIF with current synapses, refractoriness, resets
lif_cond    LIF with conductance synapses (Brette et al. 2007 COBA), in the network loop
poisson_group  Poisson spike sources in the network loop (their 0/1 drive is drawn in Python)
stdp        pair-based STDP projection (event-driven exact traces, all-to-all / nearest pairing)
izhikevich  Izhikevich (2003) model, two-half-step scheme for any dt
hh          Hodgkin-Huxley (Traub-Miles) with conductance synapses: exponential Euler / RK4, crossing
            detection; ``hh_math``: float32/float64 exp, expm1, exprel that LLVM vectorises
synapse     event-driven propagation: dense, CSR, CSR with integer delays (ring buffer)
network     fused multi-step loop over a whole network (used by ``neurosim.sim``); ``network_kinds``:
            the registry of population (neuron model) and projection (synapse kind) layouts it calls
sources     spike-generator groups in the network loop (neurons that spike at given steps)
normal      normal variates from raw bits of the caller's Generator (float32 Box-Muller)
bptt        fused multi-step LIF forward/backward (BPTT) behind ``neurosim.snn.fused``:
            parameter slots and packer in ``bptt_layout``; forward rows in ``bptt_rows``;
            surrogate table ``bptt_surrogates``, which generates ``bptt_sg_rows``; ``vexp``: a
            float32 exp that LLVM vectorises
blocks      runs block kernels (bptt, batchnorm) on threads: serial, thread pool, or an OpenMP
            team (``omp``: a region of PyTorch's libgomp; ``omp_desc``, ``omp_bodies``,
            ``omp_f32``/``omp_f64``)
event       event-driven (sparse-input) conv2d and linear layers for converted networks
            (``neurosim.convert.event``)
plasticity  Hebbian subspace rule (HLOP)
reservoir   reservoir state updates and three-factor / FORCE readouts
distance    RDM distances (``neurosim.rsa``)

Importing the package first drops cached kernels built from other versions of any module here
(``_cache.py``: Numba alone would keep a cached kernel whose callee in another file changed).
"""
from neurosim.config import NJIT as _NJIT
from neurosim.kernels import _cache

_cache.guard(__file__, _NJIT)
from neurosim.kernels.izhikevich import izhikevich_integrate
from neurosim.kernels.lif import RESET_CODES, RESET_NONE, RESET_SUBTRACT, RESET_ZERO, lif_integrate
from neurosim.kernels.network import network_integrate
from neurosim.kernels.synapse import (
    csr_contiguous_rows, csr_order, csr_propagate, csr_propagate_delayed, dense_propagate,
)

__all__ = [
    "lif_integrate", "izhikevich_integrate", "network_integrate", "dense_propagate", "csr_propagate",
    "csr_propagate_delayed", "csr_order", "csr_contiguous_rows", "RESET_CODES", "RESET_ZERO", "RESET_SUBTRACT", "RESET_NONE",
]
