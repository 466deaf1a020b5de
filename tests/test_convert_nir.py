"""NIR export of converted networks (neurosim.convert.nir through neurosim.snn.nir.export_nir):
round trips through import_nir and files, a NumPy reading of the graph, the IF fields, refusals.

MNIST-sized models (1x28x28) with random weights, calibrated on MNIST test images when
``NEUROSIM_DATA`` holds them (uniform noise otherwise)."""
from __future__ import annotations

import functools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nir = pytest.importorskip("nir")
import torch.nn.functional as F  # noqa: E402
from conftest import data_root  # noqa: E402
from torch import nn  # noqa: E402

import neurosim.convert as nc  # noqa: E402
from neurosim.snn import reset_states  # noqa: E402
from neurosim.snn.modules import IFLayer  # noqa: E402
from neurosim.snn.nir import export_nir, import_nir, read_nir, write_nir  # noqa: E402
from neurosim.snn.nir_graph import GraphNet  # noqa: E402

SHAPE = (1, 28, 28)
T = 24


@functools.lru_cache(maxsize=1)
def _mnist_test():
    from neurosim.data.mnist import load_mnist

    try:
        return load_mnist("mnist", "test", root=data_root())[0]
    except FileNotFoundError:
        return None


def _images(n: int, offset: int = 0) -> torch.Tensor:
    x = _mnist_test()
    if x is None:
        return torch.rand(n, *SHAPE, generator=torch.Generator().manual_seed(offset))
    return torch.from_numpy(x[offset:offset + n].astype(np.float32) / 255).unsqueeze(1)


def _bn(c: int, g: torch.Generator) -> nn.BatchNorm2d:
    bn = nn.BatchNorm2d(c)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2, generator=g)
        bn.running_var.uniform_(0.5, 2.0, generator=g)
        bn.weight.uniform_(0.5, 1.5, generator=g)
        bn.bias.uniform_(0.0, 0.2, generator=g)
    return bn


def lenet() -> nn.Module:
    """Conv-BN-ReLU-AvgPool x2, Linear-ReLU, Linear: a chain."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 5), _bn(6, g), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(6, 12, 5), _bn(12, g), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(192, 32), nn.ReLU(), nn.Linear(32, 10)).eval()


class ResNet(nn.Module):
    """Strided stem, a ResNet block (ReLU after the add), SEW-style adds after the ReLU, a
    difference, constant scalings, adaptive pooling, view-flatten: fan-in edges and Scale nodes."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        g = torch.Generator().manual_seed(1)
        self.stem, self.bn0 = nn.Conv2d(1, 8, 3, stride=2, padding=1), _bn(8, g)
        self.conv1, self.bn1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), _bn(8, g)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), _bn(8, g)
        self.conv3, self.conv4 = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8 * 7 * 7, 10)

    def forward(self, x):
        x = F.relu(self.bn0(self.stem(x)))
        x = F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)
        x = (x + F.relu(self.conv3(x))) / 2 - 0.25 * F.relu(self.conv4(x))
        x = F.adaptive_avg_pool2d(x, 7)
        return self.fc(x.view(x.size(0), -1))


CASES = {
    "lenet": lambda: (lenet(), {}),
    "lenet-unfolded-per-channel-half-threshold": lambda: (lenet(), dict(fold_scales=False, per_channel=True,
                                                                         v_init=0.5)),
    "resnet": lambda: (ResNet().eval(), {}),
    "resnet-reset-zero-sum": lambda: (ResNet().eval(), dict(reset="zero", readout="sum")),
}


@functools.lru_cache(maxsize=None)
def _convert(case: str, dtype=torch.float32) -> nc.ConvertedSNN:
    """Converted once per case and dtype (the tests only run it from rest, never change it)."""
    ann, kw = CASES[case]()
    return nc.ann_to_snn(ann.to(dtype), _images(256).to(dtype), mode="99.9%", timesteps=T, **kw)


