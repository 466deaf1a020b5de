"""Event-driven Conv2d / Linear (``kernels/event.py``, ``neurosim.convert.event``) against torch, and
converted networks with the event path on and off.

Bounds. The kernels add the same products as ``torch.nn.functional.conv2d`` / ``linear`` in
another order, so elementwise ``|event − torch| ≤ 2 n ε (|W| * |x| + |b|)`` (each of the two sums
of ``n`` terms is within ``n ε Σ|terms|`` of the exact sum; ``n = C K_h K_w + 1`` or ``K + 1``;
ε the dtype's machine epsilon). On dyadic data (inputs ``k/4``, weights ``j/8``), where every
partial sum is exact, the two agree bit for bit. In a converted network the IF layers compare
membranes with the threshold, so a membrane within rounding of 1 may fire on one path and not on
the other: float64 networks give identical spikes (and outputs within the bound), float32 ones
may differ in at most 1e-3 of the spikes ("rounding boundaries"; none occurred here).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neurosim.convert as nc
import neurosim.kernels.event as kev
from neurosim.convert import event as ev
from neurosim.convert.modules import IFNeuron
from neurosim.kernels.blocks import run_blocks
from neurosim.snn import reset_states
from neurosim.snn.conv import Conv2d as SNNConv2d
from neurosim.snn.stats import measure_activity

DTYPES = [np.float32, np.float64]


def _sparse(rng, shape, density, dtype, dyadic=False):
    vals = rng.integers(1, 5, shape) / 4 if dyadic else rng.uniform(-1.0, 1.0, shape)
    return np.where(rng.random(shape) < density, vals, 0.0).astype(dtype)


def _conv_event(x, w, b, stride, padding, threads=2):
    O, C, KH, KW = w.shape
    N, _, H, W = x.shape
    Ho, Wo = (H + 2 * padding[0] - KH) // stride[0] + 1, (W + 2 * padding[1] - KW) // stride[1] + 1
    out = np.full((N, O, Ho, Wo), np.nan, dtype=x.dtype)
    geom = np.array([KH, KW, stride[0], stride[1], padding[0], padding[1]], dtype=np.int64)
    run_blocks(kev.event_conv2d, N, kev.conv_work_size(C, W, KH, KW, O, Wo), x, kev.conv_weight(w), b, out, geom,
               threads=threads)
    return out


def _linear_event(x, w, b, threads=2):
    out = np.full((x.shape[0], w.shape[0]), np.nan, dtype=x.dtype)
    run_blocks(kev.event_linear, x.shape[0], kev.LINEAR_ROWS * x.shape[1], x, np.ascontiguousarray(w.T), b, out,
               threads=threads)
    return out


def _conv_bound(x, w, b, stride, padding):
    n = w.shape[1] * w.shape[2] * w.shape[3] + 1
    mag = F.conv2d(torch.from_numpy(np.abs(x)), torch.from_numpy(np.abs(w)), torch.from_numpy(np.abs(b)),
                   stride=stride, padding=padding).numpy()
    return 2 * n * np.finfo(x.dtype).eps * mag


# (N, C, H, W, O, (kh, kw), stride, padding): odd sizes, kh != kw, stride 2/3 (and stride > kernel,
# which skips input rows), padding 0/1/2 (outputs made of padding only), C = 1, O not a multiple of 16, N = 1
CONV_CASES = [
    (1, 1, 5, 7, 3, (3, 3), (1, 1), (0, 0)),
    (3, 5, 9, 6, 17, (3, 2), (2, 1), (1, 0)),
    (2, 4, 7, 7, 5, (1, 1), (1, 1), (0, 0)),
    (2, 3, 6, 5, 7, (5, 3), (1, 1), (2, 2)),
    (2, 6, 11, 8, 33, (3, 3), (2, 2), (1, 1)),
    (1, 2, 3, 4, 3, (3, 3), (1, 1), (2, 2)),
    (2, 3, 9, 9, 4, (1, 1), (2, 2), (0, 0)),
    (4, 32, 14, 14, 64, (3, 3), (1, 1), (1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES)
def test_event_conv2d_matches_torch(case, dtype):
    N, C, H, W, O, k, stride, padding = case
    rng = np.random.default_rng(CONV_CASES.index(case))
    x = _sparse(rng, (N, C, H, W), 0.2, dtype)
    x[0, :, : H // 2] = rng.uniform(-1, 1, (C, H // 2, W))  # a dense band: every channel of a pixel at once
    if N > 1:
        x[-1] = 0.0  # an image without events: the bias only
    w = rng.normal(size=(O, C, *k)).astype(dtype)
    b = rng.normal(size=O).astype(dtype)
    got = _conv_event(x, w, b, stride, padding)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,
                    padding=padding).numpy()
    assert got.shape == want.shape
    assert np.all(np.abs(got - want) <= _conv_bound(x, w, b, stride, padding))
    if N > 1:
        np.testing.assert_array_equal(got[-1], np.broadcast_to(b[:, None, None], got[-1].shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_event_conv2d_exact_on_dyadic_values(dtype):
    """Inputs k/4 (the pooled spikes of a converted network) and weights j/8: every partial sum is
    exact, so the event kernel equals torch bit for bit; one thread or two, same bits."""
    rng = np.random.default_rng(3)
    x = _sparse(rng, (5, 7, 10, 9), 0.15, dtype, dyadic=True)
    w = (rng.integers(-8, 9, (13, 7, 3, 3)) / 8).astype(dtype)
    b = (rng.integers(-8, 9, 13) / 8).astype(dtype)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1).numpy()
    np.testing.assert_array_equal(_conv_event(x, w, b, (1, 1), (1, 1), threads=1), want)
    np.testing.assert_array_equal(_conv_event(x, w, b, (1, 1), (1, 1), threads=2), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,K,O", [(1, 1, 1), (5, 37, 3), (33, 100, 70), (17, 300, 129)])
def test_event_linear_matches_torch(N, K, O, dtype):
    """Row blocks of LINEAR_ROWS and column chunks of LINEAR_CHUNK, with remainders; an empty row."""
    rng = np.random.default_rng(N * 1000 + K)
    x = _sparse(rng, (N, K), 0.2, dtype)
    x[0] = 0.0
    w = rng.normal(size=(O, K)).astype(dtype)
    b = rng.normal(size=O).astype(dtype)
    got = _linear_event(x, w, b)
    want = F.linear(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)).numpy()
    mag = np.abs(x) @ np.abs(w).T + np.abs(b)
    assert np.all(np.abs(got - want) <= 2 * (K + 1) * np.finfo(dtype).eps * mag)
    np.testing.assert_array_equal(got[0], b)


_NOJIT = r"""
import json, numpy as np, sys
sys.path.insert(0, {tests!r})
from test_convert_event import _conv_event, _linear_event, _sparse
rng = np.random.default_rng(0)
x = _sparse(rng, (2, 3, 5, 6), 0.3, np.float64)
w = rng.normal(size=(4, 3, 3, 2)); b = rng.normal(size=4)
xl = _sparse(rng, (3, 20), 0.3, np.float64); wl = rng.normal(size=(5, 20)); bl = rng.normal(size=5)
print(json.dumps({{"conv": _conv_event(x, w, b, (1, 2), (1, 1)).tolist(), "lin": _linear_event(xl, wl, bl).tolist()}}))
"""


def test_event_kernels_run_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the kernels are plain Python and agree with the compiled ones
    (float64; only the fused multiply-adds of the compiled loops differ: bound as above)."""
    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", _NOJIT.format(tests=tests)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    nojit = json.loads(out.stdout.strip().splitlines()[-1])
    rng = np.random.default_rng(0)
    x = _sparse(rng, (2, 3, 5, 6), 0.3, np.float64)
    w = rng.normal(size=(4, 3, 3, 2))
    b = rng.normal(size=4)
    xl = _sparse(rng, (3, 20), 0.3, np.float64)
    wl = rng.normal(size=(5, 20))
    bl = rng.normal(size=5)
    conv = _conv_event(x, w, b, (1, 2), (1, 1))
    np.testing.assert_allclose(nojit["conv"], conv, rtol=0, atol=float(_conv_bound(x, w, b, (1, 2), (1, 1)).max()))
    np.testing.assert_allclose(nojit["lin"], _linear_event(xl, wl, bl), rtol=1e-13, atol=1e-13)


