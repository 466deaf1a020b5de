"""Fuzz census entries: ANN-to-SNN conversion (``neurosim.convert``), the library entry points.

One tiny ANN throughout: ``Conv(1->3, no bias)-BN-ReLU-AvgPool2-Flatten-Linear(48->6)-ReLU-Linear(6->3)``
on ``1 x 8 x 8`` images in eval mode (BN with zero running mean and shift, so an all-zero
calibration set leaves the first activation dead). Steps ``T <= 8``, batches <= 4.

Independent checks of valid results:

* ``ann_to_snn``: the scales of both activations equal the statistic (max, ``k`` max, or
  ``numpy.percentile`` of the non-zero values; per channel with a dead channel taking its
  layer's largest scale) of the ReLU outputs of the *unconverted* ANN (BN not folded, float64,
  read with forward hooks), rtol 1e-4 (BN folding rounds in float32); ``run_static`` gives
  ``[B, 3]``;
* ``run_static`` equals ``forward`` of the expanded input (plain path vs the fused static
  kernel), ``forward_static`` equals ``forward_steps`` of it, rtol 1e-5;
* ``forward`` (mean readout): ``T`` times the output on ``[T, B, ...]`` equals the sum of the
  outputs on the first ``k`` and the last ``T - k`` steps with the state carried over (streaming);
* ``accuracy_vs_timesteps``: keys are the step counts, values in ``[0, 1]`` and equal to the
  accuracy of a separate ``run_static`` at each ``T``;
* ``QCFS``: outputs lie on the grid ``threshold * k / L``, ``0 <= k <= L``, and equal the float64
  formula away from floor boundaries;
* ``export_nir``: the graph's input/output types, and its import runs like ``forward_steps``;
* ``feature_pair``: the tap and the teacher layer give the same shape (up to the student's T);
* ``recipe``/``rebuild``: the rebuilt network with the converted ``state_dict`` runs like the original.
"""
from __future__ import annotations

import copy
import math

import numpy as np
from hypothesis import strategies as st

from fuzz_entries_torch import T as TensorRecipe
from fuzz_entries_torch import tensor
from fuzz_gen import NAN, Arg, Entry, Lazy, boolean, call_probes, choice, integer, pos, prob

H2 = "H2"
IMG = (1, 8, 8)
CLASSES = 3
_CACHE: dict = {}


# ------------------------------------------------------------------------------------- models

