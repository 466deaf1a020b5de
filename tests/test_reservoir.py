"""Reservoirs: node API, weights, LSM/E-I/Izhikevich kernels vs naive loops, tasks, metrics."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import neurosim.reservoir as R
from neurosim.reservoir.base import dale_weights, n_excitatory
from naive_reservoir import ei_naive, izhikevich_naive, lsm_naive, mackey_glass_naive, narma10_naive


def test_import_does_not_pull_torch():
    code = "import sys, neurosim.reservoir, neurosim.data.events, neurosim.data.encoders; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


# ----------------------------------------------------------------------------- weights
def test_dale_law_signs_hold():
    n, fe = 50, 0.8
    w = dale_weights(n, fe, 0.5, rng=0)
    ne = n_excitatory(n, fe)
    assert ne == 40
    assert np.all(w[:, :ne] >= 0) and np.all(w[:, ne:] <= 0)
    assert np.count_nonzero(w[:, :ne]) > 0 and np.count_nonzero(w[:, ne:]) > 0
    assert np.all(np.diag(w) == 0)
    lsm = R.LSM(60, frac_exc=0.75, rng=1).initialize(3)
    assert np.all(lsm.W[:, :45] >= 0) and np.all(lsm.W[:, 45:] <= 0)
    ei = R.EIReservoir(30, rng=2).initialize(1)
    assert np.all(ei.W_E >= 0) and np.all(ei.W_I >= 0)
    assert not ei.W_E[:, ei.n_exc:].any() and not ei.W_I[:, :ei.n_exc].any()
    izh = R.IzhikevichReservoir(40, rng=3).initialize(1)
    assert np.all(izh.W[:, :32] >= 0) and np.all(izh.W[:, 32:] <= 0)


def test_spectral_radius_scaling():
    w = R.sparse_weights(80, 80, 0.2, rng=0)
    w2 = R.scale_spectral_radius(w, 0.9)
    assert np.isclose(np.max(np.abs(np.linalg.eigvals(w2))), 0.9, rtol=1e-10)
    lsm = R.LSM(50, spectral_radius=1.3, rng=0).initialize(2)
    assert np.isclose(R.spectral_radius(lsm.W), 1.3, rtol=1e-10)
    with pytest.raises(ValueError, match="rho"):
        R.scale_spectral_radius(w, 0.0)
    with pytest.raises(ValueError, match="spectral_radius"):
        R.LSM(10, spectral_radius=-1.0)


def test_sparse_density():
    w = R.sparse_weights(200, 200, 0.1, rng=0)
    assert abs(np.count_nonzero(w) / w.size - 0.1) < 0.01


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("cls", [R.LSM, R.EIReservoir, R.IzhikevichReservoir])
def test_bad_sizes_and_fractions(cls):
    with pytest.raises(ValueError, match="units"):
        cls(0)
    with pytest.raises(ValueError, match="frac_exc"):
        cls(10, frac_exc=1.0)
    with pytest.raises(ValueError, match="frac_exc"):
        cls(10, frac_exc=0.0)
    node = cls(10, rng=0)
    node.run(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="input width mismatch"):
        node.run(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="input_dim"):
        cls(10).initialize(0)


def test_other_validation():
    with pytest.raises(ValueError, match="density"):
        R.LSM(10, density=0.0)
    with pytest.raises(ValueError, match="reset"):
        R.LSM(10, reset="soft")
    with pytest.raises(ValueError, match="n_out"):
        R.sparse_weights(0, 3, 0.5)
    with pytest.raises(ValueError, match="max_delay"):
        R.memory_capacity(np.zeros((100, 2)), np.zeros(100), 0)
    with pytest.raises(ValueError, match="rho_lo"):
        R.EIReservoir(10, rho_lo=0.5, rho_hi=0.2)
    with pytest.raises(ValueError, match="latency"):
        R.timing_task(2, latency=(500, 10), trial_len=400)


# ----------------------------------------------------------------------------- LSM
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_lsm_kernel_equals_naive_and_step(reset):
    rng = np.random.default_rng(0)
    lsm = R.LSM(12, frac_exc=0.75, density=0.4, v_th=1.0, input_scale=1.0, rec_scale=0.6, reset=reset, rng=4)
    u = (rng.random((40, 5)) < 0.3).astype(float)
    spikes = lsm.run(u, reset=True)
    ref, gap = lsm_naive(u @ lsm.W_in.T, lsm.W, lsm.decay, lsm.v_th, reset, margin=True)
    assert spikes.sum() > 0
    # the kernel adds the recurrent inputs one by one, the reference sums them first (and the
    # drives come from other GEMM shapes below): membranes differ by a few ulps (~1e-15); none
    # comes within 1e-9 of the threshold, so the spike trains are identical
    assert gap > 1e-9
    assert np.array_equal(spikes, ref)
    # the pure step reproduces the kernel
    state = lsm.initial_state()
    for t in range(len(u)):
        state = lsm._step(state, u[t])
        assert np.array_equal(state[1], spikes[t])
    # batched features equal per-sample runs
    xb = (rng.random((3, 40, 5)) < 0.3).astype(float)
    sp = lsm.spikes(xb, chunk=2)
    for b in range(3):
        assert lsm_naive(xb[b] @ lsm.W_in.T, lsm.W, lsm.decay, lsm.v_th, reset, margin=True)[1] > 1e-9
        assert np.array_equal(sp[b], lsm.run(xb[b], reset=True))
    feats = lsm.transform(xb, n_windows=2)
    assert np.array_equal(feats[:, :12], sp[:, :20].sum(1)) and np.array_equal(feats[:, 12:], sp[:, 20:].sum(1))


def test_lsm_single_neuron_analytic():
    # one neuron, constant input I, no recurrence: mem_t = I (1 - d^t)/(1 - d) until > v_th
    lsm = R.LSM(1, frac_exc=None, density=1.0, input_density=1.0, decay=0.5, v_th=1.5, rng=0).initialize(1)
    lsm.W[:] = 0.0
    lsm._w_t[:] = 0.0
    lsm.W_in[:] = 1.0
    sp = lsm.run(np.ones((6, 1)))[:, 0]
    # mem: 1, 1.5, 1.75 (spike), reset -> 1, 1.5, 1.75 (spike)
    assert np.array_equal(sp, [0, 0, 1, 0, 0, 1])


def test_same_seed_same_reservoir_and_results():
    u = R.memory_task_input(300, rng=0)[:, None]
    for cls in (R.LSM, R.EIReservoir, R.IzhikevichReservoir):
        a, b = cls(30, rng=7), cls(30, rng=7)
        ra, rb = a.run(u * 5), b.run(u * 5)
        assert np.array_equal(ra, rb)
        assert np.array_equal(a.W_in, b.W_in)
    dev = R.ResistiveDevice(n_levels=16)
    a = R.LSM(20, weights=dev, rng=3).initialize(4)
    b = R.LSM(20, weights=dev, rng=3).initialize(4)
    assert np.array_equal(a.W, b.W) and not np.array_equal(a.W, R.LSM(20, weights=dev, rng=4).initialize(4).W)


# ----------------------------------------------------------------------------- device model
def test_device_statistics_match_parameters():
    dev = R.ResistiveDevice(g_lrs=40.0, g_hrs=4.0, sigma_lrs=0.2, sigma_hrs=0.4, p_set=0.3, sigma_d2d=0.1,
                            sigma_read=0.0, g_min=1e-6, g_max=1e6)
    g = dev.program(400_000, rng=0)
    m, v = dev.moments()
    assert abs(g.mean() - m) / m < 0.01
    assert abs(g.var() - v) / v < 0.03
    # fraction in LRS: conductances above the geometric mean of the two states
    assert abs(np.mean(g > np.sqrt(40 * 4)) - 0.3) < 0.01
    # differential pair: zero mean, variance 2 var(G) (w_scale / g_ref)^2
    w = dev.signed(200_000, rng=1)
    assert abs(w.mean()) < 0.01 and abs(w.var() - 2 * v / dev.g_ref ** 2) / (2 * v / dev.g_ref ** 2) < 0.03
    # read noise: relative std
    dn = R.ResistiveDevice(sigma_read=0.05)
    r = dn.read(np.full(100_000, 10.0), rng=2)
    assert abs(r.std() / 10.0 - 0.05) < 0.002
    # quantisation: only n_levels values, all inside the window
    dq = R.ResistiveDevice(n_levels=8, g_min=1.0, g_max=50.0, sigma_read=0.0)
    q = dq.program(10_000, rng=3)
    assert len(np.unique(q)) <= 8 and q.min() >= 1.0 and q.max() <= 50.0 + 1e-9


def test_device_validation():
    with pytest.raises(ValueError, match="g_hrs"):
        R.ResistiveDevice(g_lrs=1.0, g_hrs=2.0)
    with pytest.raises(ValueError, match="p_set"):
        R.ResistiveDevice(p_set=1.5)
    with pytest.raises(ValueError, match="n_levels"):
        R.ResistiveDevice(n_levels=1)
    with pytest.raises(ValueError, match="sigma_read"):
        R.ResistiveDevice(sigma_read=-0.1)


# ----------------------------------------------------------------------------- E/I reservoir
def test_ei_kernel_equals_naive_and_step():
    ei = R.EIReservoir(10, density=0.5, exc_scale=2.0, inh_scale=2.0, bias=-1.0, bias_std=0.3, leak=0.7,
                       target="heterogeneous", rng=0)
    u = R.memory_task_input(30, rng=1)[:, None]
    ei.initialize(1)
    g0 = ei.g.copy()
    st = ei.adapt(u, eta=0.1)
    ref, g_ref = ei_naive(u @ ei.W_in.T + ei.b, ei.W_E, ei.W_I, g0, 0.7, 0.1, ei.rho_target)
    assert np.allclose(st, ref, atol=1e-12) and np.allclose(ei.g, g_ref, atol=1e-12)
    ei.reset()
    st2 = ei.run(u)
    state = ei.initial_state()
    for t in range(len(u)):
        state = ei._step(state, u[t])
        assert np.allclose(state, st2[t], atol=1e-12)


@pytest.mark.parametrize("target", ["homogeneous", "heterogeneous"])
def test_self_adaptation_drives_rates_to_targets(target):
    # before adaptation the excitation-dominated network fires far above target (~0.9);
    # after 5 s of homeostatic adaptation 95 % of the neurons sit within 0.02 of their targets
    # (a few with 1-2 inhibitory inputs converge slowly: that is the tolerance)
    ei = R.EIReservoir(100, density=0.3, exc_scale=2.0, inh_scale=2.0, bias=-1.0, input_scale=0.5, target=target,
                       rho=0.2, rho_lo=0.1, rho_hi=0.3, eta=0.1, rng=3)
    u = R.memory_task_input(6000, rng=4)[:, None]
    r0 = ei.run(u[:1000])[200:].mean(0)
    ei.reset()
    ei.adapt(u[:5000])
    rates = ei.run(u[5000:])[100:].mean(0)
    err0 = np.abs(r0 - ei.rho_target).mean()
    err = np.abs(rates - ei.rho_target)
    assert err0 > 0.3
    assert err.mean() < 0.02 and np.mean(err < 0.02) >= 0.95
    if target == "heterogeneous":
        assert np.corrcoef(rates, ei.rho_target)[0, 1] > 0.95


def test_global_inhibition_search_picks_best():
    def make():
        return R.EIReservoir(20, rng=0).initialize(1)
    best, scores = R.tune_global_inhibition(make, lambda r: -abs(r.g[0] - 2.0), [0.0, 1.0, 2.0, 3.0])
    assert best == 2.0 and scores.argmax() == 2


# ----------------------------------------------------------------------------- Izhikevich
def test_izhikevich_kernel_equals_naive():
    izh = R.IzhikevichReservoir(15, density=0.5, w_exc=5.0, w_inh=5.0, noise_exc=0.0, noise_inh=0.0,
                                tau_trace=(5.0, 50.0), rng=0)
    u = np.full((80, 1), 1.0)
    sp, tr = izh.run_full(u)
    ref_sp, ref_tr, gap = izhikevich_naive(u @ izh.W_in.T, izh.W, izh.a, izh.b, izh.c, izh.d, izh.trace_decay,
                                           margin=True)
    assert sp.sum() > 0
    # synaptic inputs summed in another order (a few ulps); no v comes within 1e-9 mV of the peak
    assert gap > 1e-9
    assert np.array_equal(sp, ref_sp) and np.allclose(tr, ref_tr, atol=1e-12)
    state = izh.initial_state()
    cur = u @ izh.W_in.T
    for t in range(len(u)):
        state = izh._step(state, cur[t])
        assert np.allclose(state[2], tr[t], atol=1e-12)


def test_izhikevich_heterogeneity_ranges():
    izh = R.IzhikevichReservoir(200, rng=1).initialize(1)
    e, i = slice(0, 160), slice(160, 200)
    assert np.all((izh.c[e] >= -65) & (izh.c[e] <= -50)) and np.all((izh.d[e] >= 2) & (izh.d[e] <= 8))
    assert np.all((izh.a[i] >= 0.02) & (izh.a[i] <= 0.1)) and np.all((izh.b[i] >= 0.2) & (izh.b[i] <= 0.25))
    assert izh.c[e].std() > 0 and izh.a[i].std() > 0


# ----------------------------------------------------------------------------- tasks and metrics
def test_narma_and_mackey_glass_vs_naive():
    u, y = R.narma10(300, rng=0)
    assert np.allclose(y, narma10_naive(u), rtol=1e-12, atol=1e-12)
    mg = R.mackey_glass(400)
    assert np.allclose(mg, mackey_glass_naive(400), rtol=1e-12)
    assert 0.2 < mg[100:].min() and mg[100:].max() < 1.5  # the known attractor range


def test_memory_capacity_of_delay_line_is_analytic():
    # states x_i(t) = u(t - i), i = 0..N-1: delays 1..N-1 are recalled perfectly, later ones not at all
    n = 10
    u = R.memory_task_input(4000, rng=0)
    states = np.stack([np.roll(u, i) for i in range(n)], axis=1)
    mc, mck = R.memory_capacity(states, u, max_delay=20, washout=50)
    assert np.allclose(mck[: n - 1], 1.0, atol=1e-9)
    assert mck[n - 1:].max() < 0.01
    assert abs(mc - (n - 1)) < 0.05


def test_nrmse_and_separation():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert R.nrmse(y, y) == 0.0
    assert np.isclose(R.nrmse(y, y + 1.0), 1.0 / np.std(y))
    f = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 4.0], [3.0, 4.0]])
    assert np.isclose(R.separation(f, [0, 0, 1, 1]), 2 * 5.0 / 4 / 1.0)


def test_timing_task_expected_value():
    task = R.timing_task(4000, latency=(50, 80), prob=(1.0, 0.25), trial_len=120, rng=0)
    k1 = task.cue == 1
    peaks = np.array([task.targets[s + 80, 1] for s in task.trial_start[k1]])
    assert abs(peaks.mean() - 0.25) < 0.03  # realised outcomes average to the probability
    assert np.isclose(task.expected[task.trial_start[k1][0] + 80, 1], 0.25)


def test_step_equals_run_and_lazy_contrastive():
    u = R.memory_task_input(20, rng=0)[:, None]
    a, b = R.EIReservoir(15, rng=5), R.EIReservoir(15, rng=5)
    states = a.run(u)
    stepped = np.stack([b.step(u[t]) for t in range(len(u))])
    assert np.allclose(states, stepped, atol=1e-12)
    assert "ContrastiveHeads" in R.__all__
    with pytest.raises(AttributeError, match="no attribute"):
        R.does_not_exist  # noqa: B018


# ----------------------------------------------------------------------------- fuzz census fixes
# Each failed before its fix (a crash, a silent NaN/inf, an accepted invalid input, or an error
# that did not name the argument); each checks the error type and that it names the argument.

@pytest.mark.parametrize("rho", [None, [1.0, 2.0], "1.0", object(), True])
def test_scale_spectral_radius_rejects_non_number_rho(rho):
    with pytest.raises(TypeError, match=r"^rho must be a real number"):
        R.scale_spectral_radius(np.eye(5), rho)


def test_scale_spectral_radius_extreme_entries():
    # a matrix of 1e300 entries has spectral radius 5e300 (rank one, all-equal): scaled exactly to 0.2
    w2 = R.scale_spectral_radius(np.full((5, 5), 1e300), 1.0)
    np.testing.assert_allclose(w2, 0.2, rtol=1e-13)
    with pytest.raises(ValueError, match="w has spectral radius 0"):
        R.scale_spectral_radius(np.zeros((3, 3)), 1.0)
    with pytest.raises(ValueError, match="w must"):
        R.scale_spectral_radius(np.ones(3), 1.0)


def _nrmse_exact(y, y_hat):
    """NRMSE in 60-digit decimal arithmetic (no overflow/underflow at any float64 scale)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        a = [Decimal(float(v)) for v in np.ravel(y)]
        b = [Decimal(float(v)) for v in np.ravel(y_hat)]
        m = sum(a) / len(a)
        sd = (sum((v - m) ** 2 for v in a) / len(a)).sqrt()
        return float((sum((p - q) ** 2 for p, q in zip(a, b)) / len(a)).sqrt() / sd)


