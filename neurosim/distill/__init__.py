"""Knowledge distillation from ANN teachers into spiking students (torch).

Losses (:mod:`neurosim.distill.losses`): logits KD, WSLD, feature KD, blurred KD (BKDSNN) and the
combined objective; :class:`Trainer` (:mod:`neurosim.distill.trainer`) trains any student with
checkpoints, exact resume and ``torch.distributed`` data parallelism; :func:`load_tensors`
(:mod:`neurosim.distill.datasets`) gives it MNIST-like data as ``(x, y)`` tensors.
"""
from neurosim.distill.losses import (
    KD_RECIPES, BlurredKD, DistillObjective, FeatureAlign, FeatureKD, RestorationBlock, blur_mask, kd_loss,
    make_objective, soft_cross_entropy, wsld_loss, wsld_weights,
)
from neurosim.distill.datasets import load_tensors
from neurosim.distill.trainer import Trainer, probe_shapes, reset_model_states, resolve_module

__all__ = [
    "KD_RECIPES", "BlurredKD", "DistillObjective", "FeatureAlign", "FeatureKD", "RestorationBlock", "blur_mask",
    "kd_loss", "make_objective", "soft_cross_entropy", "wsld_loss", "wsld_weights", "Trainer", "probe_shapes",
    "reset_model_states", "resolve_module", "load_tensors",
]
