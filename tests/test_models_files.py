"""Model files and seeded builds in ``neurosim.models``; the data helpers the commands share.

``load_model`` returns a :class:`~neurosim.models.LoadedModel` record: the weights are compared
tensor by tensor with the ones saved, the record's fields with what was written; nothing is
attached to the model. ``synthetic_cortex`` is checked against its formula written out here
(a plain loop), ``load_tensors`` against ``neurosim.data.load_dataset``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurosim.models import (  # noqa: E402
    FIXED_INPUT_SIZE, LoadedModel, build_model, get_model, input_config, load_model, save_model,
)

TINY = {"channels": (4, 8), "hidden": (16,)}


def test_build_model_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = build_model("spiking_convnet", seed=5, **TINY)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = build_model("spiking_convnet", seed=5, **TINY)
    c = build_model("spiking_convnet", seed=6, **TINY)
    torch.manual_seed(5)
    ref = get_model("spiking_convnet", **TINY)  # what manual_seed(seed) + get_model gives
    for k, v in ref.state_dict().items():
        assert torch.equal(a.state_dict()[k], v) and torch.equal(b.state_dict()[k], v), k
    assert any(not torch.equal(c.state_dict()[k], v) for k, v in ref.state_dict().items())
    with pytest.raises(KeyError, match="spiking_mlp"):
        build_model("no_such_net")


def test_input_config_builds_every_model_for_28x28_grey_images():
    assert input_config("spiking_mlp") == {"in_shape": (1, 28, 28), "num_classes": 10}
    assert input_config("convnet") == {"in_channels": 1, "input_size": 28, "num_classes": 10}
    assert input_config("sew_resnet_small")["stem"] == "small"
    net = build_model("spiking_convnet", **{**input_config("spiking_convnet"), **TINY}).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 1, 28, 28))
    assert out.shape == (3, 10)


def test_load_model_record_of_a_model_file(tmp_path):
    torch.manual_seed(0)
    net = get_model("spiking_convnet", input_size=32, **TINY)
    path = tmp_path / "model.pt"
    save_model(path, net, "spiking_convnet", {"input_size": 32, **TINY}, dataset="embedded", test_acc=0.5,
               input_size=32, timesteps=4)
    rec = load_model(str(path))
    assert isinstance(rec, LoadedModel)
    assert (rec.name, rec.trained, rec.input_size, rec.path) == ("spiking_convnet", True, 32, str(path))
    assert dict(rec.meta) == {"dataset": "embedded", "test_acc": 0.5, "input_size": 32, "timesteps": 4}
    assert dict(rec.cfg) == {"input_size": 32, **TINY} and not rec.model.training
    for k, v in net.state_dict().items():
        assert torch.equal(rec.model.state_dict()[k], v), k
    assert not [a for a in vars(rec.model) if a.startswith("_tsrsa")]  # nothing patched onto the model
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.trained = False
    same = load_model(f"spiking_convnet@{path}")
    assert same.name == "spiking_convnet" and same.trained


def test_load_model_untrained_names():
    rec = load_model("spiking_convnet", 3, **TINY)
    assert not rec.trained and rec.path is None and dict(rec.meta) == {}
    assert rec.input_size == FIXED_INPUT_SIZE["spiking_convnet"] == 28  # its classifier fixes 28 x 28
    assert load_model("spiking_convnet", 3, input_size=36, **TINY).input_size == 36
    assert load_model("sew_resnet_small", 0, base_width=4).input_size is None  # any size
    ref = build_model("spiking_convnet", seed=3, **TINY)
    for k, v in ref.state_dict().items():
        assert torch.equal(rec.model.state_dict()[k], v), k


def test_tsrsa_command_keeps_its_old_form(tmp_path):
    """``neurosim.commands.tsrsa.load_model`` still returns ``(name, model, trained)``."""
    from neurosim.commands.tsrsa import load_model as old

    name, net, trained = old("spiking_convnet", 0, **TINY)
    assert name == "spiking_convnet" and not trained and not net.training


# ------------------------------------------------------------------------------------------ data

def _synthetic_reference(movie, n_units, rng):
    """The LN-Poisson rates of ``synthetic_cortex``, by a plain loop over frames and units."""
    T = movie.shape[0]
    flat = movie.reshape(T, -1).astype(np.float64)
    W = rng.normal(size=(flat.shape[1], n_units)) / np.sqrt(flat.shape[1])
    mean = flat.mean()
    rate = np.zeros((T, n_units))
    prev = np.zeros(n_units)
    for t in range(T):
        for u in range(n_units):
            d = sum((flat[t, i] - mean) * W[i, u] for i in range(flat.shape[1]))
            a = d + (0.6 * prev[u] if t > 0 else 0.0)
            prev[u] = a
            rate[t, u] = np.log(1.0 + np.exp(3.0 * a))
    return rate


def test_synthetic_cortex_counts_follow_the_rates():
    from neurosim.data import synthetic_cortex

    movie = np.random.default_rng(0).uniform(size=(6, 3, 4))
    rate = _synthetic_reference(movie, 5, np.random.default_rng(7))
    n_rep = 4000
    counts = synthetic_cortex(movie, 5, n_rep, np.random.default_rng(7))
    assert counts.shape == (6, n_rep, 5) and counts.dtype == np.float64
    # Poisson mean over n_rep repeats: standard error sqrt(rate / n_rep); bound 5 SE (+ 1e-9)
    se = np.sqrt(rate / n_rep)
    assert np.all(np.abs(counts.mean(axis=1) - rate) <= 5 * se + 1e-9)
    assert np.array_equal(counts, synthetic_cortex(movie, 5, n_rep, 7))  # int seed = default_rng(seed)


@pytest.mark.parametrize("args,err,match", [
    ((np.zeros(5), 3, 2), ValueError, "movie"),
    ((np.array([[np.nan, 1.0]]), 3, 2), ValueError, "NaN"),
    ((np.zeros((2, 2), dtype=object), 3, 2), TypeError, "real numbers"),
    ((np.zeros((2, 2)), 0, 2), ValueError, "n_units"),
    ((np.zeros((2, 2)), 3, 1.5), TypeError, "n_repeats"),
])
def test_synthetic_cortex_validates(args, err, match):
    from neurosim.data import synthetic_cortex

    with pytest.raises(err, match=match):
        synthetic_cortex(*args, rng=0)


def test_load_tensors_wraps_load_dataset():
    from neurosim.data import load_dataset
    from neurosim.distill import load_tensors

    x, y = load_tensors("embedded", "test", None, 50, 3)
    xn, yn = load_dataset("embedded", "test", limit=50, seed=3)
    assert x.dtype == torch.uint8 and x.shape == (50, 1, 28, 28) and y.dtype == torch.int64
    assert np.array_equal(x[:, 0].numpy(), xn) and np.array_equal(y.numpy(), yn)