@pytest.mark.parametrize("sy, sh", [(1.0, 1.0), (1e300, 1.0), (1.0, 1e300), (1e-300, 1.0), (1.0, 1e-300),
                                    (1e300, 1e300), (1e-300, 1e-300), (1e308, 1e308)])
def test_nrmse_at_extreme_scales_matches_exact_arithmetic(sy, sh):
    rng = np.random.default_rng(7)
    y, y_hat = rng.uniform(-1, 1, 10) * sy, rng.uniform(-1, 1, 10) * sh
    # float64 rounding of two sums of squares, a sqrt and a ratio: well inside 1e-14 relative
    assert R.nrmse(y, y_hat) == pytest.approx(_nrmse_exact(y, y_hat), rel=1e-14)


def test_nrmse_rejects_constant_and_unrepresentable():
    with pytest.raises(ValueError, match="^y is constant"):
        R.nrmse(np.full(10, 1e300), np.arange(10))
    with pytest.raises(ValueError, match="y_hat"):  # ratio ~1e600: beyond float64
        R.nrmse(np.array([1e-300, -1e-300]), np.array([1e300, 0.0]))
    with pytest.raises(ValueError, match="^y is empty"):
        R.nrmse([], [])


@pytest.mark.parametrize("train_frac, exc", [(True, TypeError), (-1e-300, ValueError), (0.0, ValueError),
                                             (1.0, ValueError), (float("nan"), ValueError), ("0.5", TypeError),
                                             (0.01, ValueError), (0.99, ValueError)])
