"""Rate and latency encoders for images."""
from __future__ import annotations

import numpy as np
import pytest

from neurosim.data.encoders import latency_encode, rate_encode, to_unit


def test_rate_encoding_probability_and_seed():
    x = np.array([[0.0, 0.25], [0.5, 1.0]])
    s = rate_encode(x, 4000, rng=0)
    assert s.shape == (4000, 2, 2) and s.dtype == np.uint8
    assert np.allclose(s.mean(0), x, atol=0.03)  # Bernoulli mean, 4 sigma at n = 4000
    assert s[:, 0, 0].sum() == 0 and s[:, 1, 1].all()
    assert np.array_equal(s, rate_encode(x, 4000, rng=0))
    assert np.allclose(rate_encode(x, 4000, rng=1, gain=0.5).mean(0), 0.5 * x, atol=0.03)


def test_latency_encoding_times():
    img = np.array([[255, 0], [128, 26]], dtype=np.uint8)
    s = latency_encode(img, 11, threshold=0.05)
    assert s.sum(0).tolist() == [[1, 0], [1, 1]]
    t = s.argmax(0)
    x = to_unit(img)
    assert t[0, 0] == 0 and t[1, 0] == round((1 - x[1, 0]) * 10) and t[1, 1] == round((1 - x[1, 1]) * 10)
    lg = latency_encode(np.array([0.5, 0.2]), 50, threshold=0.1, mode="log", tau=5.0)
    tl = lg.argmax(0)
    assert tl[0] == round(5 * np.log(0.5 / 0.4)) and tl[1] == round(5 * np.log(0.2 / 0.1))


def test_encoder_validation():
    with pytest.raises(ValueError, match="n_steps"):
        rate_encode(np.zeros(3), 0)
    with pytest.raises(ValueError, match="0, 1"):
        rate_encode(np.array([2.0]), 3)
    with pytest.raises(ValueError, match="mode"):
        latency_encode(np.zeros(2), 3, mode="exp")


@pytest.mark.parametrize("encode", [lambda x: rate_encode(x, 3, rng=0), lambda x: latency_encode(x, 3)])
def test_encoders_refuse_a_scalar_image(encode):
    """A 0-d image crashed inside np.nonzero (latency) or gave a shapeless code (rate)."""
    with pytest.raises(ValueError, match="images must be an array with at least one dimension"):
        encode(1.0)
    assert encode(np.array([1.0])).shape == (3, 1)  # one pixel, wrapped: fine
