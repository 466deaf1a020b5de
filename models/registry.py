"""Model registry and the helpers every model in :mod:`neurosim.models` shares.

``get_model(name, **cfg)`` builds a model from a name found in a config file or on the
command line; an unknown name raises ``KeyError`` listing the valid ones.

Conventions shared by the spiking models
----------------------------------------
* Input is multi-step: ``x`` of shape ``[T, B, *sample_shape]`` (a static image is turned
  into a sequence with ``neurosim.snn.encoding`` or ``x.expand(T, *x.shape)``).
* Output is the time-averaged logits ``[B, num_classes]`` (``mean_output=True``, the
  convention of the LoRaFB-SNet and SEW-ResNet training scripts); ``mean_output=False``
  returns the per-step logits ``[T, B, num_classes]``.
* Neuron state lives in the LIF layers and persists across calls until
  ``neurosim.snn.reset_states(model)`` (also exposed as ``model.reset_states()``).
* ``model.feature_layers`` is an ordered tuple of sub-module names (for
  ``model.get_submodule(name)``) whose outputs are the model's named features, used by
  feature distillation and RSA hooks; ``model.distill_layer`` names the feature map right
  before the classifier head.

ANN teachers take ``[B, *sample_shape]`` (and, for convenience, ``[T, B, *sample_shape]``,
averaging the logits over ``T``) and have the same layer names as their spiking
counterparts so that features can be matched by name.
"""
from __future__ import annotations

from typing import Callable, Dict

__all__ = ["register", "get_model", "list_models", "check_input", "make_neuron", "seq", "DEFAULT_NEURON", "NEURON_KINDS"]

_REGISTRY: Dict[str, Callable] = {}


def register(name: str):
    """Class/function decorator: make ``get_model(name, **cfg)`` build it."""

    def deco(fn):
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def _populate() -> None:
    # importing the model modules runs their @register decorators
    from . import convnet, lorafb, mlp, sew_resnet, teachers  # noqa: F401


def list_models() -> tuple[str, ...]:
    """Sorted names accepted by :func:`get_model`."""
    _populate()
    return tuple(sorted(_REGISTRY))


def get_model(name: str, **cfg):
    """Build the model registered as ``name`` with keyword configuration ``cfg``.

    Raises
    ------
    KeyError
        ``name`` is unknown; the message lists the valid names.
    TypeError
        ``cfg`` holds a keyword the model does not take.
    ValueError
        an option is invalid, or the weights would not fit in memory (the message names the options).
    """
    _populate()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(sorted(_REGISTRY))}")
    _check_model_memory(name, cfg)
    return _REGISTRY[name](**cfg)


def _check_model_memory(name: str, cfg: dict) -> None:
    """Refuse (``ValueError`` naming the options) a model whose weights cannot fit in memory.

    The model is first built on torch's ``meta`` device (shapes only, no storage) to count its
    parameter and buffer bytes. Option errors raised there are the model's own (``ValueError`` /
    ``TypeError`` naming the option) and propagate; a model that cannot be built on ``meta`` is
    simply built for real.
    """
    import torch

    from neurosim._validation import check_memory

    try:
        with torch.device("meta"):
            probe = _REGISTRY[name](**cfg)
    except (ValueError, TypeError, KeyError):
        raise
    except Exception:  # noqa: BLE001 - a constructor that needs real storage: nothing to pre-check
        return
    nbytes = sum(t.numel() * t.element_size() for t in (*probe.parameters(), *probe.buffers()))
    opts = ", ".join(f"{k}={v!r}" for k, v in cfg.items()) or "its default options"
    check_memory(f"get_model({name!r}) with {opts}", nbytes, 1.0, "the weights")


def check_input(x, sample_ndim: int, *, name: str = "x", allow_static: bool = False):
    """Validate a model input: a floating tensor of rank ``sample_ndim + 2`` ([T, B, ...]).

    With ``allow_static`` a rank ``sample_ndim + 1`` input ([B, ...]) is accepted too.
    Returns ``True`` when the input carries a time dimension.
    """
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating tensor (float32/float64), got dtype {x.dtype}; "
                        f"convert with x.float()")
    seq = sample_ndim + 2
    if x.dim() == seq:
        if x.shape[0] == 0:
            raise ValueError(f"{name} has T = 0 time steps (shape {tuple(x.shape)}); pass at least one step")
        return True
    if allow_static and x.dim() == seq - 1:
        return False
    want = f"{seq} ([T, B, ...])" + (f" or {seq - 1} ([B, ...])" if allow_static else "")
    raise ValueError(f"{name} must have rank {want} for this model, got shape {tuple(x.shape)}")


#: neuron options every spiking model uses unless told otherwise (ALGORITHMS.md §1.1:
#: tau 2, v_th 1, hard reset to 0, ATan(2) surrogate, detach_reset)
DEFAULT_NEURON = {"tau": 2.0, "v_th": 1.0, "v_reset": 0.0, "detach_reset": True}


#: neuron kinds accepted in ``neuron={"kind": ...}``: name -> (class name in neurosim.snn, own defaults)
NEURON_KINDS = {
    "lif": ("LIFLayer", {}),
    "plif": ("ParametricLIFLayer", {"init_tau": 2.0}),
    "if": ("IFLayer", {}),
    "cuba": ("CubaLIFLayer", {}),
    "alif": ("AdaptiveLIFLayer", {}),
}


def make_neuron(neuron=None):
    """A multi-step spiking layer from a dict of options (default: ``neurosim.snn.LIFLayer``).

    ``neuron`` is merged over :data:`DEFAULT_NEURON`; any keyword of the layer is allowed
    (``convention``, ``surrogate``, ``reset``, ``decay_input``, ...). ``neuron["kind"]`` picks
    another layer: ``"plif"`` (learnable tau, Fang et al. 2021), ``"if"``, ``"cuba"``
    (current-based), ``"alif"`` (adaptive threshold); options that a kind does not have
    (``tau`` for ``plif``/``if``) are dropped from the defaults.
    """
    import neurosim.snn as snn

    if neuron is None:
        neuron = {}
    if not isinstance(neuron, dict):
        raise TypeError(f"neuron must be a dict of LIFLayer options, got {type(neuron).__name__}")
    neuron = dict(neuron)
    kind = neuron.pop("kind", "lif")
    if kind not in NEURON_KINDS:
        raise KeyError(f"unknown neuron kind {kind!r}; valid kinds: {', '.join(NEURON_KINDS)}")
    cls_name, own = NEURON_KINDS[kind]
    cfg = dict(DEFAULT_NEURON)
    if kind in ("plif", "if"):
        cfg.pop("tau")
    cfg.update(own)
    cfg.update(neuron)
    return getattr(snn, cls_name)(**cfg)


def seq(*modules):
    """Wrap stateless per-step modules (Conv2d, BatchNorm, pooling, Linear) for [T, B, ...] input."""
    from neurosim.snn.containers import SeqToANN

    return SeqToANN(*modules)