# -- converted networks ---------------------------------------------------------------------------
def _cnn(seed=0):
    """Conv-BN-ReLU-avgpool x2, Linear(144 -> 128)-ReLU, Linear(128 -> 5) on 1x12x12."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(144, 128), nn.ReLU(), nn.Linear(128, 5))
    return net.eval()


def _images(n, seed=1, shape=(1, 12, 12)):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


class _Spy:
    """Counts the calls of the event kernels (wrapping them where neurosim.convert.event imports them;
    one call per thread range of a layer call)."""

    def __init__(self, monkeypatch):
        self.calls = {"conv": 0, "linear": 0}
        for name, key in (("event_conv2d", "conv"), ("event_linear", "linear")):
            real = getattr(kev, name)

            def wrapped(*a, _real=real, _key=key):
                self.calls[_key] += 1
                return _real(*a)

            monkeypatch.setattr(kev, name, wrapped)


def _run_steps(snn, x, T):
    """Per-step outputs and every IF layer's outputs of ``snn.forward_static(x, T)``, states reset."""
    spikes = []
    hooks = [m.register_forward_hook(lambda m, a, o: spikes.append(o.detach().clone()))
             for m in snn.modules() if isinstance(m, IFNeuron)]
    try:
        reset_states(snn)
        out = snn.forward_static(x, T)
    finally:
        for h in hooks:
            h.remove()
    return out, spikes


