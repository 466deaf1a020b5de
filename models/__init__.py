"""Model zoo: spiking networks (multi-step, ``[T, B, ...]``) and their ANN teachers.

>>> from neurosim.models import get_model
>>> net = get_model("spiking_convnet")                 # the issue's Fashion-MNIST network
>>> logits = net(x.expand(4, *x.shape))                # x: [B, 1, 28, 28], T = 4
>>> neurosim.snn.reset_states(net)                     # before the next batch

Names: ``spiking_mlp``, ``spiking_convnet``, ``sew_resnet18``, ``sew_resnet34``,
``sew_resnet_small``, ``lorafb_snet18``, ``lorafb_snet34``, and the ANN teachers ``mlp``,
``convnet``, ``resnet18``, ``resnet34``, ``resnet_small`` (see :func:`list_models`).

Model files (``model.pt``, self-describing): :func:`save_model` writes one, :func:`load_model`
rebuilds the model from a name, ``NAME@FILE`` or a file and returns a :class:`LoadedModel`
record; :func:`build_model` builds a registry model from a seed and :func:`input_config` gives
the options that fit a model to 28 x 28 grey images.
"""
from .registry import DEFAULT_NEURON, check_input, get_model, list_models, register
from .mlp import SpikingMLP
from .convnet import SpikingConvNet
from .sew_resnet import CONNECT_FUNCTIONS, SEWBasicBlock, SEWResNet, sew_connect
from .lorafb import ConvRecurrentContainer, LoRaFBSNet
from .teachers import MLP, BasicBlock, ConvNet, ResNet
from .building import build_model, input_config
from .files import FIXED_INPUT_SIZE, LoadedModel, load_model, save_model

__all__ = [
    "get_model", "list_models", "register", "check_input", "DEFAULT_NEURON",
    "SpikingMLP", "SpikingConvNet", "SEWResNet", "SEWBasicBlock", "CONNECT_FUNCTIONS", "sew_connect",
    "LoRaFBSNet", "ConvRecurrentContainer", "MLP", "ConvNet", "ResNet", "BasicBlock",
    "build_model", "input_config", "load_model", "save_model", "LoadedModel", "FIXED_INPUT_SIZE",
]
