"""``sim.song_abbott_stdp()`` (SIMULATION.md §4) against the spec's measured Brian2 numbers.

The full published run (100 s simulated, float64, ~20 s of wall time here) gives the bimodal
distribution; the nearest-neighbour variant runs away within 10 s simulated.
"""
from __future__ import annotations

import numpy as np
import pytest

import neurosim as ns


def test_all_to_all_gives_bimodal_weights_and_regulates_the_rate():
    """Brian2 (seeds 1, 2): 23.4 / 23.6 % below 0.1 w_max, 18.5 / 19.3 % above 0.9 w_max, mean 0.475 /
    0.470, output 36.0 / 26.0 Hz in the first 10 s -> 19.9 / 18.5 Hz in the last 10 s. Acceptance (the
    issue): >= 15 % in both tails after 100 s; besides, mean w / w_max within 0.40-0.55 and the rate
    falls by at least a quarter to 15-25 Hz."""
    net = ns.sim.song_abbott_stdp(rng=1)
    assert net.meta["duration_ms"] == 100_000.0
    net.run(net.meta["duration_ms"], progress=False)
    w = net.synapses[0].weights / net.meta["w_max"]
    assert w.size == 1000 and w.min() >= 0 and w.max() <= 1
    assert np.mean(w < 0.1) >= 0.15 and np.mean(w > 0.9) >= 0.15
    assert 0.40 < w.mean() < 0.55
    hist = np.histogram(w, bins=10, range=(0, 1))[0]
    assert hist[0] > 2 * hist[4] and hist[9] > 2 * hist[5]  # U-shaped
    tp, _ = net.monitors["spikes"].local(net.groups["post"])
    first, last = np.sum(tp < 10_000) / 10.0, np.sum(tp >= 90_000) / 10.0
    assert 15.0 < last < 25.0 and last < 0.75 * first
    wm = net.monitors["weights"]
    assert wm.w.shape == (101, 1000)
    np.testing.assert_array_equal(wm.w[-1], net.synapses[0].weights)


def test_nearest_neighbour_pairing_runs_away():
    """Brian2: every weight at w_max and 320 -> 416 Hz output; here 10 s of it."""
    net = ns.sim.song_abbott_stdp(rng=1, pairing="nearest")
    net.run(10_000.0, progress=False)
    w = net.synapses[0].weights / net.meta["w_max"]
    assert w.mean() > 0.95 and np.mean(w > 0.9) > 0.9
    tp, _ = net.monitors["spikes"].local(net.groups["post"])
    assert np.sum(tp >= 5_000) / 5.0 > 250.0


def test_catalog_entry_and_sizes():
    entry = ns.sim.NETWORKS["stdp"]
    net = entry(n_neurons=11, rng=0)
    assert net.n_neurons == 11 and net.n_synapses == 10
    assert list(net.groups) == ["inputs", "post"]
    w = net.synapses[0].weights
    assert np.all((w >= 0) & (w <= 0.01))
    with pytest.raises(ValueError, match="n_neurons"):
        entry(n_neurons=1)
    with pytest.raises(ValueError, match="pairing"):
        ns.sim.song_abbott_stdp(n_inputs=3, pairing="nn")
    with pytest.raises(ValueError, match="w_max"):
        ns.sim.song_abbott_stdp(n_inputs=3, w_max=0.0)