def _seq(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0).expand(T, *x.shape)


def _spikes(model: nn.Module, x: torch.Tensor):
    """(per-step output, {IF layer index: spikes}) of one run from rest; IF layers in call order."""
    rec = []
    hooks = [m.register_forward_hook(lambda m, a, o: rec.append(o.detach().clone()))
             for m in model.modules() if isinstance(m, IFLayer)]
    reset_states(model)
    try:
        with torch.no_grad():
            y = model.forward_steps(x) if isinstance(model, nc.ConvertedSNN) else model(x)
    finally:
        for h in hooks:
            h.remove()
        reset_states(model)
    return y, rec


# -- round trip: the same torch layers and IF code on both sides -> bit equality ---------------
@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_gives_identical_spikes(case, tmp_path):
    import copy

    from neurosim.convert.event import use_events

    snn = copy.deepcopy(_convert(case))
    use_events(snn, False)  # the imported graph runs torch's dense conv/linear: the same ops on both sides
    x = _seq(_images(16, offset=1000))
    want, want_spikes = _spikes(snn, x)
    write_nir(snn, tmp_path / "snn.nir", SHAPE)
    for back in (import_nir(export_nir(snn, SHAPE)), read_nir(tmp_path / "snn.nir")):
        assert isinstance(back, GraphNet if case.startswith("resnet") else nn.Sequential)
        got, got_spikes = _spikes(back, x)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        assert len(got_spikes) == len(want_spikes) == snn.info["neurons"]
        for a, b in zip(got_spikes, want_spikes):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            assert b.sum() > 0  # every layer fires: the comparison is not between silent layers
    # the decoding lives in the graph's metadata, not in a node
    meta = nir.read(str(tmp_path / "snn.nir")).metadata["neurosim"]["converted"]
    assert meta["readout"] == snn.readout and int(meta["timesteps"]) == T
    decoded = want.mean(0) if snn.readout == "mean" else want.sum(0)
    torch.testing.assert_close(snn(x), decoded, rtol=0, atol=0)


# -- an independent reading: NumPy walk of the NIR graph --------------------------------------
def _conv2d(x, w, b, stride, pad):
    """Direct 2-d convolution (cross-correlation) ``[B, C, H, W]``, a loop over kernel offsets."""
    _, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho, wo = (xp.shape[2] - kh) // stride[0] + 1, (xp.shape[3] - kw) // stride[1] + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride[0] * (ho - 1) + 1:stride[0], j:j + stride[1] * (wo - 1) + 1:stride[1]]
            out += np.einsum("bchw,oc->bohw", patch, w[:, :, i, j])
    return out + b[None, :, None, None]


def _pool(x, k, s, divide: bool):
    ho, wo = (x.shape[2] - k[0]) // s[0] + 1, (x.shape[3] - k[1]) // s[1] + 1
    out = np.zeros((*x.shape[:2], ho, wo))
    for i in range(k[0]):
        for j in range(k[1]):
            out += x[:, :, i:i + s[0] * (ho - 1) + 1:s[0], j:j + s[1] * (wo - 1) + 1:s[1]]
    return out / (k[0] * k[1]) if divide else out


