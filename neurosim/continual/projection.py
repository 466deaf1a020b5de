"""Layers whose weight gradient is orthogonal to a protected (frozen) input subspace.

For ``out = W x`` with a protected subspace spanned by the orthonormal rows of ``Q``
(``r x n``) the weight gradient uses the projected presynaptic activity (HLOP, GPM)::

    x_⊥   = x − Qᵀ Q x
    dL/dW = δᵀ X_⊥ = δᵀ X − (δᵀ X Qᵀ) Q          (the two routes are algebraically equal)
    dL/dx = δ W                                   (error propagation unchanged)

so ``ΔW x = 0`` for every ``x`` in span(Q): responses to old-task inputs stay fixed. The
backward pass picks the cheaper route: projecting the ``rows x n`` input costs ``2·rows·n·r``,
projecting the ``out x n`` gradient after the product costs ``2·out·n·r`` (``mode="auto"``);
``"input"`` / ``"grad"`` force a route. Once the protected subspace fills more than half of
``R^n`` (``r > n/2``, late tasks of a long sequence), ``auto`` projects with an orthonormal
basis ``C`` of its complement instead, ``x_⊥ = (x Cᵀ) C``, which costs ``2·rows·n·(n − r)``
(``C`` is computed once per basis, in float64). Conv layers apply the same to unfolded patches
(``n = C_in·kh·kw``).

Presynaptic traces (OTTT-style online training): ``forward(x, trace=a)`` uses ``x`` (spikes)
in the forward pass and ``a`` in place of ``x`` for the weight gradient (projected likewise).

Inputs may carry leading time/batch axes (``[T, B, n]`` for BPTT): they are flattened into
rows, so the rule is the same for every time step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neurosim._validation import check_choice, check_int, check_memory

__all__ = ["ProjLinear", "ProjConv2d", "project_rows", "projected_weight_grad", "orthogonal_complement"]

MODES = ("auto", "input", "grad")


def project_rows(x: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """``x − (x Qᵀ) Q`` for rows of ``x`` (``[..., n]``); identity when ``Q`` is empty."""
    if Q is None or Q.shape[0] == 0:
        return x
    return x - (x @ Q.T) @ Q


def orthogonal_complement(Q: torch.Tensor) -> torch.Tensor:
    """Orthonormal rows ``C`` (``(n − r) x n``) spanning the complement of span(Q) (``Q`` orthonormal rows).

    ``x Cᵀ C = x − x Qᵀ Q`` up to rounding. From a complete QR of ``Qᵀ`` in float64.
    """
    r, n = Q.shape
    full, _ = torch.linalg.qr(Q.detach().double().T, mode="complete")
    return full[:, r:].T.to(Q.dtype).contiguous()


def projected_weight_grad(delta: torch.Tensor, x: torch.Tensor, Q: torch.Tensor | None, mode: str = "auto",
                          C: torch.Tensor | None = None):
    """``δᵀ (X − X Qᵀ Q)`` for row matrices ``delta`` (rows x out) and ``x`` (rows x n).

    ``C``: optional orthonormal basis of the complement of span(Q) (:func:`orthogonal_complement`);
    ``mode="auto"`` uses it when it has fewer rows than ``Q``.
    """
    if Q is None or Q.shape[0] == 0:
        return delta.T @ x
    rows, out = x.shape[0], delta.shape[1]
    comp = mode == "auto" and C is not None and C.shape[0] < Q.shape[0]
    if mode == "input" or (mode == "auto" and rows < out):
        if comp:
            return delta.T @ ((x @ C.T) @ C)
        return delta.T @ project_rows(x, Q)
    g = delta.T @ x
    if comp:
        return (g @ C.T) @ C
    return g - (g @ Q.T) @ Q


def _check_input(x, weight: torch.Tensor, name: str = "x") -> None:
    """``x`` must be a finite floating tensor of the layer's dtype (``TypeError``/``ValueError`` naming it)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}; convert with torch.as_tensor({name})")
    if not torch.is_floating_point(x):
        raise TypeError(f"{name} must be a floating tensor of the layer's dtype {weight.dtype}, got dtype {x.dtype}")
    if x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(f"{name} has dtype {x.dtype} but the layer's weight is {weight.dtype}; convert with "
                        f"{name}.to({weight.dtype}) or build the layer with dtype={x.dtype}")
    if not bool(torch.isfinite(x).all()):
        bad = ~torch.isfinite(x.detach())
        first = tuple(int(i) for i in bad.nonzero()[0])
        raise ValueError(f"{name} contains {int(bad.sum())} NaN/inf value(s) of {x.numel()} (the first at index "
                         f"{first}); the layer output and its projected gradient would be NaN. Remove them before "
                         f"the layer (e.g. torch.nan_to_num({name})) or find where they arise")


