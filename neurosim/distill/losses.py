r"""Knowledge-distillation losses for training spiking students with ANN teachers.

Notation: student logits :math:`z_s`, teacher logits :math:`z_t` ([B, K]), temperature
:math:`T`, targets :math:`y` (class indices or a soft target [B, K]).

Logits KD (Hinton et al. 2015), :func:`kd_loss`::

    L_KD = T^2 * (1/B) sum_i KL( softmax(z_t,i / T) || softmax(z_s,i / T) )

WSLD, weighted soft-label distillation (BKDSNN ``get_logits_loss``; spec §3.2),
:func:`wsld_loss`::

    p_t = softmax(z_t / T);   L_soft,i = - sum_k p_t,ik log softmax(z_s,i / T)_k
    CE_s,i = - sum_k y_ik log softmax(z_s,i)_k      (z_s detached: no gradient through the weight)
    CE_t,i = - sum_k y_ik log softmax(z_t,i)_k
    w_i = 1 - exp(-max(0, CE_s,i / (CE_t,i + 1e-7)))
    L_WSLD = T^2 * (1/B) sum_i w_i L_soft,i                       (T = 2 by default)

Feature KD (KDSNN-style "plain MSE"), :class:`FeatureKD`::

    L_F = beta * mean( (A(F_S) - F_T)^2 )      A = 1x1 conv C_S -> C_T if C_S != C_T, else identity

Blurred KD (BKDSNN ``BRDLoss``; spec §3.1), :class:`BlurredKD`::

    F_S <- mean_t F_S[t]                 (time average when F_S has a leading time axis)
    F_S <- A(F_S)                        (1x1 alignment conv when channels differ)
    M[b, c] = 0 if U(0,1) < lambda else 1      (per sample, per channel; from a torch.Generator)
    F_hat = G(F_S * M),   G = Conv3x3(C_T, C_T) -> ReLU -> Conv3x3(C_T, C_T)   (padding 1, bias)
    L_BKD = alpha * sum((F_hat - F_T)^2) / B        (lambda = 0.15, alpha = 2e-3 by default)

Vector features [B, D] are treated as [B, D, 1, 1] (a 3x3 conv with padding 1 then acts as
its centre tap, i.e. a linear map).

Combined objective (spec §3.3), :class:`DistillObjective`::

    L = L_CE + L_BKD + distill_weight * L_WSLD          (distill_weight = 1)

The alignment conv and the restoration block G are ``nn.Module`` parameters of the loss; the
optimizer must include them (``Trainer`` does) so that they train jointly with the student.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from neurosim._validation import check_int, check_memory, check_nonnegative, check_positive, check_probability

__all__ = [
    "kd_loss", "wsld_weights", "wsld_loss", "soft_cross_entropy", "blur_mask",
    "FeatureAlign", "RestorationBlock", "FeatureKD", "BlurredKD", "DistillObjective", "KD_RECIPES",
    "make_objective",
]

#: names accepted by :func:`make_objective` (and ``neurosim distill --kd``)
KD_RECIPES = ("none", "kd", "wsld", "feature", "bkd", "bkd+wsld")


def _check_logits(name, z, like=None):
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{name} must be a floating torch.Tensor [B, K], got {type(z).__name__}")
    if not torch.is_floating_point(z):
        raise TypeError(f"{name} must be a floating torch.Tensor [B, K], got dtype {z.dtype}; convert it with "
                        f"{name}.float()")
    if z.dim() != 2:
        raise ValueError(f"{name} must have shape [B, K], got {tuple(z.shape)}")
    if z.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(z.shape)}); it needs at least one sample and one class")
    if like is not None and z.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(z.shape)} but student_logits has {tuple(like.shape)}; "
                         "teacher and student must predict the same number of classes")
    if not bool(torch.isfinite(z.detach()).all()):
        bad = int((~torch.isfinite(z.detach())).sum())
        raise ValueError(f"{name} contains {bad} NaN/inf value(s); the loss would be NaN. Find where they arise "
                         "(a diverged model, an overflow in float16) before the loss")


def _scaled(name: str, z: torch.Tensor, temperature: float) -> torch.Tensor:
    """``z / temperature``, which must stay finite (a tiny temperature overflows the logits' dtype)."""
    out = z / temperature
    if not bool(torch.isfinite(out.detach()).all()):
        raise ValueError(f"temperature={temperature:g} is too small: {name} / temperature overflows {z.dtype}; "
                         "use a temperature of order 1-20")
    return out


def _check_temperature(temperature) -> float:
    """``temperature``: finite, > 0, and small enough that the ``T^2`` loss scale is finite."""
    t = check_positive("temperature", temperature)
    if not math.isfinite(t * t):
        raise ValueError(f"temperature={t:g} is too large: the loss is scaled by temperature^2, which overflows; "
                         "use a temperature of order 1-20")
    return t


_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _check_target(target, logits: torch.Tensor, name: str = "target", logits_name: str = "logits") -> bool:
    """Validate class labels ``[B]`` (integers in ``[0, K)``) or a soft target ``[B, K]`` for ``logits``
    ``[B, K]``; returns ``True`` for labels."""
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (class labels [B] or a soft target [B, K]), "
                        f"got {type(target).__name__}")
    b, k = logits.shape
    if target.dtype in _INDEX_DTYPES:
        if tuple(target.shape) != (b,):
            raise ValueError(f"{name} (class labels) must have shape [B] = ({b},) to match {logits_name} of shape "
                             f"{tuple(logits.shape)}, got {tuple(target.shape)}")
        if target.numel():
            lo, hi = int(target.min()), int(target.max())
            if lo < 0 or hi >= k:
                bad = target[(target < 0) | (target >= k)]
                raise ValueError(f"{name} holds class labels outside [0, {k - 1}] ({logits_name} has K = {k} "
                                 f"classes): {bad[:5].tolist()}{' ...' if bad.numel() > 5 else ''}; labels must be "
                                 "class indices 0..K-1")
        return True
    if not target.is_floating_point():
        raise TypeError(f"{name} must be integer class labels [B] or a floating soft target [B, K], "
                        f"got dtype {target.dtype}")
    if tuple(target.shape) != (b, k):
        raise ValueError(f"{name} (a soft target, dtype {target.dtype}) must have the shape of {logits_name}, "
                         f"{(b, k)}, got {tuple(target.shape)}; pass integer class labels [B] as a long tensor")
    if not bool(torch.isfinite(target).all()):
        raise ValueError(f"{name} (a soft target) contains NaN/inf values")
    return False