def numpy_run(graph, x: np.ndarray):
    """Run a NIR graph step by step in float64: ``x`` ``[T, B, ...]`` -> (outputs ``[T, B, ...]``,
    {IF node: spikes ``[T, B, ...]``}, smallest ``|v - v_threshold|`` seen before a fire decision).

    A node's input is the sum of its incoming edges. IF (NIR): ``v += dt r I``, then fire and
    reset; NIR 1.0 has no field for the reset rule, the fire rule or the initial membrane, so
    those three come from ``metadata["neurosim"]`` (``reset``, ``fire``, ``v_rest``)."""
    pred = {n: [a for a, b in graph.edges if b == n] for n in graph.nodes}
    order, done = [], set()
    while len(order) < len(graph.nodes):
        for n in graph.nodes:
            if n not in done and all(p in done for p in pred[n]):
                order.append(n)
                done.add(n)
    dt = float(graph.metadata["neurosim"]["dt"])
    v, spikes, outs, margin = {}, {}, [], np.inf
    for xt in x:
        val = {}
        for name in order:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                val[name] = xt
                continue
            h = sum(val[p] for p in pred[name])
            if isinstance(node, nir.Output):
                outs.append(h)
            elif isinstance(node, nir.Affine):
                val[name] = h @ node.weight.T + node.bias
            elif isinstance(node, nir.Conv2d):
                assert node.groups == 1 and tuple(np.atleast_1d(node.dilation)) in ((1,), (1, 1))
                val[name] = _conv2d(h, node.weight, node.bias, np.broadcast_to(node.stride, 2),
                                    np.broadcast_to(node.padding, 2))
            elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
                assert not np.any(node.padding)
                val[name] = _pool(h, np.broadcast_to(node.kernel_size, 2), np.broadcast_to(node.stride, 2),
                                  isinstance(node, nir.AvgPool2d))
            elif isinstance(node, nir.Flatten):
                val[name] = h.reshape(h.shape[0], *node.output_type["output"])
            elif isinstance(node, nir.Scale):
                val[name] = h * node.scale
            elif isinstance(node, nir.IF):
                ns = node.metadata["neurosim"]
                vv = v.get(name, np.full(h.shape, float(ns["v_rest"]))) + dt * node.r * h
                margin = min(margin, float(np.abs(vv - node.v_threshold).min()))
                s = vv >= node.v_threshold if ns["fire"] == ">=" else vv > node.v_threshold
                if ns["reset"] == "subtract":
                    vv = vv - s * (node.v_threshold - node.v_reset)
                else:
                    vv = np.where(s, node.v_reset, vv)
                v[name] = vv
                spikes.setdefault(name, []).append(s.astype(np.float64))
                val[name] = s.astype(np.float64)
            else:
                raise TypeError(type(node).__name__)
    return np.array(outs), {k: np.array(s) for k, s in spikes.items()}, margin


@pytest.mark.parametrize("case", ["lenet-unfolded-per-channel-half-threshold", "resnet"])
def test_numpy_reading_of_the_graph_gives_the_same_spikes(case):
    """float64 on both sides: the NumPy walk sums in another order than torch's conv/matmul (an
    ulp or so), which changes a spike only where a membrane lies within ~1e-15 of the threshold;
    the smallest distance seen is checked to be far larger (measured 2e-7 .. 2e-6), so every
    spike must agree and the outputs agree to 1e-9 (measured 5e-16).

    The float32 model (the one users run) against the float64 walk of its graph: float32
    rounding of a membrane after 24 steps is ~1e-6, the same order as the smallest distance
    to the threshold, so a spike may move by a step or a count change by one (and spread
    downstream). Bound: per-neuron spike counts differ in total by at most 0.1 % of the
    spikes and the mean output by 1 % of its largest value (measured: 0 of ~2e5 spikes,
    1.4e-7 against 0.68, on MNIST images)."""
    x = _images(8, offset=2000)
    snn64 = _convert(case, torch.float64)
    g = export_nir(snn64, SHAPE)
    want, want_spikes = _spikes(snn64, _seq(x.double()))
    out, spikes, margin = numpy_run(g, _seq(x.double()).numpy())
    assert margin > 1e-9
    if_names = [n for n, node in g.nodes.items() if isinstance(node, nir.IF)]
    assert len(if_names) == len(want_spikes) == snn64.info["neurons"]
    for name, s in zip(if_names, want_spikes):
        np.testing.assert_array_equal(spikes[name], s.numpy(), err_msg=name)
    np.testing.assert_allclose(out, want.numpy(), rtol=1e-9, atol=1e-9)

    snn32 = _convert(case)
    y32, spikes32 = _spikes(snn32, _seq(x))
    out, spikes, _ = numpy_run(export_nir(snn32, SHAPE), _seq(x.double()).numpy())
    total = sum(float(s.sum()) for s in spikes32)
    diff = sum(float(np.abs(spikes[n].sum(0) - s.sum(0).numpy()).sum()) for n, s in zip(if_names, spikes32))
    assert total > 10_000 and diff <= 1e-3 * total, (diff, total)
    assert np.abs(out.mean(0) - y32.mean(0).numpy()).max() <= 0.01 * np.abs(out.mean(0)).max()


