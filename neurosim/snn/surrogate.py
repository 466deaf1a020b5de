r"""Surrogate gradients: Heaviside forward, smooth derivative backward.

A spiking nonlinearity ``s = H(x)`` with ``x = h - v_th`` has a zero derivative almost
everywhere. A surrogate keeps the exact step in the forward pass and replaces ``dH/dx`` by
the derivative ``g(x)`` of a smooth "primitive" ``sigma(x)`` in the backward pass.

Each surrogate is an object: ``sg = ATan(alpha=2.0)``; ``sg(x)`` returns spikes (0/1 in the
dtype of ``x``) with ``sg.grad`` as backward; ``sg.grad(x)`` is the closed-form derivative
and ``sg.primitive(x)`` the smooth function whose derivative it is (used by the tests).
``sg(x, strict=True)`` fires on ``x > 0`` instead of ``x >= 0``.

==================  =======================================================  ==========================
name                ``g(x)`` (closed form)                                     default width (source)
==================  =======================================================  ==========================
``atan``            ``(alpha/2) / (1 + (pi/2 * alpha * x)^2)``                 alpha=2 (spikingjelly, snntorch)
``sigmoid``         ``alpha * sig(alpha x) * (1 - sig(alpha x))``              alpha=4 (spikingjelly)
``fast_sigmoid``    ``1 / (slope * |x| + 1)^2``                                slope=25 (snntorch)
``superspike``      ``1 / (alpha * |x| + 1)^2``                                alpha=100 (norse's default)
``triangle``        ``alpha * max(0, 1 - alpha |x|)``                          alpha=1 (spikingjelly PiecewiseQuadratic)
``gaussian``        ``exp(-x^2 / (2 sigma^2)) / (sqrt(2 pi) sigma)``           sigma=0.5 (neurosim choice)
``erf``             ``alpha / sqrt(pi) * exp(-(alpha x)^2)``                   alpha=2 (spikingjelly)
==================  =======================================================  ==========================

Notes on peers: snntorch's ``triangular`` uses a different (sign-flipping) rule and norse's
triangle is ``alpha * relu(1 - |x|)``; norse 1.1.0's SuperSpike backward ignores its alpha and
computes ``1 / (|x| + 1)^2`` (= ``SuperSpike(alpha=1.0)``), which the ``"norse"`` convention
preset reproduces (see :mod:`neurosim.snn.conventions`).

Every surrogate exposes ``kernel_id`` and ``kernel_param`` so the fused Numba path evaluates
exactly the same closed form: the ids, constants and kernel code come from the surrogate table
``kernels/bptt_surrogates.py`` (``-1``: no kernel form, the torch loop runs).
"""
from __future__ import annotations

import math

import torch

from neurosim._validation import check_positive
from neurosim.kernels.bptt_surrogates import KERNEL_IDS
from neurosim.snn.device import holds_values

#: widths (alpha, slope, sigma) outside this range give zero or NaN gradients in float32
WIDTH_RANGE = (1e-6, 1e6)


def _width(name: str, value) -> float:
    """A surrogate width: a finite number in :data:`WIDTH_RANGE`."""
    v = check_positive(name, value)
    lo, hi = WIDTH_RANGE
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}: a surrogate this "
                         f"{'narrow' if (v > hi) != (name == 'sigma') else 'wide'} has zero or NaN gradients "
                         "in float32")
    return v