def _soft_ce(logits: torch.Tensor, target: torch.Tensor, labels: bool) -> torch.Tensor:
    logp = F.log_softmax(logits, dim=-1)
    if labels:
        return -logp.gather(1, target.long().unsqueeze(1)).squeeze(1)
    return -(target * logp).sum(-1)


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy ``-sum_k y_k log softmax(z)_k`` for index or soft targets; shape [B]."""
    _check_logits("logits", logits)
    return _soft_ce(logits, target, _check_target(target, logits))


def _kd(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    log_ps = F.log_softmax(_scaled("student_logits", student_logits, temperature), dim=-1)
    log_pt = F.log_softmax(_scaled("teacher_logits", teacher_logits.detach(), temperature), dim=-1)
    kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)
    return temperature * temperature * kl.mean()


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """Hinton logits distillation: ``T^2 * mean_i KL(p_t,i || p_s,i)`` at temperature ``T``.

    The teacher logits are detached.
    """
    temperature = _check_temperature(temperature)
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits, student_logits)
    return _kd(student_logits, teacher_logits, temperature)


def _wsld_weights(student_logits, teacher_logits, target, labels: bool, eps: float = 1e-7) -> torch.Tensor:
    with torch.no_grad():
        ce_s = _soft_ce(student_logits.detach(), target, labels)
        ce_t = _soft_ce(teacher_logits.detach(), target, labels)
        return 1.0 - torch.exp(-torch.clamp(ce_s / (ce_t + eps), min=0.0))


def wsld_weights(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
                 eps: float = 1e-7) -> torch.Tensor:
    """Per-sample WSLD weights ``w_i = 1 - exp(-max(0, CE_s,i / (CE_t,i + eps)))`` (no gradient)."""
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits, student_logits)
    return _wsld_weights(student_logits, teacher_logits, target, _check_target(target, student_logits), eps)


def _wsld(student_logits, teacher_logits, target, labels: bool, temperature: float) -> torch.Tensor:
    pt = F.softmax(_scaled("teacher_logits", teacher_logits.detach(), temperature), dim=-1)
    soft = -(pt * F.log_softmax(_scaled("student_logits", student_logits, temperature), dim=-1)).sum(-1)
    w = _wsld_weights(student_logits, teacher_logits, target, labels)
    return temperature * temperature * (w * soft).mean()


def wsld_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
              temperature: float = 2.0) -> torch.Tensor:
    """Weighted soft-label distillation (BKDSNN §3.2): ``T^2 * mean_i w_i * L_soft,i``."""
    temperature = _check_temperature(temperature)
    _check_logits("student_logits", student_logits)
    _check_logits("teacher_logits", teacher_logits, student_logits)
    labels = _check_target(target, student_logits, logits_name="student_logits")
    return _wsld(student_logits, teacher_logits, target, labels, temperature)


def blur_mask(batch: int, channels: int, lam: float, generator: Optional[torch.Generator] = None, *,
              rows: Optional[slice] = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Bernoulli channel mask ``M[b, c] = 0 if U < lam else 1``, shape [batch, channels].

    ``rows`` keeps only a slice of the rows after drawing all ``batch`` of them (distributed
    training draws the global batch's mask on every rank and keeps its own rows, so the result
    is independent of the number of processes).
    """
    batch = check_int("batch", batch, min_value=1)
    channels = check_int("channels", channels, min_value=1)
    lam = check_probability("lam", lam)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    per_item = 5 + torch.empty((), dtype=dtype).element_size()  # float32 draws, bool compare, the mask
    check_memory("batch * channels", batch * channels, per_item, "the mask")
    u = torch.rand(batch, channels, generator=generator, device="cpu" if generator is None else generator.device)
    m = (u >= lam).to(dtype)
    if rows is not None:
        m = m[rows]
    return m.to(device) if device is not None else m


