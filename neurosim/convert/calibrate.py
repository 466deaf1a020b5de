r"""Layer scales from calibration activations: exact dataset statistics, or spikingjelly's running estimate.

For each activation node ``l`` of the ANN, the scale ``lambda_l`` estimates its largest output
(per layer, or per channel on dim 1 with ``per_channel=True``). ``mode``:

* ``"max"`` (case-insensitive): the largest activation (Diehl et al. 2015, data-based norm);
* ``"p%"``, ``0 < p <= 100``: the ``p``-th percentile (robust norm, Rueckauer et al. 2017);
* a float ``k`` in ``(0, 1]``: ``k`` times the largest activation.

``estimator="exact"`` (default) computes these over the whole calibration set: the maximum,
and the percentile **of the non-zero activations** with linear interpolation between order
statistics (``numpy.percentile(a[a != 0], p)``, as snn_toolbox does). The percentile is exact
and streamed: one pass counts; if the non-zero values of a layer fit in :data:`COLLECT_LIMIT`
they are kept and sorted, otherwise further passes histogram the values inside an interval
known to hold the two order statistics (:data:`BINS` bins with float64 edges, each value
binned by explicit comparison so counts are exact) until the interval holds few enough values
to collect (usually 3 passes over the calibration set).

``estimator="ema"`` reproduces spikingjelly 2.0's ``RateCodingRecipe`` hooks for parity: per
batch ``s_t`` = max / ``torch.quantile`` / ``k`` max over the whole post-activation tensor (zeros
included; per channel: of ``clamp(x, 0)``, clamped below at ``1e-6``), and the running value
``s = s_1``, then ``s <- (1 - m) s + m s_t`` with ``m = momentum``. It depends on batch size and
order and stays below the dataset maximum.
"""
from __future__ import annotations

import math

import torch
from torch import fx

__all__ = ["parse_mode", "iter_batches", "calibrate", "COLLECT_LIMIT", "BINS", "ESTIMATORS"]

ESTIMATORS = ("exact", "ema")
#: most values of one activation node kept in memory to sort (values + int32 group ids: 8-12 bytes each)
COLLECT_LIMIT = 1 << 22
#: histogram bins per refinement pass of the exact percentile
BINS = 4096
#: torch.quantile refuses larger inputs (pytorch issue 67592)
_QUANTILE_MAX = 1 << 24
_INPUT_KEYS = ("input", "x", "image", "images", "img", "data", "pixel_values")


def parse_mode(mode):
    """``("max", None)``, ``("percentile", q in (0, 1])`` or ``("fraction", k)``; ``ValueError`` naming ``mode``."""
    if isinstance(mode, str):
        m = mode.strip()
        if m.lower() == "max":
            return "max", None
        if m.endswith("%"):
            try:
                p = float(m[:-1])
            except ValueError:
                raise ValueError(f"mode {mode!r} is not a percentile; write e.g. mode='99.9%'") from None
            if not (0.0 < p <= 100.0) or math.isnan(p):
                raise ValueError(f"mode percentile must lie in (0, 100], got {mode!r}; e.g. mode='99.9%' "
                                 "(or mode='max')")
            return "percentile", p / 100.0
        raise ValueError(f"mode must be 'max', a percentile such as '99.9%', or a float in (0, 1]; got {mode!r}")
    if isinstance(mode, (int, float)) and not isinstance(mode, bool):
        if not (0.0 < float(mode) <= 1.0):
            raise ValueError(f"mode as a number is a fraction of the maximum and must lie in (0, 1], got {mode}")
        return "fraction", float(mode)
    raise TypeError(f"mode must be 'max', a percentile string such as '99.9%', or a float in (0, 1]; "
                    f"got {type(mode).__name__}")


def _batch_input(batch):
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch:
        return _batch_input(batch[0])
    if isinstance(batch, dict):
        for k in _INPUT_KEYS:
            if k in batch:
                return _batch_input(batch[k])
    raise TypeError(f"a calibration batch must be a tensor, a (input, target) tuple/list or a dict with one of the "
                    f"keys {', '.join(_INPUT_KEYS)}; got {type(batch).__name__}")


