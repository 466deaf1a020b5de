"""Fuzz census entries: torch layers (``neurosim.snn``), continual metrics and projections,
distillation losses, checkpoints and NIR files (``neurosim.io``), the model registry.

Independent checks: the LIF sequence module against ``tests/naive_snn.lif_forward``; spikes are
0/1; encoders give 0/1 trains; losses are finite and >= 0 where they must be; continual metrics
against their definitions.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

import naive_snn
from fuzz_gen import (A, Arg, Entry, Lazy, Probe, array, boolean, call_probes, choice, corrupt_variants, integer,
                      nonneg, pos, prob, write_case)

H1, H2, H3, LEAD = "H1", "H2", "H3", "lead"
_ids = itertools.count()


class T(A):
    """A tensor recipe: the array recipe turned into a torch tensor (``layout="T"``: transposed view)."""

    def __init__(self, shape, seed=0, *, requires_grad=False, transposed=False, **kw):
        super().__init__(shape, seed, **kw)
        self.requires_grad, self.transposed = requires_grad, transposed

    def build(self):
        import torch

        a = super().build()
        if a.dtype == object or a.dtype.kind in "US":
            return a
        t = torch.from_numpy(np.array(a))
        if self.transposed and t.ndim >= 2:
            t = t.transpose(-1, -2).contiguous().transpose(-1, -2)
        if self.requires_grad and t.is_floating_point():
            t.requires_grad_(True)
        return t

    def __repr__(self):
        extra = (", requires_grad=True" if self.requires_grad else "") + (", transposed=True" if self.transposed else "")
        return "torch.from_numpy(" + super().__repr__() + ")" + extra


def tensor(shape, *, lo=-1.0, hi=2.0, dtypes=("float32",), empty=("either",), int_bad=True, shapes_bad=()):
    """Tensor argument: valid float tensors (float32, optionally float64; non-contiguous;
    requiring grad); bad: NaN/inf, wrong rank, empty, int tensors, a numpy array, a list."""
    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    base = array(shape_st, lo=lo, hi=hi, dtypes=dtypes, int_ok=False, layouts=False, empty=empty,
                 shapes_bad=shapes_bad)

    @st.composite
    def valid(draw):
        a = draw(base.valid)
        return T(a.shape, a.seed, transposed=draw(st.booleans()), requires_grad=draw(st.booleans()), **a.kw)

    @st.composite
    def bad(draw):
        kind = draw(st.sampled_from(["arr", "arr", "arr", "int", "numpy", "list"]))
        shp = draw(shape_st)
        if kind == "int" and int_bad:
            return ("int64 tensor", T(shp, 1, lo=0, hi=3, integers=True, dtype="int64"), "either")
        if kind == "numpy":
            return ("a numpy array", A(shp, 1, lo=lo, hi=hi), "either")
        if kind == "list":
            return ("a nested list", [[0.5, 1.0]], "either")
        label, v, exp = draw(base.bad)
        if isinstance(v, A) and v.kw.get("dtype") != "object":
            v = T(v.shape, v.seed, **v.kw)
        return (label, v, exp)

    return Arg(valid(), bad())


def _spikes_ok(s) -> str | None:
    import torch

    s = s[0] if isinstance(s, tuple) else s
    if not torch.all((s == 0) | (s == 1)):
        return "spikes are not 0/1"
    return None


def _check_lif(res, kw):
    import torch

    spikes, state = res
    x = kw["x"]
    if _spikes_ok(spikes):
        return _spikes_ok(spikes)
    if kw.get("convention", "neurosim") != "neurosim" or x.ndim != 3 or x.shape[0] == 0:
        return None
    xs = x.detach().double().reshape(x.shape[0], -1).numpy()
    S, _, v = naive_snn.lif_forward(xs, tau=kw["tau"], v_th=kw["v_th"], reset=kw["reset"] or "zero")
    got = spikes.detach().double().reshape(x.shape[0], -1).numpy()
    # float32 membranes: a spike may flip where h sits within float32 rounding of v_th
    flips = np.count_nonzero(got != S)
    if flips and x.dtype == torch.float64:
        return f"{flips} spikes differ from the naive loop (float64)"
    if flips > max(1, S.size // 50):
        return f"{flips} of {S.size} spikes differ from the naive loop"
    return None


def _or_none(arg):
    """``arg`` with ``None`` moved from the bad values to the valid ones (an option whose ``None``
    documents "the convention's default")."""
    return Arg(st.one_of(arg.valid, st.none()), arg.bad.filter(lambda b: b[1] is not None), arg.names)


def _feature_ranks(arg):
    """Layers take ``[T, B, ...]`` and encoders ``[B, ...]`` (any number of feature dimensions), and a
    surrogate is elementwise: other ranks are legal too ("either"; a rank they refuse is a clear error)."""
    return Arg(arg.valid, arg.bad.map(lambda b: (b[0], b[1], "either") if b[0].startswith("rank") else b))


def _real_threshold(arg):
    """``v_th`` is any finite number: a resetting neuron needs ``v_th > v_reset`` (an error otherwise),
    with ``reset="none"`` any threshold is legal (as in spikingjelly, snntorch and norse) and the
    spikes are checked against the naive loop. So 0 and negative thresholds are "either"."""
    def relabel(b):
        v = b[1]
        legal = isinstance(v, float) and np.isfinite(v) and v <= 0
        return (b[0], v, "either") if legal else b
    return Arg(arg.valid, arg.bad.map(relabel), arg.names)


def _snn_entries():
    import neurosim.snn as S

    seq = st.tuples(st.integers(1, 6), st.integers(1, 3), st.integers(1, 5))

    def lif_call(x, **kw):
        return S.LIF(**kw)(x)

    def module_entry(name, cls, args, shape=seq, check=None):
        def call(x, **kw):
            m = cls(**kw)
            out = m(x)
            return out
        x = _feature_ranks(tensor(shape))  # [T, B, features...]: any number of feature dimensions is legal
        return Entry(f"snn.{name}", H1, lambda tmp: call_probes(
            f"{name}(...)(x)", call, {"x": x, **args},
            check=check or (lambda r, kw: _spikes_ok(r))))

    surrogates = ["ATan", "Erf", "FastSigmoid", "Gaussian", "Sigmoid", "SuperSpike", "Triangle"]
    return [
        Entry("snn.LIF", H1, lambda tmp: call_probes(  # noqa: E501
            "LIF(...)(x)", lif_call,
            {"x": _feature_ranks(tensor(seq, dtypes=("float32", "float64"))), "tau": pos(1.5, 10.0, allow_none=True),
             "convention": choice(("neurosim", "spikingjelly", "snntorch", "norse")),
             "v_th": _real_threshold(pos(0.5, 2.0, allow_none=True)),
             "reset": _or_none(choice(("zero", "subtract", "none")))},
            check=_check_lif)),
        Entry("snn.LIF (tau <= 1 per convention)", H1, lambda tmp: call_probes(
            "LIF(...)(x)", lif_call,
            {"x": Arg(tensor(seq).valid, None), "tau": Arg(st.floats(1.5, 4.0),
                                                            st.sampled_from([(repr(v), v, "error") for v in
                                                                             (0.5, 0.2, 0.0, -1.0)]
                                                                            + [("1.0", 1.0, "either")])),
             "convention": Arg(st.sampled_from(["spikingjelly", "snntorch", "neurosim"]), None)},
            check=lambda r, kw: _spikes_ok(r))),
        module_entry("LIFCell", S.LIFCell, {"tau": pos(1.5, 10.0, allow_none=True)},
                     shape=st.tuples(st.integers(1, 3), st.integers(1, 5))),
        module_entry("IF", S.IF, {"v_th": pos(0.5, 2.0, allow_none=True)}),
        module_entry("AdaptiveLIF", S.AdaptiveLIF, {"tau": pos(1.5, 10.0, allow_none=True), "tau_adapt": pos(1.5, 50.0),
                                                    "beta_adapt": nonneg(0.0, 3.0)}),
        module_entry("CubaLIF", S.CubaLIF, {"tau": pos(1.5, 10.0, allow_none=True),
                                            "tau_syn": pos(1.5, 10.0, allow_none=True)}),
        module_entry("ParametricLIF", S.ParametricLIF, {"init_tau": pos(1.5, 10.0)}),
        module_entry("RecurrentLIF", S.RecurrentLIF, {"n": Arg(st.just(5), integer(5, 5, min_value=1).bad),
                                                      "tau": pos(1.5, 10.0, allow_none=True)},
                     shape=st.tuples(st.integers(1, 6), st.integers(1, 3), st.just(5))),
        module_entry("Izhikevich", S.Izhikevich, {"dt": pos(0.1, 1.0), "v_scale": pos(1.0, 20.0)}),
        Entry("snn.surrogates", H1, lambda tmp: st.sampled_from(surrogates).flatmap(lambda n: call_probes(
            f"{n}(p)(x)", lambda p, x, n=n: _surrogate_call(n, p, x),
            {"p": Arg(pos(0.5, 10.0).valid, pos(0.5, 10.0).bad, names=("p", "alpha", "slope", "sigma")),
             "x": _feature_ranks(_inf_ok(tensor(st.tuples(st.integers(1, 8)), lo=-2.0, hi=2.0)))},
            check=lambda r, kw: _check_surrogate(r)))),
        Entry("snn.get_surrogate", H1, lambda tmp: call_probes(
            "get_surrogate", S.get_surrogate, {"name": choice(("atan", "erf", "sigmoid", "gaussian"))})),
        Entry("snn.encoding.poisson", H1, lambda tmp: call_probes(
            "poisson", S.poisson, {"x": _feature_ranks(tensor(st.tuples(st.integers(1, 3), st.integers(1, 4)),
                                                              lo=0.0, hi=1.0)),
                                   "T": integer(1, 6, min_value=1, huge=(10 ** 12,)), "max_rate": prob(0.1, 1.0)},
            check=lambda r, kw: _spikes_ok(r))),
        Entry("snn.encoding.latency", H1, lambda tmp: call_probes(
            "latency", S.latency, {"x": _feature_ranks(tensor(st.tuples(st.integers(1, 3), st.integers(1, 4)),
                                                              lo=0.0, hi=1.0)),
                                   "T": integer(1, 6, min_value=1, huge=(10 ** 12,)), "tau": pos(0.5, 5.0),
                                   "method": choice(("linear", "log"))},
            check=lambda r, kw: _spikes_ok(r))),
        Entry("snn.encoding.delta", H1, lambda tmp: call_probes(
            "delta", S.delta, {"x": _feature_ranks(tensor(st.tuples(st.integers(1, 5), st.integers(1, 4)))),
                               "threshold": pos(0.01, 0.5), "off_spikes": boolean()})),
        Entry("snn.encoding.direct", H1, lambda tmp: call_probes(
            "direct", S.direct, {"x": _feature_ranks(tensor(st.tuples(st.integers(1, 3), st.integers(1, 4)))),
                                 "T": integer(1, 6, min_value=1, huge=(10 ** 12,))})),
        Entry("snn.BatchNorm2d", H1, lambda tmp: call_probes(
            "BatchNorm2d(C, eps, momentum)(x)", lambda x, num_features, eps, momentum:
            S.BatchNorm2d(num_features, eps=eps, momentum=momentum)(x),
            {"x": tensor(st.tuples(st.integers(2, 3), st.just(3), st.just(2), st.just(2)), lo=-1.0, hi=1.0),
             "num_features": Arg(st.just(3), integer(3, 3, min_value=1).bad), "eps": pos(1e-6, 1e-3),
             "momentum": _or_none(prob(0.0, 0.5))})),
        Entry("snn.stats.measure_activity", H1, lambda tmp: call_probes(
            "measure_activity", lambda x, energy: _measure(x, energy),
            {"x": tensor(st.tuples(st.integers(1, 4), st.integers(1, 3), st.just(6))),
             "energy": choice(("fp32_45nm",))})),
    ]


def _inf_ok(arg):
    """A surrogate is elementwise and its values at +-inf are the exact limits (``H(inf) = 1``,
    ``H(-inf) = 0``, every closed-form derivative -> 0): an infinite ``x`` is legal ("either"; the
    check still asks for a 0/1 forward and a finite, non-negative gradient). NaN stays an error."""
    return Arg(arg.valid, arg.bad.map(lambda b: (b[0], b[1], "either") if b[0].startswith(("inf in", "-inf in"))
                                      else b))


def _surrogate_call(name, p, x):
    import neurosim.snn as S

    cls = getattr(S, name)
    params = {"FastSigmoid": "slope", "Gaussian": "sigma"}.get(name, "alpha")
    s = cls(**{params: p})
    x = x.detach().clone().requires_grad_(True) if hasattr(x, "requires_grad_") and x.is_floating_point() else x
    y = s(x)
    if getattr(y, "requires_grad", False):
        y.sum().backward()
        return y, x.grad
    return y, None


def _check_surrogate(res):
    y, g = res
    import torch

    if not torch.all((y == 0) | (y == 1)):
        return "surrogate forward is not a Heaviside step"
    if g is not None and (not torch.all(torch.isfinite(g)) or torch.any(g < 0)):
        return "surrogate gradient negative or non-finite"
    return None


def _measure(x, energy):
    import torch.nn as nn

    import neurosim.snn as S
    from neurosim.snn.stats import measure_activity

    return measure_activity(nn.Sequential(S.TimeDistributed(nn.Linear(6, 4)), S.LIFLayer(2.0)), x, energy=energy)


# ------------------------------------------------------------------------- continual, distill

def _continual_entries():
    from neurosim.continual import metrics as M

    # NaN above the diagonal is the "not measured" marker (run_sequence fills R with it), on or below it
    # an error: so a NaN anywhere is "either"; inf is an error everywhere
    R = array(st.integers(1, 5).map(lambda n: (n, n)), lo=0.0, hi=1.0, shapes_bad=[("not square", (3, 2))],
              nan_ok=True)

    def acc_bwt(R):
        return M.average_accuracy(R), M.backward_transfer(R), M.forgetting(R)

    def check(res, kw):
        Rm = np.asarray(kw["R"], dtype=float)
        n = Rm.shape[0]
        acc = Rm[-1].mean()
        bwt = np.mean([Rm[-1, i] - Rm[i, i] for i in range(n - 1)]) if n > 1 else 0.0
        if not np.isclose(res[0], acc) or not np.isclose(res[1], bwt):
            return f"ACC/BWT {res[:2]} != definition ({acc}, {bwt})"
        return None

    def proj(x, in_features, out_features, bias):
        from neurosim.continual.projection import ProjLinear

        return ProjLinear(in_features, out_features, bias)(x)

    def hebb(**kw):
        from neurosim.continual.hebbian import HebbianParams

        return HebbianParams(**kw)

    return [
        Entry("continual.metrics (ACC, BWT)", H2, lambda tmp: call_probes(
            "average_accuracy/backward_transfer/forgetting", acc_bwt, {"R": R}, check=check)),
        Entry("continual.ProjLinear", H2, lambda tmp: call_probes(
            "ProjLinear(in, out, bias)(x)", proj,
            {"x": tensor(st.tuples(st.integers(1, 4), st.just(5))), "in_features": Arg(st.just(5),
                                                                                         integer(5, 5, min_value=1).bad),
             "out_features": integer(1, 4, min_value=1, huge=(10 ** 12,)), "bias": boolean()})),
        Entry("continual.HebbianParams", H2, lambda tmp: call_probes(
            "HebbianParams", hebb, {"eta": pos(1e-4, 0.1), "iterations": integer(1, 5, min_value=1),
                                    "clamp": pos(1.0, 10.0), "momentum": prob(0.0, 0.99)})),
    ]


def _logits(shape=(4, 5)):
    return tensor(st.just(shape), lo=-3.0, hi=3.0, shapes_bad=[("other classes", (4, 6)), ("other batch", (3, 5))])


def _distill_entries():
    import neurosim.distill as D

    target = Arg(st.just(Lazy("torch.tensor([0, 1, 2, 3])", lambda: __import__("torch").tensor([0, 1, 2, 3]))),
                 st.sampled_from([("labels out of range", Lazy("torch.tensor([0, 1, 2, 9])",
                                                                lambda: __import__("torch").tensor([0, 1, 2, 9])), "error"),
                                  ("negative labels", Lazy("torch.tensor([0, -1, 2, 3])",
                                                           lambda: __import__("torch").tensor([0, -1, 2, 3])), "error"),
                                  ("float labels", Lazy("torch.tensor([0., 1, 2, 3])",
                                                        lambda: __import__("torch").tensor([0., 1, 2, 3])), "either"),
                                  ("wrong length", Lazy("torch.tensor([0, 1])",
                                                        lambda: __import__("torch").tensor([0, 1])), "error")]))
    def nonneg_loss(r, kw):  # a scalar or per-sample loss
        low = float(r.detach().min())
        return None if low >= -1e-6 else f"negative loss {low}"
    return [
        Entry("distill.kd_loss", LEAD, lambda tmp: call_probes(
            "kd_loss", D.kd_loss, {"student_logits": _logits(), "teacher_logits": _logits(),
                                   "temperature": pos(0.5, 8.0)}, check=nonneg_loss)),
        Entry("distill.wsld_loss", LEAD, lambda tmp: call_probes(
            "wsld_loss", D.wsld_loss, {"student_logits": _logits(), "teacher_logits": _logits(), "target": target,
                                       "temperature": pos(0.5, 8.0)}, check=nonneg_loss)),
        Entry("distill.soft_cross_entropy", LEAD, lambda tmp: call_probes(
            "soft_cross_entropy", D.soft_cross_entropy, {"logits": _logits(), "target": target}, check=nonneg_loss)),
        Entry("distill.blur_mask", LEAD, lambda tmp: call_probes(
            "blur_mask", D.blur_mask, {"batch": integer(1, 4, min_value=1, huge=(10 ** 12,)),
                                       "channels": integer(1, 8, min_value=1), "lam": prob(0.0, 1.0)},
            check=lambda m, kw: None if set(np.unique(m.numpy())) <= {0.0, 1.0} else "mask not 0/1")),
    ]


# ---------------------------------------------------------------------------------------- io

def _ckpt_bytes():
    import io

    import torch

    buf = io.BytesIO()
    torch.save({"w": torch.arange(6.0), "epoch": 3, "rng": {"state": [1, 2]}}, buf)
    return buf.getvalue()


def _model_bytes():
    import io

    import torch

    from neurosim.models import get_model

    torch.manual_seed(0)
    m = get_model("mlp", in_shape=(1, 4, 4), hidden=(3,), num_classes=2)
    buf = io.BytesIO()
    torch.save({"format": "neurosim.model/1", "model_name": "mlp",
                "model_cfg": {"in_shape": (1, 4, 4), "hidden": (3,), "num_classes": 2},
                "model_state": m.state_dict()}, buf)
    return buf.getvalue()


def _nir_bytes(tmp):
    import torch.nn as nn

    import neurosim.snn as S
    from neurosim.io import write_nir

    path = Path(tmp) / "valid.nir"
    path.parent.mkdir(parents=True, exist_ok=True)
    model = nn.Sequential(nn.Linear(3, 2), S.LIFLayer(2.0))
    write_nir(model, path, input_shape=(3,))
    return path.read_bytes()


def _file_entry(name, owner, fname, valid_fn, call, *, weight=1.0):
    def make(tmp):
        valid = valid_fn(tmp) if valid_fn.__code__.co_argcount else valid_fn()

        def probe(case):
            folder = Path(tmp) / f"p{next(_ids)}"

            def thunk():
                return call(write_case(case, folder, fname))

            return Probe(f"{fname}: {case.label}", thunk, case.expect, (fname, str(folder / fname)), None,
                         f"<{case.label} at {folder / fname}>")

        return corrupt_variants(valid).map(probe)

    return Entry(name, owner, make, weight=weight)


def _io_entries():
    from neurosim.io import load_checkpoint, read_nir, save_checkpoint

    def load_model(path):
        from neurosim.commands.tsrsa import load_model as lm

        return lm(str(path))

    def save_onto(kind, tmp):
        folder = Path(tmp) / f"p{next(_ids)}"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / "ckpt.pt"
        if kind == "existing directory":
            target.mkdir()
        elif kind == "parent is a file":
            (folder / "file").write_text("x")
            target = folder / "file" / "ckpt.pt"
        return save_checkpoint(target, {"a": 1}), target

    return [
        _file_entry("io.load_checkpoint", H3, "checkpoint.pt", _ckpt_bytes, load_checkpoint),
        _file_entry("io.load_model (model.pt)", H3, "model.pt", _model_bytes, load_model, weight=0.5),
        _file_entry("io.read_nir", H3, "model.nir", _nir_bytes, read_nir, weight=0.5),
        Entry("io.save_checkpoint", H3, lambda tmp: st.sampled_from(["new file", "existing directory",
                                                                      "parent is a file"]).map(
            lambda k: Probe(f"path: {k}", lambda k=k: save_onto(k, tmp), "ok" if k == "new file" else "error",
                            ("ckpt.pt", "path", str(tmp)), None, f"save_checkpoint(<{k}>, {{'a': 1}})")),
            weight=0.25),
        Entry("models.get_model", H3, lambda tmp: call_probes(
            "get_model", _get_model, {"name": choice(("mlp", "convnet", "spiking_mlp")),
                                      "num_classes": integer(2, 5, min_value=1, huge=(10 ** 11,))})),
    ]


def _get_model(name, num_classes):
    from neurosim.models import get_model

    mlp = isinstance(name, str) and "mlp" in name  # a bad name (None, 1+2j) must reach get_model, not fail here
    cfg = {"in_shape": (1, 4, 4), "hidden": (3,)} if mlp else {"input_size": 8, "channels": (2, 2),
                                                                         "hidden": (3,)}
    return get_model(name, num_classes=num_classes, **cfg)


def entries():
    return _snn_entries() + _continual_entries() + _distill_entries() + _io_entries()
