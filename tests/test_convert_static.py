"""The fused static-input block ``IF (2x2 pool) -> event conv -> IF`` of ``ConvertedSNN.forward_static``
(``neurosim.convert.static``, ``neurosim.kernels.event_static``).

References: the same network run layer by layer (``fuse=False``) with the conv on events, which does the
same arithmetic in the same order, so outputs and states are compared bit for bit; and a naive NumPy
loop (IF update, 2x2 mean, dense ``conv2d`` in float64), compared with a bound because its sums run in
another order.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neurosim.convert as nc
import neurosim.kernels.event_static as kes
from neurosim.convert import event as ev
from neurosim.convert.modules import IFNeuron
from neurosim.snn import reset_states


def _cnn(pool2=True, seed=0, hidden=0):
    """Conv-BN-ReLU-avgpool, Conv-BN-ReLU(-avgpool), (Linear(hidden)-ReLU,) Linear on 1x12x12."""
    torch.manual_seed(seed)
    layers = [nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
              nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU()]
    layers += [nn.AvgPool2d(2), nn.Flatten()] if pool2 else [nn.Flatten()]
    k = 144 if pool2 else 576
    layers += [nn.Linear(k, hidden), nn.ReLU(), nn.Linear(hidden, 5)] if hidden else [nn.Linear(k, 5)]
    net = nn.Sequential(*layers)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def _images(n, seed=1):
    return torch.rand(n, 1, 12, 12, generator=torch.Generator().manual_seed(seed))


class _Spy:
    def __init__(self, monkeypatch):
        self.calls = 0
        real = kes.if_conv_if

        def wrapped(*a):
            self.calls += a[-2] == 0      # one call per thread range: count the range starting at image 0
            return real(*a)

        monkeypatch.setattr(kes, "if_conv_if", wrapped)


def _convert(dtype, pool2=True, hidden=0):
    ann = _cnn(pool2, hidden=hidden).to(dtype)
    x = _images(48).to(dtype)
    snn = nc.ann_to_snn(ann, x, mode="99%")
    ev.use_events(snn, max_density=1.0)   # the unfused layers on events too: the same sums as the fused block
    return snn, x


def _states(snn):
    return [m.neuron.state[0].clone() for m in snn.modules() if isinstance(m, IFNeuron)]


@pytest.mark.parametrize("hidden", [0, 160])
@pytest.mark.parametrize("pool2", [True, False])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fused_block_is_bit_identical_to_the_layers(monkeypatch, dtype, pool2, hidden):
    """With ``hidden`` the block also runs the first linear layer (160 outputs, >= LINEAR_MIN_OUT)."""
    snn, x = _convert(dtype, pool2, hidden)
    spy = _Spy(monkeypatch)
    with torch.no_grad():
        runs = {}
        for fuse in (False, True):
            reset_states(snn)
            first = snn.forward_static(x[:20], 9, fuse=fuse)
            second = snn.forward_static(x[:20], 5, fuse=fuse)      # states carried on from the first call
            runs[fuse] = (first, second, _states(snn))
    assert spy.calls > 0
    for a, b in zip(runs[True][:2], runs[False][:2]):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(runs[True][2], runs[False][2]))
    assert runs[True][0].abs().sum() > 0
    conv = snn.body.get_submodule("4")
    assert 0 < conv._static_density < 1
    lin = snn.body.get_submodule("9" if pool2 else "8")
    assert isinstance(lin, nn.Linear)
    assert (0 < getattr(lin, "_static_density", -1) < 1) == bool(hidden)


def test_fused_block_matches_a_naive_loop():
    """IF -> 2x2 mean -> conv2d (float64, dense) -> IF -> 2x2 mean, step by step in NumPy."""
    rng = np.random.default_rng(0)
    B, C, H1, O, T = 3, 4, 8, 6, 12
    c1 = rng.uniform(-0.2, 0.9, (B, C, H1, H1))
    w = rng.normal(0, 0.5, (O, C, 3, 3))
    b = rng.normal(0.05, 0.05, O)
    wz = np.ascontiguousarray(w.transpose(1, 2, 3, 0)).reshape(C, -1)
    v1, v2 = np.zeros((B, C, H1, H1)), np.full((B, O, H1 // 2, H1 // 2), 0.1)
    out = np.empty((T, B, O, H1 // 4, H1 // 4))
    nnz = np.zeros((B, 2), np.int64)
    work = np.empty(kes.work_size(C, H1, H1, O, 3, 3, H1 // 2, H1 // 2))
    L = 7
    wl = rng.normal(0, 0.3, (L, O * (H1 // 4) ** 2))
    bl = rng.normal(0, 0.1, L)
    lout = np.empty((T, B, L))
    kes.if_conv_if(c1, v1.copy(), wz, b, v2.copy(), out, np.zeros((1, 1)), np.zeros(0), np.zeros((1, 1, 1)),
                   np.array([3, 3, 1, 1, 1, T, 0]), np.array([1.0, 1.0, 1.0, 1.0]), nnz, work, 0, B)
    assert nnz[:, 1].sum() == 0
    lnnz = np.zeros((B, 2), np.int64)        # the same block with the linear layer on its flattened output
    kes.if_conv_if(c1, v1, wz, b, v2, np.zeros((1, 1, 1, 1, 1)), np.ascontiguousarray(wl.T), bl, lout,
                   np.array([3, 3, 1, 1, 1, T, 1]), np.array([1.0, 1.0, 1.0, 1.0]), lnnz, work, 0, B)
    r1, r2 = np.zeros((B, C, H1, H1)), np.full((B, O, H1 // 2, H1 // 2), 0.1)
    ref, count = [], 0
    for _ in range(T):
        h = r1 + c1
        s = (h >= 1.0).astype(float)
        r1 = h - s
        p = s.reshape(B, C, H1 // 2, 2, H1 // 2, 2).mean((3, 5))
        count += int((p != 0).sum())
        y = F.conv2d(torch.from_numpy(p), torch.from_numpy(w), torch.from_numpy(b), padding=1).numpy()
        h = r2 + y
        s = (h >= 1.0).astype(float)
        r2 = h - s
        ref.append(s.reshape(B, O, H1 // 4, 2, H1 // 4, 2).mean((3, 5)))
    ref = np.stack(ref)
    np.testing.assert_array_equal(out, ref)   # float64 sums in another order: no spike this close to 1
    np.testing.assert_allclose(v1, r1, rtol=0, atol=0)
    np.testing.assert_allclose(v2, r2, rtol=0, atol=1e-12)
    assert nnz[:, 0].sum() == count and ref.sum() > 5
    assert lnnz[:, 0].sum() == count and lnnz[:, 1].sum() == int((ref != 0).sum())
    flat = ref.reshape(T, B, -1)
    want = flat @ wl.T + bl                   # float64, another order: |d| <= 2 n eps sum |w x|
    bound = 2 * (flat.shape[-1] + 1) * np.finfo(float).eps * (np.abs(flat) @ np.abs(wl).T + np.abs(bl))
    assert np.all(np.abs(lout - want) <= bound)


def test_unfused_when_observed_dense_or_not_applicable(monkeypatch):
    snn, x = _convert(torch.float32)
    spy = _Spy(monkeypatch)
    conv = snn.body.get_submodule("4")
    with torch.no_grad():
        reset_states(snn)
        ref = snn.forward_static(x[:10], 6, fuse=False)
        assert spy.calls == 0
        h = snn.body.get_submodule("2").register_forward_hook(lambda *a: None)   # hooks see the unfused layers
        reset_states(snn)
        assert torch.equal(snn.forward_static(x[:10], 6), ref) and spy.calls == 0
        h.remove()
        reset_states(snn)
        assert torch.equal(snn.forward_static(x[:10], 6), ref) and spy.calls == 1
        density = conv._static_density
        conv.event_max_density = density / 2           # the measured input is denser: the next call unfused
        reset_states(snn)
        snn.forward_static(x[:10], 6)
        assert spy.calls == 1 and conv._static_density is None
        reset_states(snn)
        snn.forward_static(x[:10], 6)                   # ... and the one after tries again
        assert spy.calls == 2
        conv.event_max_density = 0.0                    # events off: never fused
        reset_states(snn)
        snn.forward_static(x[:10], 6)
        assert spy.calls == 2
        conv.event_max_density = 1.0
        reset_states(snn)
        snn.forward_static(x[:10], 1)                   # one step: the plain path
        assert spy.calls == 2
    with pytest.raises(TypeError, match="fuse"):
        snn.forward_static(x[:2], 3, fuse=1)


def test_fused_blocks_found_in_the_zoo_convnet():
    from neurosim.convert.static import fused_blocks
    from neurosim.models import build_model

    ann = build_model("convnet", channels=(4, 8), hidden=(32,), seed=0).eval()
    snn = nc.ann_to_snn(ann, torch.rand(16, 1, 28, 28), mode="99.9%", method="_forward")
    plan = fused_blocks(snn.body)
    assert [v[:3] for v in plan.values()] == [("model.features.relu1", "model.features.conv2", "model.features.relu2")]
    assert [v[5] for v in plan.values()] == [("model_flatten", "model.classifier.fc1", "model_classifier_fc1")]


def test_linear_tail_runs_unfused_when_observed_or_dense(monkeypatch):
    snn, x = _convert(torch.float32, True, 160)
    spy = _Spy(monkeypatch)
    lin = snn.body.get_submodule("9")
    with torch.no_grad():
        reset_states(snn)
        ref = snn.forward_static(x[:10], 6, fuse=False)
        h = lin.register_forward_hook(lambda *a: None)     # the hook sees the linear layer's call: it runs itself
        reset_states(snn)
        assert torch.equal(snn.forward_static(x[:10], 6), ref)
        assert spy.calls == 1 and getattr(lin, "_static_density", None) is None
        h.remove()
        reset_states(snn)
        assert torch.equal(snn.forward_static(x[:10], 6), ref)
        assert spy.calls == 2 and 0 < lin._static_density < 1
        lin.event_max_density = lin._static_density / 2    # denser than allowed: the next call runs it unfused ...
        reset_states(snn)
        got = snn.forward_static(x[:10], 6)
        assert spy.calls == 3 and lin._static_density is None
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)   # its own dense path: another summation order
        reset_states(snn)
        snn.forward_static(x[:10], 6)                       # ... and the one after in the block again
        assert spy.calls == 4 and lin._static_density is not None


class _FunctionalFlatten(nn.Module):
    """The _cnn layers with the flatten as torch.flatten(x, 1) (or x.flatten(1)) in forward."""

    def __init__(self, method: bool):
        super().__init__()
        torch.manual_seed(0)
        self.method = method
        self.features = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.fc1 = nn.Linear(144, 160)
        self.fc2 = nn.Linear(160, 5)

    def forward(self, x):  # noqa: D102
        h = self.features(x)
        h = h.flatten(1) if self.method else torch.flatten(h, 1)
        return self.fc2(torch.relu(self.fc1(h)))


@pytest.mark.parametrize("method", [False, True])
def test_linear_tail_after_a_functional_flatten(monkeypatch, method):
    from neurosim.convert.static import fused_blocks

    ann = _FunctionalFlatten(method).eval()
    x = _images(32)
    snn = nc.ann_to_snn(ann, x, mode="99%")
    ev.use_events(snn, max_density=1.0)
    tails = [v[5] for v in fused_blocks(snn.body).values()]
    assert len(tails) == 1 and tails[0] is not None and tails[0][1] == "fc1"
    spy = _Spy(monkeypatch)
    with torch.no_grad():
        reset_states(snn)
        ref = snn.forward_static(x[:12], 7, fuse=False)
        reset_states(snn)
        got = snn.forward_static(x[:12], 7)
    assert spy.calls == 1 and 0 < snn.body.get_submodule("fc1")._static_density < 1
    assert torch.equal(got, ref) and ref.abs().sum() > 0