def _compare_on_off(snn, x, T, dtype):
    with torch.no_grad():
        on, s_on = _run_steps(snn, x, T)
        assert ev.use_events(snn, False) > 0
        off, s_off = _run_steps(snn, x, T)
    flipped = sum(int((a != b).sum()) for a, b in zip(s_on, s_off))
    total = sum(a.numel() for a in s_on)
    if dtype == torch.float64:
        assert flipped == 0
        scale = float(off.abs().max())
        torch.testing.assert_close(on, off, rtol=0, atol=1e-12 * scale)
    else:
        assert flipped <= 1e-3 * total
        agree = (on.mean(0).argmax(-1) == off.mean(0).argmax(-1)).float().mean()
        assert agree >= 0.99
    return on, off


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_converted_cnn_same_outputs_with_and_without_events(monkeypatch, dtype):
    ann = _cnn().to(dtype)
    x = _images(40).to(dtype)
    snn = nc.ann_to_snn(ann, x, mode="99%")
    layers = ev.event_layers(snn.body)
    assert layers == ["4", "9", "11"]  # the layers reading IF outputs (not the first conv)
    assert [type(snn.body.get_submodule(p)) for p in layers] == [ev.EventConv2d, ev.EventLinear, ev.EventLinear]
    keys = list(snn.state_dict())
    ev.use_events(snn, max_density=1.0)  # every eligible call on events, whatever the density
    spy = _Spy(monkeypatch)
    _compare_on_off(snn, x, 12, dtype)
    assert spy.calls["conv"] > 0 and spy.calls["linear"] > 0
    assert all(type(m) in (nn.Conv2d, nn.Linear) for m in snn.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert list(snn.state_dict()) == keys


def test_zoo_convnet_event_layers_and_outputs(monkeypatch):
    """The zoo ConvNet (neurosim.snn.conv.Conv2d layers) with small channels: its second conv keeps
    its class as a base (isinstance), state_dict keys and NIR export are unchanged; outputs match."""
    from neurosim.models import build_model
    from neurosim.snn.nir import export_nir

    torch.manual_seed(0)
    ann = build_model("convnet", channels=(4, 8), hidden=(128,), seed=0).eval()
    x = _images(24, shape=(1, 28, 28))
    snn = nc.ann_to_snn(ann, x, mode="99.9%", method="_forward")
    conv1 = snn.body.get_submodule("model.features.conv1")
    conv2 = snn.body.get_submodule("model.features.conv2")
    assert type(conv1) is SNNConv2d and type(conv2) is ev.EventSNNConv2d
    assert isinstance(conv2, SNNConv2d) and isinstance(conv2, nn.Conv2d)
    keys = list(snn.state_dict())
    graph = export_nir(snn, (1, 28, 28))
    ev.use_events(snn, max_density=1.0)
    spy = _Spy(monkeypatch)
    on, off = _compare_on_off(snn, x, 16, torch.float32)
    assert spy.calls["conv"] > 0
    assert list(snn.state_dict()) == keys
    assert sorted(export_nir(snn, (1, 28, 28)).nodes) == sorted(graph.nodes)


def test_rebuilt_model_has_event_layers():
    """A converted network rebuilt from its recipe (model files) gets the same event layers."""
    ann = _cnn()
    snn = nc.ann_to_snn(ann, _images(16), mode="max")
    twin = nc.rebuild(_cnn(seed=5), nc.recipe(snn, (1, 12, 12)))
    twin.load_state_dict(snn.state_dict())
    layers = ev.event_layers(snn.body)
    assert ev.event_layers(twin.body) == layers == ["4", "9", "11"]
    assert [type(twin.body.get_submodule(p)) for p in layers] == [type(snn.body.get_submodule(p)) for p in layers]
    x = _images(6).unsqueeze(0).expand(5, 6, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), snn(x), rtol=0, atol=0)