def _check_sizes(names: tuple[str, str], n_in: int, n_out: int, per_weight: int, dtype) -> tuple[int, int]:
    """Layer sizes as ints >= 1 whose weight (``n_out x n_in x per_weight``) fits in memory."""
    n_in = check_int(names[0], n_in, min_value=1)
    n_out = check_int(names[1], n_out, min_value=1)
    item = torch.empty((), dtype=dtype if dtype is not None else torch.get_default_dtype()).element_size()
    check_memory(f"{names[0]} x {names[1]}", n_in * n_out * per_weight, item, "the weight")
    return n_in, n_out


class _ProjLinearFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, x_grad, Q, C, mode, M):
        ctx.save_for_backward(weight, x_grad, Q, C, M)
        ctx.has_bias = bias is not None
        ctx.mode = mode
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        weight, x_grad, Q, C, M = ctx.saved_tensors
        grad_out, x_grad = grad_out.to(weight.dtype), x_grad.to(weight.dtype)  # autocast: low-precision forward
        n = weight.shape[1]
        d2 = grad_out.reshape(-1, grad_out.shape[-1])
        gx = grad_out @ weight if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            xg = x_grad.reshape(-1, n)
            # grad_map M (commutes with the projection): on the inputs or on the gradient, whichever is smaller
            pre = M.shape[0] > 0 and xg.shape[0] < d2.shape[1]
            if pre:
                xg = xg @ M
            gw = projected_weight_grad(d2, xg, Q, ctx.mode, C if C.shape[0] else None)
            if M.shape[0] > 0 and not pre:
                gw = gw @ M
        gb = d2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb, None, None, None, None, None