def test_memory_capacity_train_frac(train_frac, exc):
    u = R.memory_task_input(60, rng=0)
    states = np.stack([np.roll(u, i) for i in range(5)], axis=1)
    with pytest.raises(exc, match="train_frac"):
        R.memory_capacity(states, u, max_delay=3, washout=10, train_frac=train_frac)


def test_separation_names_labels():
    f = np.random.default_rng(0).normal(size=(8, 3))
    with pytest.raises(ValueError, match="^labels must hold at least two classes"):
        R.separation(f, np.zeros(8, int))
    with pytest.raises(ValueError, match="^labels contains NaN"):
        R.separation(f, np.full(8, np.nan))
    with pytest.raises(ValueError, match="^labels must be 1-D"):
        R.separation(f, np.zeros((8, 2)))
    with pytest.raises(TypeError, match="^labels must hold numbers or strings"):
        R.separation(f, [None] * 8)
    # string labels are classes too: same value as the integer coding
    assert R.separation(f, list("aabbaabb")) == R.separation(f, [0, 0, 1, 1, 0, 0, 1, 1])


@pytest.mark.parametrize("kw, exc, name", [
    ({"cue_amp": {"a": 1}}, TypeError, "cue_amp"), ({"cue_amp": object()}, TypeError, "cue_amp"),
    ({"cue_amp": [1.0, 2.0]}, TypeError, "cue_amp"), ({"cue_amp": b"1"}, TypeError, "cue_amp"),
    ({"cue_amp": float("inf")}, ValueError, "cue_amp"), ({"latency": "abc"}, TypeError, "latency"),
    ({"latency": (10, 20, 30)}, ValueError, "latency"), ({"latency": 100.5}, ValueError, "latency"),
    ({"latency": 1e300}, ValueError, "latency"), ({"prob": [0.5, float("nan")]}, ValueError, "prob"),
    ({"prob_after": 2.0}, ValueError, "prob_after"), ({"latency_after": -1}, ValueError, "latency_after"),
    ({"n_trials": 10 ** 10}, ValueError, "n_trials"),
])
def test_timing_task_validation(kw, exc, name):
    args = {"n_trials": 2, **kw}
    with pytest.raises(exc, match=f"^{name}"):
        R.timing_task(args.pop("n_trials"), **args)


