"""ANN-to-SNN conversion (rate coding, integrate-and-fire neurons with reset by subtraction).

>>> snn = ann_to_snn(ann.eval(), train_images[:2000], mode="99.9%")       # doctest: +SKIP
>>> logits = snn(images.unsqueeze(0).expand(32, *images.shape))         # T = 32 steps
>>> logits = snn.run_static(images, timesteps=32)                        # the same
>>> reset_states(snn)                                                    # before the next batch

Modules: :mod:`~neurosim.convert.graph` (tracing, node checks, BN folding),
:mod:`~neurosim.convert.calibrate` (layer scales), :mod:`~neurosim.convert.modules` (IF neuron,
scalers, the model shell), :mod:`~neurosim.convert.qcfs` (QCFS activation for low latency), :mod:`~neurosim.convert.recipe`
(rebuilding a converted network from a model file), :mod:`~neurosim.convert.evaluate` (accuracy vs T),
:mod:`~neurosim.convert.finetune` (the feature a KD recipe compares when a converted network is fine-tuned).
The algorithm and the numbers it is checked against: ``shared/specs/CONVERSION.md``.
"""
from neurosim.convert.calibrate import parse_mode
from neurosim.convert.convert import ann_to_snn
from neurosim.convert.evaluate import accuracy_vs_timesteps
from neurosim.convert.finetune import FeatureTap, add_feature_tap, feature_pair
from neurosim.convert.modules import ConvertedSNN, IFNeuron, Scale
from neurosim.convert.qcfs import QCFS, floor_ste
from neurosim.convert.recipe import rebuild, recipe

__all__ = ["ann_to_snn", "ConvertedSNN", "IFNeuron", "Scale", "QCFS", "floor_ste", "parse_mode", "recipe", "rebuild",
           "accuracy_vs_timesteps", "FeatureTap", "add_feature_tap", "feature_pair"]