def test_stats_hooks_see_event_layers():
    """measure_activity (forward hooks, no_grad) counts the same SOPs and rates on either path."""
    ann = _cnn().double()
    x = _images(8).double()
    snn = nc.ann_to_snn(ann, x, mode="max")
    ev.use_events(snn, max_density=1.0)
    xs = x.unsqueeze(0).expand(10, *x.shape)
    on = measure_activity(snn, xs)
    ev.use_events(snn, False)
    off = measure_activity(snn, xs)
    assert on.sops == off.sops and on.firing_rates == off.firing_rates and on.macs == off.macs
    assert on.sops["body.4"] > 0


def test_gradients_use_the_dense_op(monkeypatch):
    """With gradients needed the event layers run torch's op: same bits and gradients as without them."""
    ann = _cnn()
    x = _images(8)
    snn = nc.ann_to_snn(ann, x, mode="max")
    ev.use_events(snn, max_density=1.0)
    spy = _Spy(monkeypatch)
    xs = x.unsqueeze(0).expand(6, *x.shape)
    grads = []
    for enabled in (True, False):
        ev.use_events(snn, enabled, max_density=1.0)
        snn.zero_grad()
        reset_states(snn)
        snn.train()
        snn(xs).square().sum().backward()
        grads.append({n: p.grad.clone() for n, p in snn.named_parameters()})
    assert spy.calls == {"conv": 0, "linear": 0}
    for n in grads[0]:
        torch.testing.assert_close(grads[0][n], grads[1][n], rtol=0, atol=0)
    ev.use_events(snn, max_density=1.0)
    with torch.no_grad():
        reset_states(snn)
        snn(xs)
    assert spy.calls["conv"] > 0


def test_dense_fallbacks(monkeypatch):
    """Dense torch op (no kernel call) above the density threshold (or at 0) and for stride, dilation, groups."""
    spy = _Spy(monkeypatch)
    x = torch.from_numpy(_sparse(np.random.default_rng(0), (3, 4, 9, 9), 0.1, np.float32))
    for kw in ({"stride": 2}, {"dilation": 2}, {"groups": 2}, {}):
        conv = nn.Conv2d(4, 6, 3, padding=1, **kw).eval()
        conv.__class__ = ev.EventConv2d
        conv.event_max_density = 0.05 if not kw else 1.0
        with torch.no_grad():
            torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight, conv.bias, conv.stride, 1, conv.dilation,
                                                         conv.groups))
    conv.event_max_density = 0.0  # off, even for an input without events
    with torch.no_grad():
        torch.testing.assert_close(conv(torch.zeros_like(x)), F.conv2d(torch.zeros_like(x), conv.weight, conv.bias,
                                                                       padding=1))
    assert spy.calls["conv"] == 0
    conv.event_max_density = 0.2
    with torch.no_grad():
        conv(x)
    assert spy.calls["conv"] > 0


def test_use_events_bad_input():
    with pytest.raises(TypeError, match="model"):
        ev.use_events(object())
    with pytest.raises(TypeError, match="model"):
        ev.use_events(nn.Linear(2, 2))
    snn = nc.ann_to_snn(_cnn(), _images(8), mode="max")
    with pytest.raises(ValueError, match="max_density"):
        ev.use_events(snn, max_density=1.5)