def iter_batches(calibration, batch_size: int = 256):
    """Re-iterable list-like view of the calibration inputs (tensors ``[B, ...]``).

    ``calibration`` is a tensor ``[N, ...]`` (split into batches of ``batch_size``), or an
    iterable of batches (a ``DataLoader``, a list; one-shot iterators are read once into a list).
    """
    if calibration is None:
        raise ValueError("calibration is required: pass a DataLoader, a list of batches or a tensor [N, ...] of "
                         "typical inputs (e.g. a few thousand training images)")
    if isinstance(calibration, torch.Tensor):
        if calibration.ndim == 0 or calibration.shape[0] == 0:
            raise ValueError(f"calibration is empty (shape {tuple(calibration.shape)}); pass at least one sample")
        return list(calibration.split(batch_size))
    try:
        it = iter(calibration)
    except TypeError:
        raise TypeError(f"calibration must be a DataLoader, an iterable of batches or a tensor, got "
                        f"{type(calibration).__name__}") from None
    if it is calibration:  # a generator / iterator: it can be read only once
        calibration = list(it)
    return calibration


class _Recorder(fx.Interpreter):
    """Run the ANN graph and hand the outputs of watched nodes to callbacks."""

    def __init__(self, gm, watch, shapes=None):
        super().__init__(gm)
        self.watch = watch
        self.shapes = shapes

    def run_node(self, n):
        out = super().run_node(n)
        if self.shapes is not None and isinstance(out, torch.Tensor):
            self.shapes[n.name] = tuple(out.shape)
        cb = self.watch.get(n.name)
        if cb is not None:
            cb(out)
        return out


def _channels(x: torch.Tensor, name: str) -> torch.Tensor:
    """``[C, rest]`` view of an activation ``[B, C, ...]``."""
    if x.ndim < 2:
        raise ValueError(f"per_channel=True needs activations [B, C, ...], but node {name!r} gives shape "
                         f"{tuple(x.shape)}; use per_channel=False")
    return x.detach().transpose(0, 1).reshape(x.shape[1], -1)


def _quantile(x: torch.Tensor, q: float, dim=None) -> torch.Tensor:
    """``torch.quantile`` (linear), by sorting when the input is over torch's size limit."""
    if x.numel() <= _QUANTILE_MAX:
        return torch.quantile(x, q) if dim is None else torch.quantile(x, q, dim=dim)
    v = x.reshape(-1) if dim is None else x
    v = torch.sort(v, dim=-1).values
    n = v.shape[-1]
    pos = q * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    w = torch.tensor(pos - lo, dtype=v.dtype)
    return torch.lerp(v[..., lo], v[..., hi], w)


class _EMA:
    """spikingjelly 2.0 ``VoltageHook`` / ``ChannelVoltageHook`` running statistic (see module docstring)."""

    def __init__(self, name, kind, value, per_channel, momentum, eps=1e-6):
        self.name, self.kind, self.value, self.per_channel = name, kind, value, per_channel
        self.momentum, self.eps = momentum, eps
        self.scale = None
        #: whether any activation was > 0 (a dead layer must not hide behind the 1e-6 clamp)
        self.active = False

    def wants_pass(self, k: int) -> bool:
        return k == 0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach()
        if not self.active:
            self.active = bool((x > 0).any())
        if self.per_channel:
            v = _channels(torch.clamp(x, min=0), self.name)
            v = v.float() if v.dtype in (torch.float16, torch.bfloat16) else v
            if self.kind == "percentile":
                s = _quantile(v, self.value, dim=1)
            else:
                s = v.max(dim=1).values * (self.value if self.kind == "fraction" else 1)
            s = torch.clamp(s.to(x.dtype), min=self.eps)
        elif self.kind == "percentile":
            v = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
            s = _quantile(v, self.value).to(x.dtype)
        else:
            s = x.max() * self.value if self.kind == "fraction" else x.max()
        if self.scale is None:
            self.scale = s
        else:
            self.scale = (1 - self.momentum) * self.scale + self.momentum * s

    def end_pass(self, k: int) -> None:
        pass

    def result(self) -> torch.Tensor:
        return self.scale


