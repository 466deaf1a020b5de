"""The one reset helper (``neurosim.snn.reset_states``) and BatchNorm recalibration.

``reset_states`` is checked against the states themselves (None / zero after a reset) for
neurosim layers, spikingjelly and snntorch neurons, user layers with their own ``reset_states()``
and zoo models whose method calls the helper back. ``recalibrate_batchnorm`` is checked
against running statistics computed here by hand from the batches (mean of the batch means,
mean of the unbiased batch variances), with a counting reset to show when states are reset.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from neurosim import snn  # noqa: E402


class Leak(nn.Module):
    """A user layer (not ``Stateful``) with its own ``reset_states()``: s_t = 0.5 s_{t-1} + x_t."""

    def __init__(self):
        super().__init__()
        self.state = None
        self.resets = 0

    def reset_states(self):
        self.state = None
        self.resets += 1

    def forward(self, x):
        for xt in x:
            self.state = xt if self.state is None else 0.5 * self.state + xt
        return self.state


class NeedsArgument(nn.Module):
    def reset_states(self, hard):  # not callable without arguments: left alone
        raise AssertionError("called")


def test_resets_neurosim_layers_and_user_layers():
    model = nn.Sequential(snn.LIFLayer(), Leak(), NeedsArgument())
    model[0](torch.ones(3, 2, 4))
    model[1](torch.ones(3, 2, 4))
    assert model[0].state is not None and model[1].state is not None
    snn.reset_states(model)
    assert model[0].state is None and model[1].state is None and model[1].resets == 1


def test_a_reset_method_that_calls_the_helper_does_not_recurse():
    from neurosim.models import get_model

    net = get_model("spiking_mlp", in_shape=(4,), hidden=(5,), num_classes=3)  # its reset_states calls the helper
    net(torch.ones(2, 1, 4))
    lifs = [m for m in net.modules() if isinstance(m, snn.Stateful)]
    assert lifs and all(m.state is not None for m in lifs)
    snn.reset_states(net)
    assert all(m.state is None for m in lifs)
    net(torch.ones(2, 1, 4))
    net.reset_states()  # the method itself, which walks the model through the helper
    assert all(m.state is None for m in lifs)


def test_every_reset_name_is_the_one_helper():
    from neurosim.distill import reset_model_states
    from neurosim.rsa.features import default_reset

    for reset in (snn.reset_states, reset_model_states, default_reset):
        model = nn.Sequential(snn.LIFLayer(), Leak())
        model(torch.ones(2, 1, 3))
        reset(model)
        assert model[0].state is None and model[1].state is None


def test_resets_spikingjelly_neurons():
    pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import neuron

    model = nn.Sequential(nn.Linear(3, 4), neuron.LIFNode())
    model(torch.full((2, 3), 5.0))
    assert not (isinstance(model[1].v, float) and model[1].v == 0.0)
    snn.reset_states(model)
    assert model[1].v == 0.0  # spikingjelly's rest value (a float after reset)


def test_resets_snntorch_neurons():
    snntorch = pytest.importorskip("snntorch")

    lif = snntorch.Leaky(beta=0.9, init_hidden=True)
    model = nn.Sequential(nn.Linear(3, 4), lif)
    model(torch.full((2, 3), 5.0))
    assert torch.count_nonzero(lif.mem) > 0
    snn.reset_states(model)
    assert torch.count_nonzero(lif.mem) == 0


def test_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="model"):
        snn.reset_states(object())


# ---------------------------------------------------------------------------------- recalibration

class _Counting:
    def __init__(self):
        self.calls = 0

    def __call__(self, model):
        self.calls += 1
        snn.reset_states(model)


def test_running_statistics_are_the_plain_average_over_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), Leak()).eval()
    g = torch.Generator().manual_seed(1)
    batches = [torch.randn(2, n, 3, generator=g) * 3 + 1 for n in (5, 7, 4)]  # [T, B, 3]
    with torch.no_grad():  # reference: BN sees each batch's T * B rows (nn.Linear maps the last axis)
        rows = [net[0](b).reshape(-1, 4) for b in batches]
    ref_mean = torch.stack([r.mean(0) for r in rows]).mean(0)
    ref_var = torch.stack([r.var(0, unbiased=True) for r in rows]).mean(0)

    class Flat(nn.Module):  # BatchNorm1d over [T * B, C]
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner[2](self.inner[1](self.inner[0](x).reshape(-1, 4)).reshape(*x.shape[:2], 4))

    model = Flat(net).eval()
    net[1].momentum = 0.25
    reset = _Counting()
    assert snn.recalibrate_batchnorm(model, iter(batches), reset=reset) == 1
    torch.testing.assert_close(net[1].running_mean, ref_mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(net[1].running_var, ref_var, rtol=1e-5, atol=1e-6)
    assert net[1].momentum == 0.25 and not model.training  # restored
    assert reset.calls == 1 + len(batches)  # before the first batch and after each
    assert net[2].state is None
    assert all(not p.grad_fn for p in net.parameters())


def test_one_tensor_is_one_batch_and_no_batchnorm_runs_nothing():
    net = nn.Sequential(nn.BatchNorm1d(2))
    net.train()
    x = torch.tensor([[0.0, 1.0], [2.0, 5.0]])
    assert snn.recalibrate_batchnorm(net, x) == 1 and net.training
    torch.testing.assert_close(net[0].running_mean, x.mean(0))

    def never():
        raise AssertionError("consumed")
        yield

    assert snn.recalibrate_batchnorm(nn.Sequential(nn.Linear(2, 2)), never()) == 0
    untracked = nn.Sequential(nn.BatchNorm1d(2, track_running_stats=False))
    assert snn.recalibrate_batchnorm(untracked, never()) == 0


def test_recalibration_validates_its_inputs():
    with pytest.raises(TypeError, match="model"):
        snn.recalibrate_batchnorm("net", torch.zeros(2, 2))
    with pytest.raises(TypeError, match="batches"):
        snn.recalibrate_batchnorm(nn.Sequential(nn.BatchNorm1d(2)), [[0.0, 1.0]])


def test_trainer_recalibrates_with_the_same_function(monkeypatch):
    """``Trainer.recalibrate_bn`` delegates: same samples in eval-batch chunks, the Trainer's reset."""
    from neurosim.distill import Trainer, trainer as trainer_mod
    import neurosim.snn.calibration as calibration

    seen = {}
    real = calibration.recalibrate_batchnorm

    def spy(model, batches, *, reset=None):
        batches = list(batches)
        seen.update(n=[b.shape for b in batches], reset=reset)
        return real(model, batches, reset=reset)

    monkeypatch.setattr(calibration, "recalibrate_batchnorm", spy)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    tr = Trainer(net, None, batch_size=4, eval_batch_size=3, progress=False)
    x = torch.randint(0, 255, (10, 1, 2, 2), dtype=torch.uint8)
    assert tr.recalibrate_bn(x, 8) == 1
    assert [tuple(s) for s in seen["n"]] == [(3, 1, 2, 2), (3, 1, 2, 2), (2, 1, 2, 2)]
    assert seen["reset"] is trainer_mod.reset_model_states
    assert tr.recalibrate_bn(x, 0) == 0
