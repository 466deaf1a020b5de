"""Lateral Hebbian subspace neurons (the "HL" of HLOP).

A protected layer with presynaptic dimension ``n`` owns ``K`` lateral subspace neurons with
weights ``H`` (``K x n``). On a batch of presynaptic activity ``X`` (``B x n``) the rule is
Oja's subspace rule in batch form (Xiao et al., ICLR 2024; ALGORITHMS.md §2.1)::

    Y  = X Hᵀ,   X̂ = Y H,   ΔH = clip(Yᵀ (X − X̂) / B, −10, 10)
    M  = 0.9 M + 0.1 ΔH,     H = H + η M                (5 iterations per batch)

Its fixed points span the principal subspace of ``E[x xᵀ]`` with (near) orthonormal rows.
Rows of consolidated tasks are frozen (never updated); each new task appends ``k`` new rows
initialised orthogonally from an explicit generator. Spiking lateral neurons quantise ``y``
as ``round(clip(y, −s, s)/s · T_h)/T_h · s`` (s = 20, T_h = 1000).

``H``, its momentum and the frozen mask are buffers (``register_buffer``): they follow
``.to()``/``state_dict`` but are never seen by an optimizer, so growing them never re-creates
a ``Parameter``. The frozen rows are always a prefix (tasks are consolidated in order).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from neurosim._rng import torch_generator
from neurosim._validation import check_choice, check_int, check_number, check_positive

__all__ = ["HebbianParams", "HebbianSubspace", "hebbian_update", "orthonormal_basis", "principal_angles", "quantise"]

BACKENDS = ("auto", "numba", "torch")


@dataclass(frozen=True)
class HebbianParams:
    """Parameters of the lateral subspace rule (dimensionless).

    Attributes
    ----------
    eta : learning rate η (0.01 default; 0.001 for the 784-d PMNIST input layer).
    iterations : Hebbian iterations per training batch (5).
    clamp : bound c of the element-wise clip of ΔH (10).
    momentum : β of the momentum buffer (0.9).
    spiking : quantise the lateral responses (spiking lateral neurons).
    spiking_scale : s, the clip range of y (20).
    spiking_steps : T_h, the number of quantisation levels per unit of s (1000; 40 in a README example).
    """

    eta: float = 0.01
    iterations: int = 5
    clamp: float = 10.0
    momentum: float = 0.9
    spiking: bool = False
    spiking_scale: float = 20.0
    spiking_steps: float = 1000.0

    def __post_init__(self):
        check_positive("eta", self.eta)  # eta = 0 or iterations = 0 would learn nothing, silently
        check_int("iterations", self.iterations, min_value=1)
        check_positive("clamp", self.clamp)
        m = check_number("momentum", self.momentum)
        if not 0.0 <= m < 1.0:
            raise ValueError(f"momentum must lie in [0, 1), got {self.momentum}")
        if not isinstance(self.spiking, bool):
            raise TypeError(f"spiking must be a bool, got {type(self.spiking).__name__}")
        check_positive("spiking_scale", self.spiking_scale)
        check_positive("spiking_steps", self.spiking_steps)

    @property
    def quant_steps(self) -> float:
        """``T_h`` when spiking, else 0 (no quantisation)."""
        return float(self.spiking_steps) if self.spiking else 0.0


def quantise(y: torch.Tensor, scale: float, steps: float) -> torch.Tensor:
    """Spiking lateral-neuron response ``round(clip(y, −s, s)/s · T_h)/T_h · s`` (identity if steps == 0)."""
    if steps <= 0:
        return y
    return torch.round(y.clamp(-scale, scale) / scale * steps) / steps * scale


def hebbian_update(H: torch.Tensor, M: torch.Tensor, X: torch.Tensor, n_frozen: int, params: HebbianParams) -> None:
    """Torch implementation of the rule, in place on ``H[n_frozen:]`` and ``M[n_frozen:]``.

    Same algebra as ``neurosim.kernels.plasticity.hebbian_integrate`` (frozen responses once
    per batch, ``ΔH = YᵀX − (YᵀY_f) H_f − (YᵀY) H_u``); used on GPUs and as the ``"torch"`` backend.
    """
    B = X.shape[0]
    if B == 0 or H.shape[0] == n_frozen:
        return
    s, q = float(params.spiking_scale), params.quant_steps
    Hf = H[:n_frozen]
    Yf = quantise(X @ Hf.T, s, q) if n_frozen > 0 else None
    Hu, Mu = H[n_frozen:], M[n_frozen:]
    beta = float(params.momentum)
    for _ in range(params.iterations):
        Y = quantise(X @ Hu.T, s, q)
        D = Y.T @ X - (Y.T @ Y) @ Hu
        if Yf is not None:
            D -= (Y.T @ Yf) @ Hf
        D.div_(B).clamp_(-params.clamp, params.clamp)
        Mu.mul_(beta).add_(D, alpha=1.0 - beta)
        Hu.add_(Mu, alpha=float(params.eta))


def orthonormal_basis(H: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """Orthonormal rows spanning the row space of ``H`` (``r x n``, ``r <= rank``).

    Hebbian rows drift from orthonormality (max ``|HHᵀ − I|`` up to ~0.2 on 800-d inputs), so
    ``x − Hᵀ H x`` is not a projection; this SVD-based basis makes it one. Directions with
    singular value below ``rtol · σ_max`` are dropped. Computed in float64.
    """
    if H.shape[0] == 0:
        return H.new_zeros((0, H.shape[1]))
    _, S, Vh = torch.linalg.svd(H.double(), full_matrices=False)
    keep = S > rtol * S.max().clamp_min(1e-300)
    return Vh[keep].to(H.dtype).contiguous()


class HebbianSubspace(nn.Module):
    """Lateral subspace neurons of one layer: buffers ``weight`` (K x n), ``momentum``, ``frozen``.

    Parameters
    ----------
    in_features : n, the presynaptic dimension (linear: in_features; conv: C_in·kh·kw).
    params : HebbianParams
    backend : {"auto", "numba", "torch"}
        ``"auto"`` uses the Numba kernel for CPU float tensors, torch otherwise.
    dtype : torch dtype of the buffers (float32 default).
    """

    def __init__(self, in_features: int, params: HebbianParams | None = None, *, backend: str = "auto",
                 dtype=torch.float32):
        super().__init__()
        self.in_features = check_int("in_features", in_features, min_value=1)
        self.params = params if params is not None else HebbianParams()
        if not isinstance(self.params, HebbianParams):
            raise TypeError(f"params must be a HebbianParams, got {type(self.params).__name__}")
        self.backend = check_choice("backend", backend, BACKENDS)
        self.register_buffer("weight", torch.zeros((0, in_features), dtype=dtype))
        self.register_buffer("momentum", torch.zeros((0, in_features), dtype=dtype))
        self.register_buffer("frozen", torch.zeros((0,), dtype=torch.bool))
        self.register_buffer("basis", torch.zeros((0, in_features), dtype=dtype))

    # ------------------------------------------------------------------ sizes
    @property
    def n_neurons(self) -> int:
        """K, the total number of subspace neurons."""
        return int(self.weight.shape[0])

    @property
    def n_frozen(self) -> int:
        """Number of frozen (consolidated) rows, a prefix of ``weight``."""
        return int(self.frozen.sum().item())

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, neurons={self.n_neurons}, frozen={self.n_frozen}"

    # ------------------------------------------------------------------ growth
    def add_neurons(self, k: int, rng=None) -> None:
        """Append ``k`` rows initialised with ``torch.nn.init.orthogonal_`` from generator ``rng``.

        Raises ``ValueError`` if the total would exceed the input dimension (a subspace of
        ``R^n`` has at most ``n`` orthonormal directions).
        """
        k = check_int("k", k, min_value=0)
        if k == 0:
            return
        total = self.n_neurons + k
        if total > self.in_features:
            raise ValueError(f"subspace size {total} (k={k} new + {self.n_neurons} existing) exceeds the input "
                             f"dimension {self.in_features}; use fewer subspace neurons")
        gen = torch_generator(rng)
        new = torch.empty((k, self.in_features), dtype=torch.float64)
        nn.init.orthogonal_(new, generator=gen)
        dev, dt = self.weight.device, self.weight.dtype
        # buffers are replaced (not Parameters): optimizers are unaffected by growth
        self.weight = torch.cat([self.weight, new.to(device=dev, dtype=dt)]).contiguous()
        self.momentum = torch.cat([self.momentum, torch.zeros((k, self.in_features), dtype=dt, device=dev)])
        self.frozen = torch.cat([self.frozen, torch.zeros(k, dtype=torch.bool, device=dev)])

    def consolidate(self, rtol: float = 1e-6, *, orthonormal_rows: bool = False) -> None:
        """Freeze every row (merge all subspaces into one) and refresh the orthonormal ``basis``.

        ``orthonormal_rows=True`` also replaces the frozen rows by that basis (same span): the
        later tasks' Hebbian reconstruction ``Y_f H_f`` is then the exact projection onto the
        frozen subspace, so the new rows learn the principal subspace of what it misses (a
        deflation), instead of compensating the drifted, non-orthonormal old rows. The literal
        rule (``False``, the HLOP code) keeps the drifted rows.
        """
        self.frozen.fill_(True)
        self.basis = orthonormal_basis(self.weight, rtol)
        if orthonormal_rows:
            r = self.basis.shape[0]
            self.weight = self.basis.clone()
            self.momentum = torch.zeros_like(self.weight)
            self.frozen = torch.ones(r, dtype=torch.bool, device=self.weight.device)

    # ------------------------------------------------------------------ learning
    def _use_numba(self) -> bool:
        if self.backend == "torch":
            return False
        ok = self.weight.device.type == "cpu" and self.weight.dtype in (torch.float32, torch.float64)
        if self.backend == "numba" and not ok:
            raise ValueError("backend='numba' needs CPU float32/float64 buffers; use backend='auto' or 'torch'")
        return ok

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """Hebbian update of the free rows on activity ``x`` (``[..., n]``, flattened to rows)."""
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x has {x.shape[-1]} features, expected in_features={self.in_features}")
        X = x.detach().reshape(-1, self.in_features).to(self.weight.dtype)
        nf = self.n_frozen
        if self.n_neurons == nf or X.shape[0] == 0:
            return
        p = self.params
        if self._use_numba():
            from neurosim.kernels.plasticity import hebbian_subspace_update

            hebbian_subspace_update(self.weight.numpy(), self.momentum.numpy(), X.contiguous().numpy(), nf,
                                    eta=p.eta, clamp=p.clamp, momentum=p.momentum, iterations=p.iterations,
                                    quant_scale=p.spiking_scale, quant_steps=p.quant_steps)
        else:
            hebbian_update(self.weight, self.momentum, X, nf, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Lateral responses ``y = H x`` (quantised for spiking lateral neurons)."""
        return quantise(x @ self.weight.T, float(self.params.spiking_scale), self.params.quant_steps)

    # ------------------------------------------------------------------ projection
    def project_out(self, x: torch.Tensor) -> torch.Tensor:
        """``x − Qᵀ Q x`` with ``Q`` the orthonormal basis of the frozen subspace."""
        Q = self.basis
        if Q.shape[0] == 0:
            return x
        return x - (x @ Q.T) @ Q

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # buffers may have grown: adopt the stored shapes before the copy
        for name in ("weight", "momentum", "frozen", "basis"):
            key = prefix + name
            if key in state_dict and state_dict[key].shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(state_dict[key], device=getattr(self, name).device))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def principal_angles(A, B) -> np.ndarray:
    """Principal angles (radians, ascending) between the row spaces of ``A`` and ``B``."""
    qa = np.linalg.qr(np.asarray(A, dtype=np.float64).T)[0]
    qb = np.linalg.qr(np.asarray(B, dtype=np.float64).T)[0]
    s = np.linalg.svd(qa.T @ qb, compute_uv=False)
    return np.arccos(np.clip(s, -1.0, 1.0))