class _Exact:
    """Dataset max / k max / percentile of the non-zero values, per layer or per channel (see module docstring)."""

    def __init__(self, name, kind, value, per_channel):
        self.name, self.kind, self.q, self.per_channel = name, kind, value, per_channel
        self.C = None
        self.stored, self.n_stored = [], 0
        self.done = None

    # -- per batch --------------------------------------------------------------------------
    def _values(self, x):
        """(non-zero values as float64, their group ids)."""
        if self.per_channel:
            xc = _channels(x, self.name)
        else:
            xc = x.detach().reshape(1, -1)
        if self.C is None:
            self.C = xc.shape[0]
            self.n = torch.zeros(self.C, dtype=torch.int64)
            self.mx = torch.full((self.C,), -math.inf, dtype=torch.float64)
            self.mn = torch.full((self.C,), math.inf, dtype=torch.float64)
        elif xc.shape[0] != self.C:
            raise ValueError(f"node {self.name!r} changed its channel count between calibration batches "
                             f"({self.C} then {xc.shape[0]})")
        mask = xc != 0
        counts = mask.sum(1)
        v = xc[mask]
        g = torch.repeat_interleave(torch.arange(self.C), counts)
        return v, g, counts

    def wants_pass(self, k: int) -> bool:
        return self.done is None

    @property
    def active(self) -> bool:
        """Whether any activation was non-zero (``n`` counts them; no data yet: True, end_pass reports it)."""
        return self.C is None or bool((self.n > 0).any())

    def update(self, x: torch.Tensor) -> None:
        v, g, counts = self._values(x)
        if self.k == 0:
            self.n += counts
            if v.numel():
                vd = v.double()
                self.mx.scatter_reduce_(0, g, vd, "amax")
                self.mn.scatter_reduce_(0, g, vd, "amin")
                if self.kind == "percentile" and self.stored is not None:
                    self.n_stored += v.numel()
                    if self.n_stored <= COLLECT_LIMIT:
                        self.stored.append((v.clone(), g.int()))
                    else:
                        self.stored = None
            return
        vd = v.double()
        a, b = self.a[g], self.b[g]
        inside = (vd > a) & (vd <= b)
        col = inside & self.collect[g]
        if col.any():
            self.stored.append((vd[col], g[col]))
        his = inside & self.hist_on[g]
        if his.any():
            vh, gh = vd[his], g[his]
            e = self.edges
            ah, bh = self.a[gh], self.b[gh]
            i = torch.ceil((vh - ah) / (bh - ah) * BINS).long().clamp_(1, BINS)
            while True:  # exact bins by comparison with the stored edges: e[i-1] < v <= e[i]
                down = vh <= e[gh, i - 1]
                up = vh > e[gh, i]
                if not (down.any() or up.any()):
                    break
                i = (i - down.long() + up.long()).clamp_(1, BINS)
            self.hist.view(-1).index_add_(0, gh * BINS + (i - 1), torch.ones_like(gh))
            self.hmin.scatter_reduce_(0, gh, vh, "amin")
            self.hmax.scatter_reduce_(0, gh, vh, "amax")

    # -- between passes -----------------------------------------------------------------------
    def end_pass(self, k: int) -> None:
        if self.C is None:
            raise ValueError(f"node {self.name!r} saw no calibration data")
        if k == 0:
            self._after_count()
        else:
            self._after_refine()
        self.k = k + 1
        if self.done is None:
            self._plan_pass()

    k = 0

    def _after_count(self):
        C = self.C
        if self.kind != "percentile":
            self.done = self.mx.clone()
            return
        pos = self.q * (self.n.double() - 1).clamp(min=0)
        self.lo = pos.floor().long()
        self.hi = torch.minimum(self.lo + 1, (self.n - 1).clamp(min=0))
        self.frac = pos - self.lo.double()
        self.value = torch.full((C,), math.nan, dtype=torch.float64)
        self.resolved = self.n == 0
        if self.stored is not None:
            v = torch.cat([s[0] for s in self.stored]).double() if self.stored else torch.zeros(0, dtype=torch.float64)
            g = torch.cat([s[1] for s in self.stored]).long() if self.stored else torch.zeros(0, dtype=torch.int64)
            self._resolve_from(v, g, torch.zeros(C, dtype=torch.int64), ~self.resolved)
            self.done = self.value
            return
        self.a = torch.nextafter(self.mn, torch.tensor(-math.inf, dtype=torch.float64))
        self.b = self.mx.clone()
        self.below = torch.zeros(C, dtype=torch.int64)
        self.inside = self.n.clone()
        self.a[self.resolved], self.b[self.resolved] = 0.0, 0.0

    def _resolve_from(self, v, g, below, groups):
        for c in torch.nonzero(groups).flatten().tolist():
            vc = torch.sort(v[g == c]).values
            lo, hi = int(self.lo[c] - below[c]), int(self.hi[c] - below[c])
            if not (0 <= lo < vc.numel() and 0 <= hi < vc.numel()):  # pragma: no cover - counts are exact
                raise RuntimeError(f"percentile refinement lost its order statistics at node {self.name!r}")
            self.value[c] = vc[lo] + (vc[hi] - vc[lo]) * self.frac[c]
            self.resolved[c] = True

    def _plan_pass(self):
        todo = ~self.resolved
        order = torch.nonzero(todo).flatten().tolist()
        collect = torch.zeros(self.C, dtype=torch.bool)
        budget = COLLECT_LIMIT
        for c in order:
            if int(self.inside[c]) <= budget:
                collect[c] = True
                budget -= int(self.inside[c])
        self.collect = collect
        self.hist_on = todo & ~collect
        self.stored = []
        t = torch.linspace(0.0, 1.0, BINS + 1, dtype=torch.float64)
        self.edges = self.a[:, None] + (self.b - self.a)[:, None] * t[None, :]
        self.edges[:, 0], self.edges[:, -1] = self.a, self.b
        self.hist = torch.zeros(self.C, BINS, dtype=torch.int64)
        self.hmin = torch.full((self.C,), math.inf, dtype=torch.float64)
        self.hmax = torch.full((self.C,), -math.inf, dtype=torch.float64)

    def _after_refine(self):
        if self.collect.any():
            v = torch.cat([s[0] for s in self.stored]) if self.stored else torch.zeros(0, dtype=torch.float64)
            g = torch.cat([s[1] for s in self.stored]) if self.stored else torch.zeros(0, dtype=torch.int64)
            self._resolve_from(v, g, self.below, self.collect)
        for c in torch.nonzero(self.hist_on).flatten().tolist():
            if self.hmin[c] == self.hmax[c]:  # every value left in the interval is the same number
                self.value[c] = self.hmin[c]
                self.resolved[c] = True
                continue
            cum = self.below[c] + torch.cumsum(self.hist[c], 0)  # values <= e[i+1]
            ilo = int(torch.searchsorted(cum, self.lo[c], right=True))  # first bin with cum > lo
            ihi = int(torch.searchsorted(cum, self.hi[c], right=True))
            self.below[c] = self.below[c] + (int(self.hist[c, :ilo].sum()) if ilo else 0)
            self.inside[c] = int(self.hist[c, ilo:ihi + 1].sum())
            self.a[c], self.b[c] = self.edges[c, ilo], self.edges[c, ihi + 1]
        if bool(self.resolved.all()):
            self.done = self.value

    def result(self) -> torch.Tensor:
        out = self.done
        if self.kind == "fraction":
            out = out * self.q
        return out if self.per_channel else out[0]


