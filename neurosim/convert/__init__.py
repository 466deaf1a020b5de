"""ANN-to-SNN conversion (rate coding, integrate-and-fire neurons with reset by subtraction).

>>> snn = ann_to_snn(ann.eval(), train_images[:2000], mode="99.9%")       # doctest: +SKIP
>>> logits = snn(images.unsqueeze(0).expand(32, *images.shape))         # T = 32 steps
>>> logits = snn.run_static(images, timesteps=32)                        # the same
>>> reset_states(snn)                                                    # before the next batch

Modules: :mod:`~neurosim.convert.graph` (tracing, node checks, BN folding),
:mod:`~neurosim.convert.calibrate` (layer scales), :mod:`~neurosim.convert.modules` (IF neuron,
scalers, the model shell), :mod:`~neurosim.convert.qcfs` (QCFS activation for low latency), :mod:`~neurosim.convert.recipe`
(rebuilding a converted network from a model file), :mod:`~neurosim.convert.evaluate` (accuracy vs T),
:mod:`~neurosim.convert.event` (event-driven Conv2d/Linear on spike inputs, :func:`use_events`),
:mod:`~neurosim.convert.finetune` (the feature a KD recipe compares when a converted network is fine-tuned),
:mod:`~neurosim.convert.bias` (:func:`calibrate_bias`: layer-wise bias calibration for a small ``T``).
The algorithm and the numbers it is checked against: ``shared/specs/CONVERSION.md``.

NIR export (:mod:`~neurosim.convert.nir`): a converted model is an ordinary neurosim model for
``neurosim.snn.nir.export_nir`` / ``write_nir`` (also ``neurosim.io``):

>>> graph = export_nir(snn, (1, 28, 28))                 # doctest: +SKIP
>>> net = import_nir(graph)       # GraphNet (residual) or nn.Sequential: snn.forward_steps's output

IF layers become ``nir.IF`` (``r = 1/dt``, threshold 1), unfolded scales ``nir.Scale``, Conv2d /
Linear / average pooling / flatten their NIR nodes, residual additions summed fan-in edges; the
graph's output is the last layer's per-step output (the mean/sum decoding is in
``graph.metadata["neurosim"]["converted"]``). Max pooling, unfolded BatchNorm, concatenation and
other ops with no NIR node raise ``ValueError`` naming the node. NIR's IF resets to ``v_reset``
and fires on ``>``: the subtractive reset, ``>=`` and ``v_init`` of the converted neurons are
kept in each node's metadata, which :func:`~neurosim.snn.nir.import_nir` reads and other tools
ignore (they would reset to 0 and lose rate accuracy); see :mod:`neurosim.convert.nir`.
"""
from neurosim.convert.bias import calibrate_bias
from neurosim.convert.calibrate import parse_mode
from neurosim.convert.convert import ann_to_snn
from neurosim.convert.evaluate import accuracy_vs_timesteps
from neurosim.convert.event import use_events
from neurosim.convert.finetune import FeatureTap, add_feature_tap, feature_pair
from neurosim.convert.modules import ConvertedSNN, IFNeuron, Scale
from neurosim.convert.nir import export_converted  # registers ConvertedSNN with neurosim.snn.nir.export_nir
from neurosim.convert.qcfs import QCFS, floor_ste
from neurosim.convert.recipe import rebuild, recipe

__all__ = ["ann_to_snn", "ConvertedSNN", "IFNeuron", "Scale", "QCFS", "floor_ste", "parse_mode", "recipe", "rebuild",
           "accuracy_vs_timesteps", "use_events", "export_converted", "FeatureTap", "add_feature_tap", "feature_pair",
           "calibrate_bias"]
