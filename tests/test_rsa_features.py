"""Feature extraction by forward hooks: continuous vs static protocols on tiny torch models."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neurosim.rsa.features import extract_features, list_layers  # noqa: E402


class Leak(nn.Module):
    """Toy stateful layer: s_t = 0.5 s_{t-1} + x_t; multi-step ([T, B, D]) or single-step ([B, D])."""

    def __init__(self):
        super().__init__()
        self.state = None

    def reset_states(self):
        self.state = None

    def _step(self, x):
        self.state = x if self.state is None else 0.5 * self.state + x
        return self.state

    def forward(self, x):
        if x.ndim == 2:
            return self._step(x)
        return torch.stack([self._step(xt) for xt in x])


def _toy(seed=0, D=6, H=5):
    torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(lin=nn.Linear(D, H), leak=Leak()))


def _reference_continuous(model, frames):
    y = model.lin(torch.as_tensor(frames)).detach().numpy()
    s, out = None, []
    for yt in y:
        s = yt if s is None else 0.5 * s + yt
        out.append(s)
    return y, np.array(out)


def test_continuous_state_persists_across_chunks():
    frames = np.random.default_rng(0).normal(size=(11, 6)).astype(np.float32)
    model = _toy()
    y, ref = _reference_continuous(model, frames)
    for chunk in (1, 3, 16):
        f = extract_features(model, frames, ["lin", "leak"], mode="continuous", chunk=chunk)
        assert f["leak"].shape == (11, 5) and f["leak"].dtype == np.float32
        assert np.allclose(f["leak"], ref, atol=1e-5)
        assert np.allclose(f["lin"], y, atol=1e-6)
    single = extract_features(model, frames, "leak", mode="continuous", chunk=4, step_mode="single")
    assert np.allclose(single["leak"], ref, atol=1e-5)


def test_static_mode_resets_and_averages():
    frames = np.random.default_rng(1).normal(size=(7, 6)).astype(np.float32)
    model = _toy()
    y = model.lin(torch.as_tensor(frames)).detach().numpy()
    factor = np.mean([1, 1.5, 1.75, 1.875])  # s_k = (2 - 2^(1-k)) y over 4 steps from rest
    for bs in (1, 3):
        f = extract_features(model, frames, ["leak"], mode="static", steps=4, batch_size=bs)
        assert np.allclose(f["leak"], factor * y, atol=1e-5)
    f1 = extract_features(model, frames, ["leak"], mode="static", steps=1, step_mode="single")
    assert np.allclose(f1["leak"], y, atol=1e-6)


def test_bad_layer_lists_available_names():
    model = _toy()
    assert list_layers(model) == ["lin", "leak"]
    with pytest.raises(ValueError, match="available layers: lin, leak"):
        extract_features(model, np.zeros((3, 6), np.float32), ["nope"])
    with pytest.raises(ValueError, match="mode"):
        extract_features(model, np.zeros((3, 6), np.float32), ["lin"], mode="movie")


def test_spikingjelly_multistep_net_and_memmap(tmp_path):
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(layer.Flatten(step_mode="m"), layer.Linear(12, 10, step_mode="m"),
                        neuron.LIFNode(tau=2.0, step_mode="m"))
    # weights and frames on a 1/16 grid: the Linear outputs are exact, so chunked, batched and
    # whole-movie runs (different GEMM shapes) give bit-identical spikes on any machine
    with torch.no_grad():
        net[1].weight.copy_((net[1].weight * 8.0 * 16).round() / 16)
        net[1].bias.copy_((net[1].bias * 16).round() / 16)
    frames = ((torch.rand(9, 3, 2, 2) * 16).round() / 16).numpy()
    functional.reset_net(net)
    with torch.no_grad():
        ref = net(torch.as_tensor(frames).unsqueeze(1))[:, 0].numpy()  # whole movie, one call
    assert ref.sum() > 0  # some spikes
    f = extract_features(net, frames, ["2"], mode="continuous", chunk=4, memmap_dir=tmp_path)
    assert isinstance(f["2"], np.memmap) and np.array_equal(f["2"], ref.reshape(9, -1))
    st = extract_features(net, frames, ["2"], mode="static", steps=3, batch_size=4)
    rev = extract_features(net, frames[::-1].copy(), ["2"], mode="static", steps=3, batch_size=4)
    assert np.array_equal(st["2"], rev["2"][::-1])  # reset between frames: order does not matter
    for k in (0, 5):
        functional.reset_net(net)
        with torch.no_grad():
            one = net(torch.as_tensor(frames[k:k + 1]).unsqueeze(0).expand(3, 1, 3, 2, 2))
        assert np.allclose(st["2"][k], one.mean(0)[0].numpy())


def test_snntorch_single_step_net():
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), snn.Leaky(beta=0.5, init_hidden=True, output=True))
    frames = np.random.default_rng(0).random((7, 6)).astype(np.float32) * 3
    # reference: snntorch's Leaky from rest, mem_t = beta mem_{t-1} + x_t - thr * S(mem_{t-1} > thr)
    W, b = net[0].weight.detach().numpy(), net[0].bias.detach().numpy()
    mem, ref = np.zeros(8, np.float32), []
    for x in frames:
        mem = 0.5 * mem + (W @ x + b) - (mem > 1.0)
        ref.append(mem.copy())
    f = extract_features(net, frames, ["1"], mode="continuous", step_mode="single", output_index=1)
    assert f["1"].shape == (7, 8)
    assert np.allclose(f["1"], np.array(ref), atol=1e-5)
    again = extract_features(net, frames, ["1"], mode="continuous", step_mode="single", output_index=1)
    assert np.array_equal(f["1"], again["1"])  # state reset between runs