def calibrate(gm: fx.GraphModule, nodes: dict, calibration, *, mode="99.9%", estimator: str = "exact",
              per_channel: bool = False, momentum: float = 0.1, batch_size: int = 256,
              shapes: dict | None = None) -> dict:
    """``{node name: lambda}`` for the activation ``nodes`` (``{node name: label for messages}``) of ``gm``.

    Scales are 0-d tensors (``[C]`` with ``per_channel``), float64 for ``"exact"`` and in the
    activations' dtype for ``"ema"``. A layer (or every channel of one) that never activates
    on the calibration set raises ``ValueError``; a dead channel takes the largest scale of its
    layer. ``shapes`` (a dict), if given, receives the output shape of every node on the first batch.
    """
    kind, value = parse_mode(mode)
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {', '.join(map(repr, ESTIMATORS))}; got {estimator!r}")
    batches = iter_batches(calibration, batch_size)
    param = next(gm.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    if estimator == "ema":
        stats = {n: _EMA(label, kind, value, per_channel, momentum) for n, label in nodes.items()}
    else:
        stats = {n: _Exact(label, kind, value, per_channel) for n, label in nodes.items()}
    k = 0
    while True:
        active = {n: s for n, s in stats.items() if s.wants_pass(k)}
        if not active:
            break
        rec = _Recorder(gm, {n: s.update for n, s in active.items()})
        seen = 0
        with torch.no_grad():
            for i, batch in enumerate(batches):
                rec.shapes = shapes if (k == 0 and i == 0) else None
                x = _batch_input(batch)
                if not isinstance(x, torch.Tensor):
                    x = torch.as_tensor(x)
                if x.ndim == 0 or x.shape[0] == 0:
                    continue
                if k == 0 and x.is_floating_point() and not bool(torch.isfinite(x).all()):
                    bad = int((~torch.isfinite(x)).sum())
                    raise ValueError(f"calibration batch {i} contains {bad} NaN/inf value(s) of {x.numel()}: they "
                                     "would make every scale NaN; remove or replace them (e.g. torch.nan_to_num)")
                try:
                    rec.run(x.to(device))
                except Exception as e:
                    raise ValueError(f"the ANN failed on calibration batch {i} (input shape {tuple(x.shape)}): "
                                     f"{type(e).__name__}: {e}") from e
                seen += 1
        if seen == 0:
            raise ValueError("calibration is empty: it gave no batch with at least one sample" if k == 0 else
                             "calibration gave no batches on a second pass; pass a re-iterable (DataLoader, "
                             "list or tensor)")
        for s in active.values():
            s.end_pass(k)
        k += 1
    out = {}
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
    for n, s in stats.items():
        lam = s.result()
        bad = ~torch.isfinite(lam) | (lam <= 0)
        if not s.active:
            raise ValueError(f"activation {nodes[n]!r} was 0 for every calibration sample, so it has no scale: the "
                             "model looks untrained, or the calibration inputs do not match it (same preprocessing "
                             "as in training?)")
        if bool(bad.all()):  # a fraction that underflows; "ema": a per-batch percentile that counts the zeros
            why = " (its per-batch percentile counts the ReLU's zeros)" if estimator == "ema" else ""
            raise ValueError(f"mode={mode!r} with estimator={estimator!r} gives activation {nodes[n]!r} the scale "
                             f"{float(lam.max()):.3g} on this calibration data{why}; use a higher percentile or "
                             "fraction, or estimator='exact'")
        if bool(bad.any()):  # per channel: dead channels never fired in calibration
            lam = torch.where(bad, lam[~bad].max(), lam)
        if not bool((lam.to(dtype) > 0).all()):
            raise ValueError(f"mode={mode!r} gives activation {nodes[n]!r} the scale {float(lam.min()):.3g}, which "
                             f"is 0 in {dtype}: use a larger fraction (e.g. mode=0.9) or a percentile (mode='99.9%')")
        out[n] = lam
    return out