def test_timing_task_cue_amp_and_whole_float_latency():
    task = R.timing_task(3, cue_amp=np.float32(2.0), latency=150.0, cue_len=5, rng=0)
    ref = R.timing_task(3, cue_amp=2.0, latency=150, cue_len=5, rng=0)
    assert task.inputs.max() == 2.0 and np.count_nonzero(task.inputs) == 3 * 5
    np.testing.assert_array_equal(task.targets, ref.targets)


@pytest.mark.parametrize("u", [1.0, np.float32(2.0), 3])
def test_run_rejects_a_scalar_u(u):
    # a 0-d u used to run as one step of a one-channel input (np.ascontiguousarray makes it 1-D)
    with pytest.raises(ValueError, match="^u must be a sequence"):
        R.EIReservoir(5, rng=0).run(u)
    # step takes one input vector, and a scalar is one channel
    assert R.EIReservoir(5, rng=0).step(u).shape == (5,)


def test_step_names_u_for_non_numeric_input():
    with pytest.raises(TypeError, match="^u must be numeric"):
        R.EIReservoir(5, rng=0).step("abc")


def test_izhikevich_tau_trace_pair_only():
    assert R.IzhikevichReservoir(5, tau_trace=[1.0, 2.0]).tau_trace == (1.0, 2.0)
    with pytest.raises(ValueError, match="^tau_trace must be one time constant or a"):
        R.IzhikevichReservoir(5, tau_trace=[1.0, 2.0, 3.0])