def _as_map(f: torch.Tensor) -> torch.Tensor:
    return f[:, :, None, None] if f.dim() == 2 else f


class FeatureAlign(nn.Module):
    """Identity when ``in_channels == out_channels``, else a learned 1x1 conv (bias) to ``out_channels``.

    Works on [B, C, H, W] and on vectors [B, C].
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, min_value=1)
        self.out_channels = check_int("out_channels", out_channels, min_value=1)
        self.conv = None if in_channels == out_channels else nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if f.shape[1] != self.in_channels:
            raise ValueError(f"student feature has {f.shape[1]} channels but the alignment expects "
                             f"in_channels={self.in_channels}")
        if self.conv is None:
            return f
        out = self.conv(_as_map(f))
        return out.flatten(1) if f.dim() == 2 else out


class RestorationBlock(nn.Module):
    """BKDSNN generation block ``G = Conv3x3 -> ReLU -> Conv3x3`` (C -> C, padding 1, bias)."""

    def __init__(self, channels: int):
        super().__init__()
        channels = check_int("channels", channels, min_value=1)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(_as_map(f))))
        return out.flatten(1) if f.dim() == 2 else out


def _time_average(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    """Average a student feature [T, B, ...] over time when it has one more axis than the teacher's."""
    if f_s.dim() == f_t.dim() + 1:
        return f_s.mean(0)
    if f_s.dim() != f_t.dim():
        raise ValueError(f"student feature shape {tuple(f_s.shape)} does not match teacher feature shape "
                         f"{tuple(f_t.shape)} (allowed: the same rank, or one extra leading time axis)")
    return f_s


