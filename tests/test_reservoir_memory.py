"""Memory estimates of neurosim.reservoir: checked against tracemalloc, and clear errors when too big.

The reference for every estimate is ``tracemalloc``'s peak of the real construction (numpy
reports its array allocations to tracemalloc); LAPACK's private copies are invisible to it,
so formulas that count one are compared with the measured peak plus that copy.
"""
from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest

import neurosim.reservoir as R
from neurosim.reservoir import memory


def _traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


NODES = [
    ("lsm", lambda n: R.LSM(n, rng=0)),
    ("lsm-device-signed", lambda n: R.LSM(n, frac_exc=None, weights=R.ResistiveDevice(n_levels=32), rng=0)),
    ("lsm-device-dale", lambda n: R.LSM(n, weights=R.ResistiveDevice(), rng=0)),
    ("ei", lambda n: R.EIReservoir(n, rng=0)),
    ("ei-dense-inhibitory", lambda n: R.EIReservoir(n, density=1.0, frac_exc=0.2, rng=0)),
    ("izhikevich", lambda n: R.IzhikevichReservoir(n, rng=0)),
]


@pytest.mark.parametrize("input_dim", [1, 97])
@pytest.mark.parametrize("name, make", NODES, ids=[n for n, _ in NODES])
def test_node_estimate_bounds_the_traced_peak(name, make, input_dim):
    node = make(300)
    peak = _traced_peak(lambda: node.initialize(input_dim))
    est = node.memory_bytes(input_dim)
    # an upper bound, and a tight one: the formulas count every [n, n] and [n, d] array
    assert peak <= est <= 1.15 * peak, (peak, est)
    kept = sum(a.nbytes for a in vars(node).values() if isinstance(a, np.ndarray))
    kept += sum(a.nbytes for a in getattr(node, "_csr", ()))
    assert kept <= node.weight_bytes(input_dim) <= 1.15 * kept


@pytest.mark.parametrize("folds", [1, 3])
def test_ridge_estimate_bounds_the_traced_peak(folds):
    rng = np.random.default_rng(0)
    X, Y = rng.random((900, 200)), rng.random((900, 4))
    model = R.Ridge(1e-3) if folds == 1 else R.RidgeCV(k=folds)
    peak = _traced_peak(lambda: model.fit(X, Y))
    rows = 900 if folds == 1 else 2 * (900 - 900 // folds)
    est = memory.ridge_fit_bytes(rows, 200, 4)
    lapack_copy = 8 * 200 * 200  # np.linalg.solve's private copy of X^T X
    assert peak <= est <= 1.2 * (peak + lapack_copy)


@pytest.mark.parametrize("make", [lambda: R.LSM(10 ** 6), lambda: R.EIReservoir(10 ** 6),
                                  lambda: R.IzhikevichReservoir(10 ** 6)],
                         ids=["lsm", "ei", "izhikevich"])
def test_huge_reservoir_is_a_value_error_with_the_estimate(make):
    # 10^6 units: 8 TB per dense weight matrix (before: a MemoryError deep in numpy at first run)
    with pytest.raises(ValueError, match=r"units=1000000: .* needs about [\d.]+ TiB .* available .*"
                                         r"largest units that fits is \d+"):
        make()


def test_large_input_width_is_checked_at_initialize():
    node = R.LSM(2000, rng=0)  # fits
    with pytest.raises(ValueError, match=r"input_dim=10000000\).* the largest units that fits is \d+"):
        node.initialize(10 ** 7)
    assert not node.initialized


def test_largest_size_in_the_message_fits_and_the_next_does_not(monkeypatch):
    budget = 100 << 20
    monkeypatch.setattr(memory, "available_memory", lambda: (budget, "test"))
    with pytest.raises(ValueError, match="100.0 MiB is available") as info:
        R.LSM(4000, rng=0)
    best = int(re.search(r"largest units that fits is (\d+)", str(info.value)).group(1))
    probe = R.LSM(1, rng=0)
    assert probe.memory_bytes(1, best) <= budget < probe.memory_bytes(1, best + 1)
    R.LSM(best, rng=0)  # no error at the size the message suggests


def test_readouts_check_their_square_matrices():
    # views cost nothing; before the check, fit/construct asked numpy for terabytes (MemoryError)
    X = np.broadcast_to(0.0, (10, 10 ** 6))
    with pytest.raises(ValueError, match=r"features \(X.shape\[1\]\)=1000000: Ridge.fit"):
        R.Ridge().fit(X, np.zeros(10))
    with pytest.raises(ValueError, match=r"features \(X.shape\[1\]\)=1000000: RidgeCV.fit"):
        R.RidgeCV(k=2).fit(X, np.zeros(10))
    with pytest.raises(ValueError, match=r"n_in=1000000: FORCEReadout"):
        R.FORCEReadout(10 ** 6, 2)
    with pytest.raises(ValueError, match=r"n_out=1000000: sparse_weights"):
        R.sparse_weights(10 ** 6, 10 ** 6, 0.1)


def test_available_memory_is_positive_and_named():
    avail, source = memory.available_memory()
    assert avail > 0 and source
    assert memory.format_bytes(80 * 2 ** 30) == "80.0 GiB" and memory.format_bytes(512) == "512 B"


def test_largest_fitting_matches_a_linear_scan():
    def est(n):
        return 3 * n * n + 7

    for budget in (0, 6, 7, 10, 100, 12345):
        scan = max([n for n in range(0, 200) if est(n) <= budget] or [0])
        assert memory.largest_fitting(est, budget, 199) == scan