def test_ridge_overflow_is_a_clear_error_and_huge_alpha_the_mean():
    rng = np.random.default_rng(0)
    X, Y = rng.uniform(-1, 1, (12, 4)), rng.uniform(-1, 1, (12, 2))
    with pytest.raises(ValueError, match="^X is too large"):
        R.Ridge(0.5).fit(np.full((12, 4), 1e300), Y)
    with pytest.raises(ValueError, match="^X is too large"):
        R.RidgeCV((1e-3, 1.0), k=2).fit(np.full((12, 4), 1e300), Y)
    with pytest.raises(ValueError, match="^X .* is too large for the fitted readout"):
        R.Ridge(1e-8).fit(X, 10 * X[:, :2]).predict(np.full((3, 4), 1e308))  # weights ~10: 1e309
    # alpha -> inf shrinks the weights to 0: the prediction is mean(Y) (alpha used to overflow
    # float32 features to inf); the weights keep the features' dtype when X and Y are float32
    pred = R.Ridge(1e300).fit(X.astype(np.float32), Y).predict(X.astype(np.float32))
    np.testing.assert_allclose(pred, np.broadcast_to(Y.mean(0), Y.shape), rtol=1e-15)
    m32 = R.Ridge(1e-3).fit(X.astype(np.float32), Y.astype(np.float32))
    assert m32.coef_.dtype == np.float32 and m32.predict(X.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="^alpha=1.79e\\+308 plus X\\^T X overflows"):
        R.Ridge(1.79e308).fit(X * 1e153, Y)  # diagonal of X^T X ~ 4e306