def _check_spatial(f_s, f_t):
    if f_s.shape[0] != f_t.shape[0] or f_s.shape[2:] != f_t.shape[2:]:
        raise ValueError(f"student feature {tuple(f_s.shape)} and teacher feature {tuple(f_t.shape)} differ in "
                         "batch or spatial size; pick layers with the same spatial resolution")


class FeatureKD(nn.Module):
    """Plain feature distillation: ``beta * mean((A(mean_t F_S) - F_T)^2)``."""

    def __init__(self, student_channels: int, teacher_channels: int, beta: float = 1.0):
        super().__init__()
        self.beta = check_nonnegative("beta", beta)
        self.align = FeatureAlign(student_channels, teacher_channels)

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, **_) -> torch.Tensor:
        f_s = self.align(_time_average(f_s, f_t))
        _check_spatial(f_s, f_t)
        return self.beta * F.mse_loss(f_s, f_t.detach())


class BlurredKD(nn.Module):
    """Blurred knowledge distillation (BKDSNN ``BRDLoss``; module docstring for the equations).

    Parameters
    ----------
    student_channels, teacher_channels : int
        Channels (or vector size) of the student and teacher features.
    lam : float
        Probability that a channel of a sample is masked (spec default 0.15).
    alpha : float
        Loss weight (spec default 2e-3).
    restoration : nn.Module, optional
        Replaces the default :class:`RestorationBlock` (e.g. ``nn.Identity()`` in tests).
    """

    def __init__(self, student_channels: int, teacher_channels: int, lam: float = 0.15, alpha: float = 2e-3,
                 restoration: Optional[nn.Module] = None):
        super().__init__()
        self.lam = check_probability("lam", lam)
        self.alpha = check_nonnegative("alpha", alpha)
        self.align = FeatureAlign(student_channels, teacher_channels)
        self.restore = RestorationBlock(teacher_channels) if restoration is None else restoration

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, *, generator: Optional[torch.Generator] = None,
                rows: Optional[slice] = None, total: Optional[int] = None, norm: Optional[int] = None) -> torch.Tensor:
        """Loss for one batch.

        ``rows``/``total``: this process holds rows ``rows`` of a global batch of ``total``
        samples (the mask is drawn for all ``total`` rows). ``norm`` replaces the divisor ``B``.
        """
        f_s = self.align(_time_average(f_s, f_t))
        _check_spatial(f_s, f_t)
        b, c = f_s.shape[:2]
        mask = blur_mask(total if total is not None else b, c, self.lam, generator, rows=rows,
                         device=f_s.device, dtype=f_s.dtype)
        if mask.shape[0] != b:
            raise ValueError(f"rows {rows} of total {total} select {mask.shape[0]} mask rows for a batch of {b}")
        blurred = f_s * mask.reshape(b, c, *([1] * (f_s.dim() - 2)))
        f_hat = self.restore(blurred)
        return self.alpha * ((f_hat - f_t.detach()) ** 2).sum() / (b if norm is None else norm)