# -- what is written -------------------------------------------------------------------------
def test_if_fields_scales_and_dt():
    snn = _convert("lenet-unfolded-per-channel-half-threshold")
    for dt in (1e-4, 1e-3):
        g = export_nir(snn, SHAPE, dt=dt)
        ifs = {n: v for n, v in g.nodes.items() if isinstance(v, nir.IF)}
        assert list(ifs) == list(snn.scales)  # named by the IF layer's module path
        for name, node in ifs.items():
            np.testing.assert_allclose(node.r, 1.0 / dt)  # Euler: v += dt r I = I
            np.testing.assert_array_equal(node.v_threshold, 1.0)
            np.testing.assert_array_equal(node.v_reset, 0.0)
            ns = node.metadata["neurosim"]
            assert (ns["reset"], ns["fire"], ns["v_rest"]) == ("subtract", ">=", 0.5)
            # the kept scalers: x / lambda before the neuron, lambda after, per channel (dim 0 here)
            lam = snn.scales[name].numpy()
            s_in, s_out = g.nodes[f"{name}_scale_in"].scale, g.nodes[f"{name}_scale_out"].scale
            assert s_in.shape == node.r.shape
            pooled = snn.body.get_submodule(name).pool  # a 2x2 pool fused into the IF layer: its own node
            assert (f"{name}_pool" in g.nodes) == pooled
            r = node.r.shape
            assert s_out.shape == ((*r[:-2], r[-2] // 2, r[-1] // 2) if pooled else r)
            shape = (-1,) + (1,) * (s_in.ndim - 1)
            np.testing.assert_array_equal(s_out, np.broadcast_to(lam.reshape(shape), s_out.shape))
            np.testing.assert_array_equal(s_in, np.broadcast_to((1 / lam).reshape(shape), s_in.shape))
        assert g.metadata["neurosim"]["dt"] == dt
    # export runs no neuron: a model in the middle of a stream keeps its state
    x = _seq(_images(2, offset=3000))
    reset_states(snn)
    with torch.no_grad():
        snn(x)
        before = [m.state.v.clone() for m in snn.modules() if isinstance(m, IFLayer)]
        export_nir(snn, SHAPE)
        after = [m.state.v for m in snn.modules() if isinstance(m, IFLayer)]
    reset_states(snn)
    for a, b in zip(before, after):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        x = _seq(_images(4, offset=3000))
        torch.testing.assert_close(_spikes(import_nir(g), x)[0], _spikes(snn, x)[0], rtol=0, atol=0)


def test_residual_add_is_a_fan_in():
    g = export_nir(_convert("resnet"), SHAPE)
    merges = {b: [a for a, c in g.edges if c == b] for b in g.nodes}
    # ReLU(bn2(conv2(.)) + x): the kept input scale of that IF layer receives both summands (the
    # identity path through the Scale node lambda); (x + relu(conv3 x)) / 2: the Scale node of
    # the division; ... - 0.25 relu(conv4 x): the pooling, from the quotient and a Scale(-1)
    assert {b: a for b, a in merges.items() if len(a) > 1} == {
        "relu_2_scale_in": ["conv2", "relu_out"], "truediv": ["relu_2_out", "relu_3_out"],
        "adaptive_avg_pool2d": ["truediv", "sub_neg"]}
    for name, value in (("truediv", 0.5), ("mul", 0.25), ("sub_neg", -1.0)):
        assert g.nodes[name].scale.shape == (8, 14, 14)
        np.testing.assert_array_equal(g.nodes[name].scale, value)
    assert [type(g.nodes[k]).__name__ for k in ("adaptive_avg_pool2d", "view", "fc")] == ["AvgPool2d", "Flatten",
                                                                                         "Affine"]
    np.testing.assert_array_equal(g.nodes["adaptive_avg_pool2d"].kernel_size, (2, 2))


# -- refusals --------------------------------------------------------------------------------
class _Cat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(1, 2, 3), nn.Conv2d(1, 2, 3)
        self.fc = nn.Linear(4 * 26 * 26, 3)

    def forward(self, x):
        return self.fc(torch.flatten(torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], 1), 1))