__all__ = [
    "Surrogate", "ATan", "Sigmoid", "FastSigmoid", "SuperSpike", "Triangle", "Gaussian", "Erf",
    "SURROGATES", "get_surrogate", "spike_fn",
]


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward (``x >= 0`` or ``x > 0``), ``surrogate.grad(x)`` backward."""

    @staticmethod
    def forward(ctx, x, surrogate, strict):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None, None


class Surrogate:
    """Base class: Heaviside forward with the derivative :meth:`grad` as backward.

    Subclasses define :meth:`grad` (closed form), :meth:`primitive` (a smooth function whose
    derivative is ``grad``), ``name``, ``kernel_id`` and the single width parameter
    ``kernel_param`` read by the fused kernels.
    """

    name: str = ""
    kernel_id: int = -1

    def __call__(self, x: torch.Tensor, strict: bool = False) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}; convert it with torch.as_tensor(x)")
        if x.is_complex():
            raise TypeError(f"x must be a real tensor, got dtype {x.dtype}")
        if x.is_floating_point() and holds_values(x) and bool(torch.isnan(x).any()):
            raise ValueError(f"x contains {int(torch.isnan(x).sum())} NaN value(s): a NaN membrane potential "
                             "has no spike decision; check the input and the time step")
        return _SpikeFunction.apply(x, self, bool(strict))

    def fire(self, x: torch.Tensor, strict: bool = False) -> torch.Tensor:
        """``self(x, strict)`` without the checks on ``x`` (the layers' hot path: their own
        inputs are checked where they enter)."""
        return _SpikeFunction.apply(x, self, strict)

    def grad(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def primitive(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def kernel_param(self) -> float:
        return float(getattr(self, self._param_name))

    _param_name = "alpha"

    @classmethod
    def from_kernel_param(cls, value: float) -> "Surrogate":
        """The surrogate of this class whose width :attr:`kernel_param` is ``value`` (its inverse)."""
        return cls(**{cls._param_name: value})

    def __repr__(self):
        return f"{type(self).__name__}({self._param_name}={self.kernel_param!r})"

    def __eq__(self, other):
        return type(self) is type(other) and self.kernel_param == other.kernel_param

    def __hash__(self):
        return hash((type(self).__name__, self.kernel_param))


class ATan(Surrogate):
    """Arc-tangent surrogate (spikingjelly/snntorch default, ``alpha=2``)."""

    name = "atan"
    kernel_id = KERNEL_IDS["atan"]

    def __init__(self, alpha: float = 2.0):
        self.alpha = _width("alpha", alpha)

    def grad(self, x):
        a = self.alpha / 2
        ax = math.pi * a * x
        return a / (1 + ax * ax)

    def primitive(self, x):
        return torch.atan(math.pi / 2 * self.alpha * x) / math.pi + 0.5


class Sigmoid(Surrogate):
    """Logistic surrogate ``sig(alpha x)`` (spikingjelly default ``alpha=4``)."""

    name = "sigmoid"
    kernel_id = KERNEL_IDS["sigmoid"]

    def __init__(self, alpha: float = 4.0):
        self.alpha = _width("alpha", alpha)

    def grad(self, x):
        s = torch.sigmoid(self.alpha * x)
        return (1.0 - s) * s * self.alpha

    def primitive(self, x):
        return torch.sigmoid(self.alpha * x)


class FastSigmoid(Surrogate):
    """Fast sigmoid ``x / (1 + slope |x|)`` (snntorch ``fast_sigmoid``, default ``slope=25``)."""

    name = "fast_sigmoid"
    kernel_id = KERNEL_IDS["fast_sigmoid"]
    _param_name = "slope"

    def __init__(self, slope: float = 25.0):
        self.slope = _width("slope", slope)

    def grad(self, x):
        return 1.0 / (self.slope * torch.abs(x) + 1.0) ** 2

    def primitive(self, x):
        return x / (1.0 + self.slope * torch.abs(x))


class SuperSpike(FastSigmoid):
    """SuperSpike (Zenke & Ganguli 2018): the fast sigmoid with norse's name ``alpha`` (default 100)."""

    name = "superspike"
    _param_name = "alpha"

    def __init__(self, alpha: float = 100.0):
        self.alpha = _width("alpha", alpha)

    @property
    def slope(self):  # same closed form as FastSigmoid
        return self.alpha

    @slope.setter
    def slope(self, value):  # pragma: no cover - set through alpha
        self.alpha = value


class Triangle(Surrogate):
    """Piecewise-linear (triangle) derivative ``alpha * max(0, 1 - alpha |x|)``; area 1.

    Same as spikingjelly's ``PiecewiseQuadratic`` (whose primitive is piecewise quadratic).
    """

    name = "triangle"
    kernel_id = KERNEL_IDS["triangle"]

    def __init__(self, alpha: float = 1.0):
        self.alpha = _width("alpha", alpha)

    def grad(self, x):
        return torch.clamp(1.0 - self.alpha * torch.abs(x), min=0.0) * self.alpha

    def primitive(self, x):
        a = self.alpha
        ax = torch.clamp(a * x, -1.0, 1.0)
        return 0.5 + ax - 0.5 * ax * torch.abs(ax)


class Gaussian(Surrogate):
    """Gaussian derivative ``N(x; 0, sigma^2)`` (primitive: the normal CDF), default ``sigma=0.5``."""

    name = "gaussian"
    kernel_id = KERNEL_IDS["gaussian"]
    _param_name = "sigma"

    def __init__(self, sigma: float = 0.5):
        self.sigma = _width("sigma", sigma)

    def grad(self, x):
        s = self.sigma
        return torch.exp(-(x * x) / (2.0 * s * s)) / (math.sqrt(2.0 * math.pi) * s)

    def primitive(self, x):
        return 0.5 * (1.0 + torch.erf(x / (self.sigma * math.sqrt(2.0))))


class Erf(Surrogate):
    """Error-function surrogate ``erfc(-alpha x) / 2`` (spikingjelly ``Erf``, default ``alpha=2``)."""

    name = "erf"
    kernel_id = KERNEL_IDS["erf"]

    def __init__(self, alpha: float = 2.0):
        self.alpha = _width("alpha", alpha)

    def grad(self, x):
        ax = self.alpha * x
        return torch.exp(-(ax * ax)) * (self.alpha / math.sqrt(math.pi))

    def primitive(self, x):
        return 0.5 * torch.erfc(-self.alpha * x)


#: registry: name -> class
SURROGATES: dict[str, type[Surrogate]] = {
    cls.name: cls for cls in (ATan, Sigmoid, FastSigmoid, SuperSpike, Triangle, Gaussian, Erf)
}


def get_surrogate(name, **kwargs) -> Surrogate:
    """Build a surrogate from its registry name (``"atan"``, ``"sigmoid"`` ...) and width keyword.

    A :class:`Surrogate` instance is returned unchanged (``kwargs`` must then be empty).
    ``KeyError`` lists the valid names.
    """
    if isinstance(name, Surrogate):
        if kwargs:
            raise TypeError("get_surrogate: keyword arguments are only valid with a surrogate name")
        return name
    if not isinstance(name, str):
        raise TypeError(f"surrogate must be a name or a Surrogate object, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in SURROGATES:
        raise KeyError(f"unknown surrogate {name!r}; valid names: {', '.join(SURROGATES)}")
    return SURROGATES[key](**kwargs)


def spike_fn(x: torch.Tensor, surrogate: Surrogate | str = "atan", strict: bool = False) -> torch.Tensor:
    """Functional form: ``get_surrogate(surrogate)(x, strict)``."""
    return get_surrogate(surrogate)(x, strict)