def test_memory_capacity_extreme_scales():
    u = R.memory_task_input(300, rng=0)
    states = np.stack([np.roll(u, i) for i in range(4)], axis=1)
    with pytest.raises(ValueError, match="states"):
        R.memory_capacity(np.full((60, 5), 1e300), u[:60], max_delay=2, washout=1)
    # delays 1..3 are copies of the input: recalled perfectly whatever the input's scale
    # (u = 1e300 used to give NaN from overflowing sums of squares)
    for scale in (1.0, 1e300, 1e-300):
        mc, mck = R.memory_capacity(states, u * scale, max_delay=3, washout=10)
        np.testing.assert_allclose(mck, 1.0, atol=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1e300, 1e-300, 1e-310])
def test_squared_correlation_scale_invariant(scale):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    ref = np.corrcoef(a, b)[0, 1] ** 2  # well-scaled data; ours divides by powers of two (exact)
    assert R.squared_correlation(a * scale, b) == pytest.approx(ref, rel=1e-12)
    assert R.squared_correlation(a, np.full(50, 1e300)) == 0.0  # a constant side


@pytest.mark.parametrize("kw, names", [
    ({"tau": 1e300}, "tau"), ({"n_samples": 10 ** 12}, "n_samples"), ({"dt": 1e-300}, "dt"),
    ({"gamma": 1e300}, "gamma"), ({"beta": 1e300}, "beta"), ({"tau": 1e-300}, "tau"),
])
def test_mackey_glass_huge_and_unstable_parameters(kw, names):
    args = {"n_samples": 7, "tau": 4.0, "dt": 0.25, "discard": 2, **kw}
    with pytest.raises(ValueError, match=names):
        R.mackey_glass(**args)