class _Double(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 26 * 26, 3)

    def forward(self, x):
        y = F.relu(self.conv(x))
        return self.fc(torch.flatten(y + y, 1))


class _Uneven(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 3 * 3, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 3), 1))


class _BNFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn, self.conv, self.fc = nn.BatchNorm2d(1), nn.Conv2d(1, 2, 3), nn.Linear(2 * 26 * 26, 3)

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(self.bn(x))), 1))


class _Const(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(1, 2, 3), nn.Linear(2 * 26 * 26, 3)
        self.register_buffer("offset", torch.full((1, 2, 26, 26), 0.1))

    def forward(self, x):
        return self.fc(torch.flatten(F.relu(self.conv(x)) * self.offset, 1))


def _maxpool_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * 13 * 13, 3))


@pytest.mark.parametrize("make, kw, match", [
    (_maxpool_net, dict(maxpool="pre"), r"node '_2' \(module '2', MaxPool2d\).*no max-pooling node.*average pooling"),
    (_maxpool_net, dict(maxpool="spikes"), r"MaxPool2d.*no max-pooling node"),
    (_Cat, {}, r"node 'cat' \(torch.cat\).*no NIR node.*Conv2d, Linear/Affine"),
    (_Double, {}, r"node 'add'.*adds the output of \['relu_out'\] to itself.*multiply by 2"),
    (_Uneven, {}, r"adaptive average pooling from 26x26 to 3x3 has unequal windows.*divides"),
    (_BNFirst, {}, r"node 'bn' \(module 'bn', BatchNorm2d\).*not folded.*right after a Conv2d"),
    (_Const, {}, r"node 'mul'.*its input 'offset' is a constant tensor.*fold the constant"),
])
def test_unsupported_ops_name_the_node_and_the_fix(make, kw, match):
    snn = nc.ann_to_snn(make().eval(), _images(32), mode="max", **kw)
    with pytest.raises(ValueError, match=match):
        export_nir(snn, SHAPE)


def test_bad_input_shape():
    snn = _convert("lenet")
    with pytest.raises(ValueError, match=r"does not run on one sample of input_shape \(1, 20, 20\)"):
        export_nir(snn, (1, 20, 20))
    with pytest.raises(ValueError, match="input_shape"):
        export_nir(snn, ())
    with pytest.raises(TypeError, match="ConvertedSNN"):
        nc.export_converted(lenet(), SHAPE)


def test_dag_import_refuses_cycles_and_dangling_nodes():
    g = export_nir(_convert("resnet"), SHAPE)
    edges = list(g.edges)
    cyc = nir.NIRGraph(nodes=g.nodes, edges=edges + [("relu_3", "conv3")], type_check=False)
    with pytest.raises(ValueError, match="cyclic"):
        import_nir(cyc)
    nodes = {**g.nodes, "spare": nir.Scale(scale=np.ones(10))}
    with pytest.raises(ValueError, match=r"\['spare'\] are not on a path from the input 'input' to the output"):
        import_nir(nir.NIRGraph(nodes=nodes, edges=edges + [("fc", "spare")], type_check=False))