class _ProjMixin:
    """Shared state: ``proj_basis`` buffer (r x n), ``projection`` flag, optional Hebbian subspace."""

    def _init_proj(self, n: int, mode: str):
        self.proj_mode = check_choice("mode", mode, MODES)
        self.projection = False
        self.record_input = False
        self._recorded = None
        self.hebbian = None
        self.grad_map = None  # optional n x n matrix M commuting with the projection: grad_W <- grad_W M
        self.register_buffer("proj_basis", torch.zeros((0, n), dtype=self.weight.dtype))

    @property
    def proj_features(self) -> int:
        """Dimension n of the presynaptic vectors (in_features, or C_in·kh·kw for conv)."""
        return int(self.proj_basis.shape[1])

    def set_basis(self, Q: torch.Tensor) -> None:
        """Protect span(Q): ``Q`` must have orthonormal rows (``r x n``)."""
        if Q.ndim != 2 or Q.shape[1] != self.proj_features:
            raise ValueError(f"basis must have shape (r, {self.proj_features}), got {tuple(Q.shape)}")
        if Q.shape[0] > self.proj_features:
            raise ValueError(f"basis has {Q.shape[0]} rows, more than the input dimension {self.proj_features}")
        self.proj_basis = Q.detach().to(device=self.weight.device, dtype=self.weight.dtype).contiguous()

    def attach_hebbian(self, params=None, backend: str = "auto"):
        """Give this layer lateral Hebbian subspace neurons (a child ``HebbianSubspace``)."""
        from neurosim.continual.hebbian import HebbianSubspace

        self.hebbian = HebbianSubspace(self.proj_features, params, backend=backend).to(self.weight.device)
        return self.hebbian

    def pop_recorded(self):
        """The presynaptic activity recorded in the last forward (rows x n), then forgotten."""
        x, self._recorded = self._recorded, None
        return x

    def _active_basis(self):
        return self.proj_basis if (self.projection and self.proj_basis.shape[0] > 0) else None

    def _complement(self) -> torch.Tensor:
        """Orthonormal basis of the complement of ``proj_basis`` when that is smaller (else ``[0, n]``).

        Cached per basis tensor (recomputed after ``set_basis``, ``load_state_dict`` or an in-place change).
        """
        Q = self.proj_basis
        cache = getattr(self, "_comp_cache", None)  # (basis tensor, its version, complement)
        if cache is None or cache[0] is not Q or cache[1] != Q._version:
            r, n = Q.shape
            C = orthogonal_complement(Q) if 0 < r and n - r < r else Q[:0]
            cache = (Q, Q._version, C)
            self._comp_cache = cache
        return cache[2]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "proj_basis"
        if key in state_dict and state_dict[key].shape != self.proj_basis.shape:
            self.proj_basis = torch.empty_like(state_dict[key], device=self.weight.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ProjLinear(_ProjMixin, nn.Linear):
    """``nn.Linear`` with orthogonally projected weight gradients (HLOP / GPM).

    Parameters
    ----------
    in_features, out_features, bias : as ``nn.Linear``.
    mode : {"auto", "input", "grad"}, route of the projection (all equal; ``auto`` = cheapest).

    Attributes
    ----------
    projection : bool
        Project when True and ``proj_basis`` is non-empty (HLOP: from the second task on).
    record_input : bool
        Keep the (detached) presynaptic activity of the last forward for a Hebbian update.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, mode: str = "auto",
                 device=None, dtype=None):
        in_features, out_features = _check_sizes(("in_features", "out_features"), in_features, out_features, 1, dtype)
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._init_proj(in_features, mode)

    def forward(self, x: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x, self.weight)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have in_features={self.in_features} values in its last axis ([..., "
                             f"{self.in_features}]), got shape {tuple(x.shape)}")
        if trace is not None:
            _check_input(trace, self.weight, "trace")
            if trace.shape != x.shape:
                raise ValueError(f"trace must have the shape of x {tuple(x.shape)}, got {tuple(trace.shape)}")
        x_grad = x if trace is None else trace
        if self.record_input:
            self._recorded = x_grad.detach().reshape(-1, self.in_features)
        Q = self._active_basis()
        M = self.grad_map
        if Q is None and trace is None and M is None:
            return F.linear(x, self.weight, self.bias)
        if Q is None:
            Q = C = self.proj_basis[:0]
        else:
            C = self._complement()
        M = self.proj_basis[:0, :0] if M is None else M
        return _ProjLinearFn.apply(x, self.weight, self.bias, x_grad.detach(), Q, C, self.proj_mode, M)


class _ProjConvFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, x_grad, Q, conf):
        stride, padding, dilation, groups, mode = conf
        ctx.save_for_backward(x, weight, x_grad, Q)
        ctx.conf = conf
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, x_grad, Q = ctx.saved_tensors
        grad_out, x_grad = grad_out.to(weight.dtype), x_grad.to(weight.dtype)  # autocast: low-precision forward
        stride, padding, dilation, groups, mode = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = torch.nn.grad.conv2d_input(x.shape, weight, grad_out, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:
            C_out = weight.shape[0]
            B = grad_out.shape[0]
            rows = B * grad_out.shape[2] * grad_out.shape[3]
            if mode == "input" or (mode == "auto" and rows < C_out):
                # project the unfolded patches: cols [B, n, L] -> rows [B*L, n]
                cols = F.unfold(x_grad, weight.shape[2:], dilation=dilation, padding=padding, stride=stride)
                n = cols.shape[1]
                xr = project_rows(cols.transpose(1, 2).reshape(-1, n), Q)
                d = grad_out.reshape(B, C_out, -1).transpose(1, 2).reshape(-1, C_out)
                gw = (d.T @ xr).reshape(weight.shape)
            else:
                g = torch.nn.grad.conv2d_weight(x_grad, weight.shape, grad_out, stride, padding, dilation, groups)
                g2 = g.reshape(C_out, -1)
                gw = (g2 - (g2 @ Q.T) @ Q).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad_out.sum((0, 2, 3))
        return gx, gw, gb, None, None, None


class ProjConv2d(_ProjMixin, nn.Conv2d):
    """``nn.Conv2d`` (groups = 1, zero padding) whose weight gradient uses projected patches.

    Inputs ``[B, C, H, W]`` or ``[T, B, C, H, W]`` (time folded into the batch). The protected
    subspace lives in the unfolded patch space of dimension ``C_in·kh·kw``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 bias: bool = True, *, mode: str = "auto", device=None, dtype=None):
        ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        per = 1
        for k in ks:
            per *= check_int("kernel_size", k, min_value=1)
        in_channels, out_channels = _check_sizes(("in_channels", "out_channels"), in_channels, out_channels, per,
                                                 dtype)
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=1, bias=bias, device=device, dtype=dtype)
        if isinstance(self.padding, str):
            raise ValueError("padding must be an int or a tuple for ProjConv2d (string padding is not supported)")
        kh, kw = self.kernel_size
        self._init_proj(in_channels * kh * kw, mode)

    def unfold_rows(self, x: torch.Tensor) -> torch.Tensor:
        """Unfolded patches of ``x`` as rows ``[B·L, C_in·kh·kw]`` (the Hebbian input)."""
        cols = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])

    def forward(self, x: torch.Tensor, trace: torch.Tensor | None = None) -> torch.Tensor:
        _check_input(x, self.weight)
        if x.ndim not in (4, 5) or x.shape[-3] != self.in_channels:
            raise ValueError(f"x must be [B, C, H, W] or [T, B, C, H, W] with C = in_channels = {self.in_channels}, "
                             f"got shape {tuple(x.shape)}")
        if trace is not None:
            _check_input(trace, self.weight, "trace")
            if trace.shape != x.shape:
                raise ValueError(f"trace must have the shape of x {tuple(x.shape)}, got {tuple(trace.shape)}")
        lead = None
        if x.ndim == 5:
            lead = x.shape[:2]
            x = x.flatten(0, 1)
            trace = None if trace is None else trace.flatten(0, 1)
        x_grad = x if trace is None else trace
        if self.record_input:
            self._recorded = self.unfold_rows(x_grad.detach())
        Q = self._active_basis()
        if Q is None and trace is None:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)
        else:
            Q = self.proj_basis[:0] if Q is None else Q
            conf = (self.stride, self.padding, self.dilation, self.groups, self.proj_mode)
            y = _ProjConvFn.apply(x, self.weight, self.bias, x_grad.detach(), Q, conf)
        return y if lead is None else y.reshape(*lead, *y.shape[1:])