def ann(seed=0):
    """The census ANN (see the module docstring), eval mode."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(48, 6), nn.ReLU(), nn.Linear(6, CLASSES))
    with torch.no_grad():
        net[1].running_var.uniform_(0.5, 2.0, generator=g)
        net[1].weight.uniform_(0.5, 1.5, generator=g)
        net[5].bias.uniform_(0.0, 0.2, generator=g)
    return net.eval()


def images(n, seed=1):
    import torch

    return torch.rand(n, *IMG, generator=torch.Generator().manual_seed(seed))


def snn():
    """A converted census ANN, built once per worker (callers reset its states or copy it)."""
    if "snn" not in _CACHE:
        import neurosim.convert as nc

        _CACHE["snn"] = nc.ann_to_snn(ann(), images(32), mode="max")
    return _CACHE["snn"]


def fresh_snn():
    from neurosim.snn import reset_states

    s = copy.deepcopy(snn())
    reset_states(s)
    return s


class _Loader:
    """A DataLoader-like iterable of ``(images, labels)`` batches (re-iterable, like a DataLoader)."""

    def __init__(self, n, batch):
        self.n, self.batch = n, batch

    def __iter__(self):
        import torch

        x = images(self.n)
        for s in range(0, self.n, self.batch):
            yield x[s:s + self.batch], torch.zeros(len(x[s:s + self.batch]), dtype=torch.int64)

    def __repr__(self):
        return f"_Loader({self.n}, {self.batch})"


def _gelu_model():
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.GELU()).eval()


def _sigmoid_model():
    import torch
    from torch import nn

    class Sig(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 4)

        def forward(self, x):
            return torch.sigmoid(self.fc(x.flatten(1)))
    return Sig().eval()


def _other_arch():
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(64, 5), nn.ReLU(), nn.Linear(5, 2)).eval()


def _nan_images(n):
    x = images(n)
    x[n // 2, 0, 3, 4] = float("nan")
    return x


def _model_arg():
    bad = [("train mode", Lazy("ann().train()", lambda: ann().train()), "error"),
           ("BN in train mode", Lazy("<ann() with net[1].train()>", lambda: _train_bn()), "error"),
           ("nn.GELU", Lazy("nn.Sequential(nn.Flatten(), nn.Linear(64, 4), nn.GELU())", _gelu_model), "error"),
           ("torch.sigmoid", Lazy("<Linear then torch.sigmoid>", _sigmoid_model), "error"),
           ("a string", "abc", "error"), ("None", None, "error"),
           ("a function", Lazy("lambda x: x", lambda: (lambda x: x)), "error")]
    return Arg(st.just(Lazy("ann()", ann)), st.sampled_from(bad), names=("model", "node", "training mode"))


def _train_bn():
    net = ann()
    net[1].train()
    return net


def _calibration_arg():
    import torch

    valid = st.integers(4, 16).flatmap(lambda n: st.sampled_from([
        Lazy(f"images({n})", lambda: images(n)),
        Lazy(f"list(images({n}).split(4))", lambda: list(images(n).split(4))),
        Lazy(f"_Loader({n}, 4)", lambda: _Loader(n, 4)),
        Lazy(f"[{{'input': b}} for b in images({n}).split(5)]", lambda: [{"input": b} for b in images(n).split(5)]),
        Lazy(f"(b for b in images({n}).split(3))", lambda: (b for b in images(n).split(3))),
    ]))
    bad = [("empty tensor (0, 1, 8, 8)", Lazy("torch.zeros(0, 1, 8, 8)", lambda: torch.zeros(0, *IMG)), "error"),
           ("empty list", [], "error"),
           ("a list of empty batches", Lazy("[torch.zeros(0, 1, 8, 8)]", lambda: [torch.zeros(0, *IMG)]), "error"),
           ("NaN in one image", Lazy("_nan_images(8)", lambda: _nan_images(8)), "error"),
           ("inf in one image", Lazy("<images(8) with an inf>", lambda: images(8).index_fill_(0, torch.tensor([2]),
                                                                                            float("inf"))), "error"),
           ("images 7 x 7", Lazy("torch.rand(8, 1, 7, 7)", lambda: torch.rand(8, 1, 7, 7)), "error"),
           ("2 channels", Lazy("torch.rand(8, 2, 8, 8)", lambda: torch.rand(8, 2, 8, 8)), "error"),
           ("flat vectors", Lazy("torch.rand(8, 64)", lambda: torch.rand(8, 64)), "error"),
           ("all-zero images (dead layer)", Lazy("torch.zeros(8, 1, 8, 8)", lambda: torch.zeros(8, *IMG)), "error"),
           ("a 0-d tensor", Lazy("torch.tensor(1.0)", lambda: torch.tensor(1.0)), "error"),
           ("a numpy array", Lazy("images(8).numpy()", lambda: images(8).numpy()), "error"),
           ("a string", "abc", "error"), ("an int", 8, "error"), ("None", None, "error"),
           ("list of strings", ["a", "b"], "error"),
           ("int64 images", Lazy("torch.ones(8, 1, 8, 8, dtype=torch.int64)",
                                  lambda: torch.ones(8, *IMG, dtype=torch.int64)), "either"),
           ("float64 images", Lazy("images(8).double()", lambda: images(8).double()), "either"),
           ("values 1e30", Lazy("torch.full((8, 1, 8, 8), 1e30)", lambda: torch.full((8, *IMG), 1e30)), "either")]
    return Arg(valid, st.sampled_from(bad), names=("calibration",))


def _mode_arg():
    valid = st.sampled_from(["max", "MAX", "99.9%", "99%", "100%", "50%", 0.5, 1.0, 0.9, 1])
    bad = [(repr(v), v, "error") for v in ("101%", "0%", "-5%", "nan%", "inf%", "%", "abc", "", -1, 0, 0.0, 1.5, NAN,
                                           math.inf, None, b"max", [0.5])]
    bad += [(repr(v), v, "either") for v in (1e-300, "1e-300%", 1e-30)]
    return Arg(valid, st.sampled_from(bad), names=("mode",))


def _ts_arg(lo=1, hi=8):
    return Arg(st.one_of(st.none(), st.integers(lo, hi)),
               st.sampled_from([(repr(v), v, "error") for v in (0, -1, 1.5, "4", NAN, [4], True)]
                               + [("huge 10**12", 10 ** 12, "either")]), names=("timesteps",))


def _v_init_arg():
    return Arg(st.floats(0.0, 0.99), st.sampled_from([(repr(v), v, "error") for v in
                                                       (1.0, 1.5, -0.1, NAN, math.inf, "0.5", None, [0.5])]),
               names=("v_init",))


def _bool_arg(name):
    return Arg(st.booleans(), st.sampled_from([(repr(v), v, "error") for v in ("yes", 1, None, 0.0)]), names=(name,))


def _act_stats(net, calib):
    """Per-activation float64 ReLU outputs of ``net`` on the calibration inputs (forward hooks; BN unfolded)."""
    import torch

    from neurosim.convert.calibrate import _batch_input, iter_batches  # only to unpack the same batch forms

    net64 = copy.deepcopy(net).double()
    outs = {"2": [], "6": []}
    hooks = [net64[int(k)].register_forward_hook(lambda m, a, o, k=k: outs[k].append(o.detach().clone()))
             for k in outs]
    with torch.no_grad():
        for b in iter_batches(calib, 256):
            net64(_batch_input(b).double())
    for h in hooks:
        h.remove()
    return {k: torch.cat(v).numpy() for k, v in outs.items()}


def _want_scale(a, mode, per_channel):
    rows = np.moveaxis(a, 1, 0).reshape(a.shape[1], -1) if per_channel else a.reshape(1, -1)
    if isinstance(mode, str) and mode.strip().lower() == "max":
        lam = rows.max(axis=1)
    elif isinstance(mode, str):
        p = float(mode.strip()[:-1])
        lam = np.array([np.percentile(r[r != 0], p) if (r != 0).any() else 0.0 for r in rows])
    else:
        lam = rows.max(axis=1) * float(mode)
    if (lam > 0).any():
        lam[lam <= 0] = lam.max()
    return lam if per_channel else lam[0]


def _check_convert(res, kw):
    import torch

    import neurosim.convert as nc

    if not isinstance(res, nc.ConvertedSNN):
        return f"ann_to_snn returned {type(res).__name__}"
    if set(res.scales) != {"2", "6"}:
        return f"IF layers {sorted(res.scales)} != ['2', '6']"
    for name, lam in res.scales.items():
        if not bool(torch.isfinite(lam).all()) or not bool((lam > 0).all()):
            return f"scale of {name} is not finite and > 0: {lam}"
    if kw["estimator"] == "exact":
        acts = _act_stats(kw["model"], _calibration_again(kw))
        for name, a in acts.items():
            want = _want_scale(a, kw["mode"], kw["per_channel"])
            got = res.scales[name].double().numpy()
            if not np.allclose(got, want, rtol=1e-4, atol=0):
                return f"scale of {name}: {got} != the ANN's statistic {want} (mode={kw['mode']!r})"
    x = images(3, seed=5)
    with torch.no_grad():
        y = res.run_static(x, 4)
    if tuple(y.shape) != (3, CLASSES):
        return f"run_static gave shape {tuple(y.shape)}, expected (3, {CLASSES})"
    if res.readout != kw["readout"] or res.timesteps != kw["timesteps"]:
        return "readout/timesteps not kept"
    return None


def _calibration_again(kw):
    """The calibration inputs of a probe (a one-shot generator was consumed by the call: rebuild it)."""
    c = kw["calibration"]
    if hasattr(c, "__next__"):
        return list(kw["_calib_copy"])
    return c


def _convert_call(model, calibration, _calib_copy=None, **kw):
    import neurosim.convert as nc

    return nc.ann_to_snn(model, calibration, **kw)


def _pre_convert(kw):
    c = kw["calibration"]
    if hasattr(c, "__next__"):  # keep the batches of a one-shot generator for the check
        batches = list(c)
        kw["calibration"] = iter(batches)
        kw["_calib_copy"] = batches
    return kw


# --------------------------------------------------------------------------------- the entries

def _x_step(n_lo=1, n_hi=4):
    shape = st.tuples(st.integers(n_lo, n_hi), st.just(1), st.just(8), st.just(8))
    return tensor(shape, lo=0.0, hi=1.0, shapes_bad=[("7 x 7 images", (2, 1, 7, 7)), ("2 channels", (2, 2, 8, 8)),
                                                     ("flat", (2, 64)), ("a time axis", (2, 2, 1, 8, 8))])


def _x_seq():
    shape = st.tuples(st.integers(1, 5), st.integers(1, 3), st.just(1), st.just(8), st.just(8))
    arg = tensor(shape, lo=0.0, hi=1.0, empty=("error",),
                 shapes_bad=[("T = 0", (0, 2, 1, 8, 8)), ("no time axis", (2, 1, 8, 8)),
                             ("7 x 7 images", (2, 2, 1, 7, 7)), ("2 channels", (2, 2, 2, 8, 8))])
    # an empty batch is legal: an empty output [0, classes]
    return Arg(arg.valid, arg.bad | st.just(("B = 0", TensorRecipe((2, 0, 1, 8, 8)), "either")))


def _close(a, b, what, rtol=1e-5, atol=1e-5):
    import torch

    a, b = a.detach().double(), b.detach().double()
    if a.shape != b.shape:
        return f"{what}: shapes {tuple(a.shape)} and {tuple(b.shape)}"
    if not torch.allclose(a, b, rtol=rtol, atol=atol):
        return f"{what}: max difference {float((a - b).abs().max()):.3g}"
    return None


def _run_static(x, timesteps, reset):
    s = fresh_snn()
    return s.run_static(x, timesteps, reset=reset)


def _check_run_static(y, kw):
    import torch

    from neurosim.snn import reset_states

    x = kw["x"]
    if tuple(y.shape) != (x.shape[0], CLASSES):
        return f"shape {tuple(y.shape)}, expected ({x.shape[0]}, {CLASSES})"
    s = fresh_snn()
    reset_states(s)
    with torch.no_grad():
        want = s(x.detach().unsqueeze(0).expand(kw["timesteps"], *x.shape).contiguous())
    return _close(y, want, "run_static vs forward of the expanded input")


def _forward_static(x, timesteps):
    return fresh_snn().forward_static(x, timesteps)


def _check_forward_static(y, kw):
    import torch

    x, T = kw["x"], kw["timesteps"]
    if tuple(y.shape) != (T, x.shape[0], CLASSES):
        return f"shape {tuple(y.shape)}, expected ({T}, {x.shape[0]}, {CLASSES})"
    with torch.no_grad():
        want = fresh_snn().forward_steps(x.detach().unsqueeze(0).expand(T, *x.shape).contiguous())
    return _close(y, want, "forward_static vs forward_steps of the expanded input")


def _forward(x):
    return fresh_snn()(x)


def _check_forward(y, kw):
    import torch

    x = kw["x"]
    T, B = x.shape[0], x.shape[1]
    if tuple(y.shape) != (B, CLASSES):
        return f"shape {tuple(y.shape)}, expected ({B}, {CLASSES})"
    if T < 2:
        return None
    k = T // 2
    s = fresh_snn()
    with torch.no_grad():
        parts = s(x[:k].detach()) * k + s(x[k:].detach()) * (T - k)  # the state carries over between the calls
    return _close(y * T, parts, "T * forward(x) vs the two halves streamed")


def _acc_ctx():
    return st.integers(1, 6)


def _acc_args(n):
    import torch

    labels = Lazy
    y_valid = st.integers(0, 2 ** 16).map(lambda s: labels(
        f"torch.randint(0, 3, ({n},), generator=torch.Generator().manual_seed({s}))",
        lambda s=s: torch.randint(0, CLASSES, (n,), generator=torch.Generator().manual_seed(s))))
    y_bad = [("one label too many", labels(f"torch.zeros({n + 1}, dtype=torch.int64)",
                                           lambda: torch.zeros(n + 1, dtype=torch.int64)), "error"),
             ("labels [N, 1]", labels(f"torch.zeros({n}, 1, dtype=torch.int64)",
                                      lambda: torch.zeros(n, 1, dtype=torch.int64)), "error"),
             ("label 5 of 3 classes", labels(f"torch.full(({n},), 5)", lambda: torch.full((n,), 5)), "error"),
             ("label -1", labels(f"torch.full(({n},), -1)", lambda: torch.full((n,), -1)), "error"),
             ("labels 0.5", labels(f"torch.full(({n},), 0.5)", lambda: torch.full((n,), 0.5)), "error"),
             ("float labels 1.0", labels(f"torch.ones({n})", lambda: torch.ones(n)), "either"),
             ("a list of labels", [0] * n, "either"),
             ("a numpy array", labels(f"np.zeros({n}, dtype=np.int64)", lambda: np.zeros(n, dtype=np.int64)), "either"),
             ("a string", "abc", "error"), ("None", None, "error")]
    if n > 1:
        y_bad.append(("one label too few", labels(f"torch.zeros({n - 1}, dtype=torch.int64)",
                                                  lambda: torch.zeros(n - 1, dtype=torch.int64)), "error"))
    ts_valid = st.lists(st.integers(1, 8), min_size=1, max_size=3)
    ts_bad = [(repr(v), v, "error") for v in ([], [0], [2, -1], [1.5], [NAN], 4, "abc", None, ["2"])]
    ts_bad += [("huge [10**12]", [10 ** 12], "error")]
    snn_bad = [("a string", "abc", "error"), ("None", None, "error"),
               ("an nn.Linear", Lazy("nn.Linear(64, 3)", lambda: __import__("torch").nn.Linear(64, 3)), "error"),
               ("the ANN", Lazy("ann()", ann), "error")]
    return {"snn": Arg(st.just(Lazy("fresh_snn()", fresh_snn)), st.sampled_from(snn_bad)),
            "x": _x_step(n, n),
            "y": Arg(y_valid, st.sampled_from(y_bad)),
            "timesteps": Arg(ts_valid, st.sampled_from(ts_bad)),
            "batch_size": integer(1, 8, min_value=1, huge=(10 ** 12,)),
            "scale": pos(1.0, 4.0)}


def _accuracy(snn, x, y, timesteps, batch_size, scale):
    import neurosim.convert as nc

    return nc.accuracy_vs_timesteps(snn, x, y, timesteps, batch_size=batch_size, scale=scale)


def _check_accuracy(acc, kw):
    import torch

    ts = kw["timesteps"]
    if set(acc) != set(ts):
        return f"keys {sorted(acc)} != timesteps {sorted(set(ts))}"
    x, y = kw["x"], torch.as_tensor(kw["y"])
    s = fresh_snn()
    for t in set(ts):
        if not 0.0 <= acc[t] <= 1.0:
            return f"accuracy {acc[t]} at T={t} outside [0, 1]"
        with torch.no_grad():
            pred = s.run_static(x.detach().float() / kw["scale"], t).argmax(-1)
        want = int((pred == y).sum()) / len(y)
        if acc[t] != want:
            return f"accuracy {acc[t]} at T={t} != {want} of a separate run_static"
    return None


def _qcfs(levels, threshold, shift, trainable, x):
    import neurosim.convert as nc

    q = nc.QCFS(levels, threshold, shift=shift, trainable=trainable)
    return q(x), float(q.threshold.detach())


def _check_qcfs(res, kw):
    import torch

    y, lam = res
    L, shift = kw["levels"], kw["shift"]
    y = y.detach().double().numpy()
    k = y / lam * L
    if np.abs(k - np.round(k)).max(initial=0) > 1e-3 or k.min(initial=0) < -1e-6 or k.max(initial=0) > L + 1e-3:
        return f"outputs off the grid threshold * k / {L}, 0 <= k <= {L}"
    x = torch.as_tensor(kw["x"]).detach().double().numpy()
    u = np.clip(x / lam, 0, 1) * L + shift
    want = lam * np.floor(u) / L
    away = np.abs(u - np.round(u)) > 1e-4  # float32 may round across a floor boundary
    if not np.allclose(y[away], want[away], rtol=1e-5, atol=1e-6):
        return "outputs differ from the float64 formula"
    return None


def _shape_arg(numpy_ok=True):
    """``input_shape`` of one sample; a NumPy array of sizes is one for export_nir (any iterable of ints),
    not for recipe (a list or tuple: it goes into model files as plain values)."""
    shapes = [(1, 8, 8), [1, 8, 8], (np.int64(1), 8, 8),
              Lazy("torch.Size([1, 8, 8])", lambda: __import__("torch").Size([1, 8, 8]))]
    if numpy_ok:
        shapes.append(Lazy("np.array([1, 8, 8])", lambda: np.array([1, 8, 8])))
    valid = st.sampled_from(shapes)
    bad = [(repr(v), v, "error") for v in ((1, 7, 7), (2, 8, 8), (8, 8), (64,), "abc", 5, None, (1.5, 8, 8),
                                           (0, 8, 8), (), (NAN, 8, 8), (1, -8, 8), ("1", "8", "8"), {"a": 1})]
    bad += [("(1, 8, 8, 1)", (1, 8, 8, 1), "error"), ("(True, 8, 8)", (True, 8, 8), "either"),
            ("huge (1, 10**6, 10**6)", (1, 10 ** 6, 10 ** 6), "error")]
    return Arg(valid, st.sampled_from(bad), names=("input_shape",))


def _export(input_shape, dt, discretization):
    from neurosim.snn.nir import export_nir

    s = fresh_snn()
    return export_nir(s, input_shape, dt=dt, discretization=discretization), s


def _check_export(res, kw):
    import torch

    from neurosim.snn import reset_states
    from neurosim.snn.nir import import_nir

    g, s = res
    if list(g.nodes["input"].input_type["input"]) != list(IMG):
        return f"input type {g.nodes['input'].input_type}"
    if list(g.nodes["output"].output_type["output"]) != [CLASSES]:
        return f"output type {g.nodes['output'].output_type}"
    net = import_nir(g)
    x = images(2, seed=7).unsqueeze(0).expand(3, 2, *IMG).contiguous()
    reset_states(s)
    reset_states(net)
    with torch.no_grad():
        return _close(net(x), s.forward_steps(x), "imported NIR graph vs forward_steps")


def _teacher_arg():
    bad = [("a string", "abc", "error"), ("None", None, "error"),
           ("nn.Linear(3, 3)", Lazy("nn.Linear(3, 3)", lambda: __import__("torch").nn.Linear(3, 3)), "error"),
           ("another architecture", Lazy("nn.Sequential(Flatten, Linear(64, 5), ReLU, Linear(5, 2))", _other_arch),
            "error")]
    return Arg(st.sampled_from([Lazy("ann()", ann), Lazy("ann(seed=3)", lambda: ann(3))]), st.sampled_from(bad),
               names=("teacher", "layer"))


def _layer_arg():
    bad = [(repr(v), v, "error") for v in ("zzz", "", "0", "1", "2.weight", 3, None, ["2"], b"2")]
    return Arg(st.sampled_from(["2", "3", "4", "5", "6", "7"]), st.sampled_from(bad),
               names=("layer", "distill_layer"))


def _feature_pair(teacher, layer):
    import neurosim.convert as nc

    s = fresh_snn()
    return nc.feature_pair(s, teacher, layer), s


def _check_feature_pair(res, kw):
    import torch

    (s_name, t_name), s = res
    teacher = kw["teacher"]
    mods = dict(teacher.named_modules())
    if t_name not in mods:
        return f"teacher layer {t_name!r} is not a module of the teacher"
    got = {}
    h1 = s.get_submodule(s_name).register_forward_hook(lambda m, a, o: got.setdefault("s", o))
    h2 = mods[t_name].register_forward_hook(lambda m, a, o: got.setdefault("t", o))
    x = images(2, seed=9)
    with torch.no_grad():
        s.run_static(x, 3)
        teacher(x)
    h1.remove()
    h2.remove()
    if tuple(got["s"].shape[1:]) != tuple(got["t"].shape) or got["s"].shape[0] != 3:
        return f"student feature {tuple(got['s'].shape)} vs teacher feature {tuple(got['t'].shape)}"
    return None


_RECIPE_BAD = [({"version": 2}, "version"), ({"readout": "spikes"}, "readout"), ({"mode": "abc"}, "mode"),
               ({"timesteps": 0}, "timesteps"), ({"v_init": NAN}, "v_init"), ({"v_init": 1.0}, "v_init"),
               ({"maxpool": 3}, "maxpool"), ({"method": "zzz"}, "method"), ({"estimator": "x"}, "estimator"),
               ({"per_channel": "yes"}, "per_channel"), ({"fold_bn": 1}, "fold_bn"),
               ({"input_shape": [1, 7, 7]}, "input_shape"), ({"input_shape": [2, 8, 8]}, "input_shape"),
               ({"input_shape": "abc"}, "input_shape"), ({"reset": None}, "reset"), ({"method": 3}, "method"),
               ({"mode": None}, "mode"), ({"timesteps": 1.5}, "timesteps")]


def _recipe_args():
    patch_bad = [(f"recipe with {p!r}", p, "error") for p, _ in _RECIPE_BAD]
    patch_bad += [("recipe without mode", "-mode", "error"), ("recipe is a string", "abc", "error"),
                  ("recipe is None", None, "error")]
    names = ("recipe", "input_shape") + tuple({n for _, n in _RECIPE_BAD})
    model_bad = [("a string", "abc", "error"), ("None", None, "error"),
                 ("nn.GELU model", Lazy("<Flatten-Linear-GELU>", _gelu_model), "error")]
    return {"input_shape": _shape_arg(numpy_ok=False),
            "model": Arg(st.sampled_from([Lazy("ann(seed=4)", lambda: ann(4)),
                                          Lazy("ann(seed=4).train()", lambda: ann(4).train())]),
                         st.sampled_from(model_bad), names=("model", "node")),
            "patch": Arg(st.just({}), st.sampled_from(patch_bad), names=names)}


def _recipe_rebuild(input_shape, model, patch):
    import neurosim.convert as nc

    s = fresh_snn()
    rec = nc.recipe(s, input_shape)
    if isinstance(patch, dict):
        rec = {**rec, **patch}
    elif isinstance(patch, str) and patch.startswith("-"):
        rec = {k: v for k, v in rec.items() if k != patch[1:]}
    else:
        rec = patch
    twin = nc.rebuild(model, rec)
    twin.load_state_dict(s.state_dict())
    return twin, s


def _check_rebuild(res, kw):
    import torch

    twin, s = res
    x = images(2, seed=11)
    with torch.no_grad():
        return _close(twin.run_static(x, 4), s.run_static(x, 4), "rebuilt network vs the original", rtol=1e-6,
                      atol=1e-6)


def entries():
    import neurosim.convert as nc  # noqa: F401 - fail early (and outside the probes) if the package is broken

    x_step, x_seq = _x_step(), _x_seq()

    def convert_entry(label, corrupt, weight):
        spec = {"model": _model_arg(), "calibration": _calibration_arg(), "mode": _mode_arg(),
                "timesteps": _ts_arg(), "reset": choice(("subtract", "zero")), "per_channel": _bool_arg("per_channel"),
                "v_init": _v_init_arg(), "readout": choice(("mean", "sum")), "estimator": choice(("exact", "ema"))}
        return Entry(f"convert.ann_to_snn ({label})", H2, lambda tmp: call_probes(
            "ann_to_snn", _convert_call, _only(spec, corrupt), pre=_pre_convert, check=_check_convert), weight=weight)

    def accuracy_args(corrupt):
        return lambda n: _only(_acc_args(n), corrupt)

    return [
        convert_entry("model", ("model",), 0.5),
        convert_entry("calibration", ("calibration",), 1.5),
        convert_entry("mode", ("mode",), 1.5),
        convert_entry("options", ("timesteps", "reset", "per_channel", "v_init", "readout", "estimator"), 1.0),
        Entry("convert.ConvertedSNN.run_static", H2, lambda tmp: call_probes(
            "fresh_snn().run_static", _run_static,
            {"x": x_step, "timesteps": Arg(st.integers(1, 8), _ts_arg().bad.map(
                lambda b: (b[0], b[1], "error")) | st.just(("None (not set at conversion)", None, "error"))),
             "reset": boolean()}, check=_check_run_static)),
        Entry("convert.ConvertedSNN.forward_static", H2, lambda tmp: call_probes(
            "fresh_snn().forward_static", _forward_static,
            {"x": x_step, "timesteps": Arg(st.integers(1, 8), _ts_arg().bad.map(lambda b: (b[0], b[1], "error")))},
            check=_check_forward_static)),
        Entry("convert.ConvertedSNN.forward", H2, lambda tmp: call_probes(
            "fresh_snn()", _forward, {"x": x_seq}, check=_check_forward)),
        Entry("convert.accuracy_vs_timesteps (labels, steps)", H2, lambda tmp: call_probes(
            "accuracy_vs_timesteps", _accuracy, accuracy_args(("y", "timesteps")), ctx=_acc_ctx(),
            check=_check_accuracy)),
        Entry("convert.accuracy_vs_timesteps (snn, images, options)", H2, lambda tmp: call_probes(
            "accuracy_vs_timesteps", _accuracy, accuracy_args(("snn", "x", "batch_size", "scale")), ctx=_acc_ctx(),
            check=_check_accuracy), weight=0.75),
        Entry("convert.QCFS", H2, lambda tmp: call_probes(
            "QCFS(levels, threshold, shift, trainable)(x)", _qcfs,
            {"levels": integer(1, 8, min_value=1, huge=(10 ** 30,)), "threshold": pos(0.5, 8.0),
             "shift": prob(0.0, 1.0, open_high=True), "trainable": boolean(),
             "x": _qcfs_x()}, check=_check_qcfs)),
        Entry("convert.export_nir (converted)", H2, lambda tmp: call_probes(
            "export_nir(fresh_snn(), ...)", _export,
            {"input_shape": _shape_arg(), "dt": pos(1e-4, 1e-3, extreme=False),
             "discretization": choice(("euler", "exact"))}, check=_check_export,
            allow_nonfinite=True), weight=0.75),  # IF nodes keep tau = inf in their metadata; the check runs the graph
        Entry("convert.feature_pair", H2, lambda tmp: call_probes(
            "feature_pair(fresh_snn(), teacher, layer)", _feature_pair,
            {"teacher": _teacher_arg(), "layer": _layer_arg()}, check=_check_feature_pair)),
        Entry("convert.recipe + rebuild", H2, lambda tmp: call_probes(
            "rebuild(model, recipe(fresh_snn(), input_shape) | patch)", _recipe_rebuild, _recipe_args(),
            check=_check_rebuild)),
    ]


def _only(spec: dict, corrupt) -> dict:
    """``spec`` with the bad values of the arguments not in ``corrupt`` removed (an entry per argument
    group, so that the default census's 24 examples reach each group's bad values)."""
    return {k: a if k in corrupt else Arg(a.valid, None, a.names) for k, a in spec.items()}


def _qcfs_x():
    """Any shape is legal for an elementwise activation; +-inf clip to the exact limits (0, threshold)."""
    base = tensor(st.tuples(st.integers(1, 3), st.integers(1, 6)), lo=-2.0, hi=10.0)

    def relabel(b):
        if b[0].startswith(("rank", "inf in", "-inf in", "empty")):
            return (b[0], b[1], "either")
        return b
    return Arg(base.valid, base.bad.map(relabel))


__all__ = ["entries", "ann", "images", "snn", "fresh_snn"]
