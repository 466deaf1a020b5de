"""Continual learning without forgetting: HLOP (Hebbian orthogonal projection) and baselines.

Modules: ``hebbian`` (lateral subspace neurons, Oja's subspace rule; Numba kernel in
``neurosim.kernels.plasticity``), ``projection`` (``ProjLinear``/``ProjConv2d`` with projected
weight gradients), ``hlop`` (HLOP strategy, spiking MLP), ``baselines`` (fine-tuning, EWC, GPM,
replay), ``protocols`` (Permuted / Split MNIST, the task loop and the accuracy matrix R),
``metrics`` (ACC, BWT), ``methods`` (each method's model and strategy by name,
:func:`~neurosim.continual.methods.build_method`). Torch-level: import the submodules explicitly, e.g.
``from neurosim.continual.hlop import HLOP``.
"""
