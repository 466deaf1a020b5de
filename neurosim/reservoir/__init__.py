"""Reservoir computing: liquid-state machines, E/I self-adapting rate reservoirs, Izhikevich
reservoirs, resistive-memory device weights, readouts (ridge, ANN, contrastive heads,
three-factor, FORCE), tasks and metrics.

numpy + Numba kernels; torch is imported only by the trainable readouts
(:class:`ANNReadout`, :mod:`neurosim.reservoir.contrastive`, loaded on first access).
"""
from __future__ import annotations

import importlib

from .base import Node, dale_weights, scale_spectral_radius, sparse_weights, spectral_radius
from .device import ResistiveDevice
from .ei import EIReservoir, tune_global_inhibition
from .izhikevich import IzhikevichReservoir
from .lsm import LSM
from .metrics import accuracy, memory_capacity, nrmse, separation, squared_correlation, top1_retrieval
from .readouts import ANNReadout, Ridge, RidgeCV, one_hot
from .tasks import TimingTask, mackey_glass, memory_task_input, narma, narma10, timing_task
from .three_factor import FORCEReadout, ThreeFactorReadout

_LAZY = {"contrastive": "neurosim.reservoir.contrastive", "ContrastiveHeads": "neurosim.reservoir.contrastive",
         "clip_loss": "neurosim.reservoir.contrastive"}

__all__ = [
    "Node", "LSM", "EIReservoir", "IzhikevichReservoir", "ResistiveDevice", "Ridge", "RidgeCV", "ANNReadout",
    "ThreeFactorReadout", "FORCEReadout", "tune_global_inhibition", "sparse_weights", "dale_weights",
    "spectral_radius", "scale_spectral_radius", "memory_capacity", "nrmse", "separation", "accuracy",
    "top1_retrieval", "squared_correlation", "one_hot", "narma", "narma10", "mackey_glass", "memory_task_input",
    "timing_task", "TimingTask", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        mod = importlib.import_module(_LAZY[name])
        return mod if name == "contrastive" else getattr(mod, name)
    raise AttributeError(f"module 'neurosim.reservoir' has no attribute {name!r}")