class DistillObjective(nn.Module):
    """``CE + [kd | wsld] + [feature | bkd]`` with the weights of each term.

    Parameters
    ----------
    logits : {None, "kd", "wsld"}
        Logits distillation term (weighted by ``distill_weight``).
    features : FeatureKD or BlurredKD, optional
        Feature term (its own ``beta``/``alpha`` weight).
    feature_layers : (student_layer, teacher_layer), optional
        Module names whose outputs the feature term compares; required with ``features``.
    temperature : float, optional
        KD/WSLD temperature (default 4 for KD, 2 for WSLD as in BKDSNN).
    label_smoothing : float
        Of the CE term (0 by default; the BKDSNN ImageNet recipes use 0.1).
    """

    def __init__(self, logits: Optional[str] = None, features: Optional[nn.Module] = None,
                 feature_layers: Optional[tuple[str, str]] = None, *, temperature: Optional[float] = None,
                 distill_weight: float = 1.0, ce_weight: float = 1.0, label_smoothing: float = 0.0):
        super().__init__()
        if logits not in (None, "kd", "wsld"):
            raise ValueError(f"logits must be None, 'kd' or 'wsld', got {logits!r}")
        if (features is None) != (feature_layers is None):
            raise ValueError("feature_layers (student_layer, teacher_layer) must be given exactly when features is")
        self.logits = logits
        self.features = features
        self.feature_layers = tuple(feature_layers) if feature_layers is not None else None
        default_t = 4.0 if logits == "kd" else 2.0
        self.temperature = _check_temperature(default_t if temperature is None else temperature)
        self.distill_weight = check_nonnegative("distill_weight", distill_weight)
        self.ce_weight = check_nonnegative("ce_weight", ce_weight)
        self.label_smoothing = check_probability("label_smoothing", label_smoothing)

    @property
    def needs_teacher(self) -> bool:
        return self.logits is not None or self.features is not None

    def forward(self, student_logits, target, teacher_logits=None, student_feature=None, teacher_feature=None, *,
                generator=None, rows=None, total=None):
        """Return ``(loss, parts)``; ``parts`` maps term names to detached float tensors."""
        # inputs checked once here; the loss bodies below run unchecked
        _check_logits("student_logits", student_logits)
        labels = _check_target(target, student_logits, logits_name="student_logits")
        parts = {}
        if not labels:
            ce = _soft_ce(student_logits, target, False).mean()
        else:
            ce = F.cross_entropy(student_logits, target, label_smoothing=self.label_smoothing)
        parts["ce"] = ce.detach()
        loss = self.ce_weight * ce
        if self.logits is not None:
            if teacher_logits is None:
                raise ValueError(f"the {self.logits!r} term needs teacher_logits")
            _check_logits("teacher_logits", teacher_logits, student_logits)
            if self.logits == "kd":
                lk = _kd(student_logits, teacher_logits, self.temperature)
            else:
                lk = _wsld(student_logits, teacher_logits, target, labels, self.temperature)
            parts[self.logits] = lk.detach()
            loss = loss + self.distill_weight * lk
        if self.features is not None:
            if student_feature is None or teacher_feature is None:
                raise ValueError("the feature term needs student_feature and teacher_feature")
            if isinstance(self.features, BlurredKD):
                lf = self.features(student_feature, teacher_feature, generator=generator, rows=rows, total=total)
                name = "bkd"
            else:
                lf = self.features(student_feature, teacher_feature)
                name = "feature"
            parts[name] = lf.detach()
            loss = loss + lf
        return loss, parts


def make_objective(recipe: str, *, student_channels: Optional[int] = None, teacher_channels: Optional[int] = None,
                   feature_layers: Optional[tuple[str, str]] = None, lam: float = 0.15, alpha: float = 2e-3,
                   beta: float = 1.0, temperature: Optional[float] = None, label_smoothing: float = 0.0
                   ) -> DistillObjective:
    """Build the objective of a named recipe (``KD_RECIPES``).

    ``none``: CE. ``kd``: CE + Hinton KD (T = 4). ``wsld``: CE + WSLD (T = 2). ``feature``:
    CE + feature MSE (beta). ``bkd``: CE + blurred KD (lambda, alpha). ``bkd+wsld``: the BKDSNN
    objective CE + BKD + WSLD. Feature recipes need the channel counts and ``feature_layers``.
    """
    if recipe not in KD_RECIPES:
        raise ValueError(f"kd recipe must be one of {', '.join(KD_RECIPES)}; got {recipe!r}")
    logits = {"kd": "kd", "wsld": "wsld", "bkd+wsld": "wsld"}.get(recipe)
    features = None
    if recipe in ("feature", "bkd", "bkd+wsld"):
        if student_channels is None or teacher_channels is None or feature_layers is None:
            raise ValueError(f"recipe {recipe!r} needs student_channels, teacher_channels and feature_layers")
        if recipe == "feature":
            features = FeatureKD(student_channels, teacher_channels, beta=beta)
        else:
            features = BlurredKD(student_channels, teacher_channels, lam=lam, alpha=alpha)
    else:
        feature_layers = None
    return DistillObjective(logits, features, feature_layers, temperature=temperature,
                            label_smoothing=label_smoothing)

