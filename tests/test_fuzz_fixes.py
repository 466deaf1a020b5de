"""One test per problem the fuzz census found in ``neurosim.neurons``, ``neurosim.sim``,
``neurosim.rsa`` and ``neurosim._validation`` (each failed before its fix: a crash, a hang, a
silent NaN or an error that did not name the argument).

References are independent: ``np.corrcoef``, ``scipy.spatial.distance.pdist`` and
``scipy.stats.pearsonr`` on well-scaled data (the fixed functions are scale-invariant, or scale
back exactly by a power of two), so ``rtol=1e-12`` covers the float64 rounding of the
different summation orders.
"""
from __future__ import annotations

import contextlib
import signal
import subprocess
import sys

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr

from neurosim.neurons import (IzhikevichParams, IzhikevichState, LIFParams, LIFState, izhikevich_run, lif_run,
                              lif_step)
from neurosim.rsa import (RDM, Correlation, Euclidean, bootstrap_ci, calc_rdm, compare, correlation_matrix,
                          linear_cka, replace_frames, shuffle_within_windows, split_half_ceiling,
                          regression_score, trial_split_half_ceiling, tsrsa)
from neurosim.sim import Network, brunel, cuba, fixed_in_degree, fixed_probability, izhikevich2003

HUGE = 10 ** 13  # neurons / frames: tens of TB, never allocatable


@contextlib.contextmanager
def deadline(seconds):
    """Fail (instead of hanging forever) when the body runs longer than ``seconds``."""
    def boom(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, boom)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _net():
    net = Network(dt=0.1, rng=0)
    net.add_lif(4, LIFParams(tau_mem=10.0), name="a")
    return net


# ------------------------------------------------------------------------------ _validation

def test_check_memory_names_the_argument_and_what_fits():
    from neurosim._validation import check_memory

    check_memory("n", 1000, 8, "a small array")
    with pytest.raises(ValueError, match=r"^n: the state needs .*at most ~"):
        check_memory("n", HUGE, 8, "the state")


def test_available_memory_honours_the_address_space_limit():
    code = ("import resource; resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30)); "
            "from neurosim._validation import available_memory; print(available_memory())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 0 <= int(out.stdout) <= 2 * 2 ** 30


# ---------------------------------------------------------------------------------- neurons

@pytest.mark.parametrize("params, exc", [("lif", TypeError), ({"tau_mem": 1.0}, TypeError), (None, TypeError),
                                         (LIFParams(tau_mem=np.full(5, 10.0)), ValueError)])
def test_lif_state_initial_params(params, exc):
    with pytest.raises(exc, match="params"):
        LIFState.initial(params, 4)


@pytest.mark.parametrize("v0, exc", [({"a": 1}, TypeError), (np.nan, ValueError), (-np.inf, ValueError),
                                     (True, TypeError), (np.zeros(3), ValueError)])
def test_initial_state_v0(v0, exc):
    with pytest.raises(exc, match="v0"):
        LIFState.initial(LIFParams(), 4, v0=v0)
    with pytest.raises(exc, match="v0"):
        IzhikevichState.initial(IzhikevichParams(), 4, v0=v0)


def test_initial_state_huge_n_and_dtype():
    with pytest.raises(ValueError, match="^n: "):
        LIFState.initial(LIFParams(), HUGE)
    with pytest.raises(ValueError, match="dtype"):
        LIFState.initial(LIFParams(), 3, dtype=np.int32)


def test_lif_run_overflow_is_an_error_not_inf():
    p = LIFParams(r=10.0)
    with pytest.raises(ValueError, match="xs"):
        lif_run(np.full((3, 2), 1e308), LIFState.initial(p, 2), p, 0.1)


def test_izhikevich_run_overflow_is_an_error_not_nan():
    p = IzhikevichParams.preset("RS")
    with pytest.raises(ValueError, match="xs"):
        izhikevich_run(np.full((3, 2), -1e200), IzhikevichState.initial(p, 2), p, 0.5)


def test_refractory_steps_overflow_names_dt():
    p = LIFParams(t_ref=1.0)
    with pytest.raises(ValueError, match=r"\bdt\b"):
        lif_run(np.zeros((2, 1)), LIFState.initial(p, 1), p, 1e-300)


def test_step_errors_name_x():
    p = LIFParams()
    with pytest.raises(ValueError, match=r"\bx must have shape \(3,\)"):
        lif_step(np.zeros(4), LIFState.initial(p, 3), p, 0.1)
    with pytest.raises(ValueError, match=r"\bx contains"):
        lif_step(np.array([0.0, np.nan, 0.0]), LIFState.initial(p, 3), p, 0.1)


# -------------------------------------------------------------------------------------- sim

def test_network_dtype_name():
    with pytest.raises(TypeError, match="dtype"):
        Network(dtype="nonsense")


def test_add_group_huge_n():
    with pytest.raises(ValueError, match="^n: "):
        _net().add_lif(HUGE)
    with pytest.raises(ValueError, match="^n: "):
        _net().add_izhikevich(HUGE)


@pytest.mark.parametrize("kw, arg", [(dict(v0=True), "v0"), (dict(i_ext=np.array([True, False, True])), "i_ext")])
def test_add_izhikevich_rejects_booleans(kw, arg):
    with pytest.raises(TypeError, match=arg):
        _net().add_izhikevich(3, **kw)


def test_poisson_rate_and_weight():
    with pytest.raises(ValueError, match="rate_hz"):
        _net().add_poisson_input("a", rate_hz=1e300, weight=0.1)
    with pytest.raises(TypeError, match="weight"):
        _net().add_poisson_input("a", rate_hz=10.0, weight=True)


@pytest.mark.parametrize("variables", [3, [["v"]], ()])
def test_state_monitor_variables(variables):
    with pytest.raises((TypeError, ValueError), match="variables"):
        _net().add_state_monitor("a", variables)


def test_connect_delays_too_long():
    with pytest.raises(ValueError, match="delay_ms"):
        _net().connect("a", "a", p=0.5, delay_ms=1e300)
    net = _net()  # fits in int32 steps, but the ring buffer would need ~10 GB per neuron
    net.connect("a", "a", p=1.0, delay_ms=1e8)
    with pytest.raises(ValueError, match="delay_ms"):
        net.run(1.0, progress=False)


def test_network_divergence_is_an_error_not_nan():
    net = Network(dt=0.5, rng=0)
    net.add_izhikevich(2, "RS", i_ext=-1e300, name="b")
    net.add_spike_monitor()
    with pytest.raises(ValueError, match="diverged.*i_ext"):
        net.run(2.0, progress=False)


def test_fixed_probability_tiny_p_does_not_hang():
    with deadline(10):
        pre, post = fixed_probability(30, 30, 1e-100, np.random.default_rng(0))
    assert pre.size == post.size == 0
    # ordinary p: same draws as before the fix (the saturation never triggers)
    a = fixed_probability(50, 40, 0.1, np.random.default_rng(3))
    n_expected = 50 * 40 * 0.1
    assert abs(a[0].size - n_expected) < 5 * np.sqrt(n_expected)


@pytest.mark.parametrize("fn", [fixed_probability, fixed_in_degree])
@pytest.mark.parametrize("rng, exc", [("seed", TypeError), (1.5, TypeError), (np.random.RandomState(0), TypeError),
                                      (-1, ValueError)])
def test_connect_generators_validate_rng(fn, rng, exc):
    with pytest.raises(exc, match="rng"):
        fn(5, 5, 1 if fn is fixed_in_degree else 0.5, rng)


@pytest.mark.parametrize("k, exc", [(-7, ValueError), (np.nan, TypeError), (1 + 2j, TypeError)])
def test_fixed_in_degree_names_k(k, exc):
    with pytest.raises(exc, match=r"\(k\)"):
        fixed_in_degree(5, 5, k, np.random.default_rng(0))


def test_canonical_networks_refuse_huge_sizes():
    with pytest.raises(ValueError, match="^n_neurons: "):
        izhikevich2003(n_neurons=10 ** 8)
    with pytest.raises(ValueError, match="^n_neurons: "):
        cuba(n_neurons=10 ** 12)
    with pytest.raises(ValueError, match="^order: "):
        brunel(order=10 ** 11)
    with pytest.raises(ValueError, match="^n_neurons: "):
        brunel(n_neurons=5 * 10 ** 11)


def test_brunel_epsilon_is_a_probability():
    with pytest.raises(ValueError, match="epsilon"):
        brunel(order=2, epsilon=1.5)


# -------------------------------------------------------------------------------------- rsa

def _X(seed=0, shape=(6, 5)):
    return np.random.default_rng(seed).normal(size=shape)


def test_rdm_rejects_inf_and_names_d():
    with pytest.raises(ValueError, match="vector"):
        RDM(np.array([0.1, np.inf, 0.3]))
    with pytest.raises(TypeError, match=r"\bD\b"):
        RDM.from_square("abc")
    with pytest.raises(TypeError, match=r"\bD\b"):
        RDM.from_square(np.full((3, 3), "a"))


def test_correlation_dtype_name():
    with pytest.raises(TypeError, match="dtype"):
        correlation_matrix(_X(), dtype="x")
    with pytest.raises(TypeError, match="dtype"):
        Correlation(dtype="x")


@pytest.mark.parametrize("scale", [1e-300, 1e-160, 1e160, 1e300])
def test_correlation_is_scale_free_at_extreme_magnitudes(scale):
    X = _X()
    np.testing.assert_allclose(correlation_matrix(X * scale), np.corrcoef(X), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(calc_rdm(X * scale, "cosine").vector, calc_rdm(X, "cosine").vector, rtol=1e-12,
                               atol=1e-12)


def test_euclidean_at_extreme_magnitudes():
    X = _X()
    d = Euclidean(squared=False, per_channel=False)(X * 1e155)
    np.testing.assert_allclose(d.vector, pdist(X) * 1e155, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\bX\b"):
        Euclidean()(X * 1e300)  # squared distances beyond float64


def test_compare_inf_constant_and_tiny():
    a = np.arange(10.0)
    v = np.random.default_rng(1).normal(size=10)
    with pytest.raises(ValueError, match=r"\bb\b"):
        compare(a, np.where(np.arange(10) == 3, np.inf, v))
    with pytest.raises(ValueError, match=r"\bb\b"):
        compare(a, np.full(10, 1e300), "pearson")
    assert compare(a, v * 1e-300, "pearson") == pytest.approx(pearsonr(a, v).statistic, rel=1e-12)
    assert compare(a, v * 1e300, "cosine") == pytest.approx(
        np.dot(a, v) / np.linalg.norm(a) / np.linalg.norm(v), rel=1e-12)


def test_linear_cka_scale_and_names():
    X, Y = _X(0), _X(1, (6, 3))
    assert linear_cka(X * 1e200, Y) == pytest.approx(linear_cka(X, Y), rel=1e-12)
    with pytest.raises(ValueError, match=r"\bY\b"):
        linear_cka(X, np.full((6, 3), 1e300))


@pytest.mark.parametrize("bad", ["abc", 3.0, None])
def test_tsrsa_scalar_input_names_x(bad):
    with pytest.raises((TypeError, ValueError), match=r"\bX\b"):
        tsrsa(bad, _X())


@pytest.mark.parametrize("method", [{"a": 1}, ["spearman"], 3])
def test_method_must_be_a_name(method):
    with pytest.raises(TypeError, match="method"):
        compare(np.arange(5.0), np.arange(5.0), method)
    with pytest.raises(TypeError, match="method"):
        calc_rdm(_X(), method)


def test_tsrsa_omitted_rows_name_x_and_y():
    X = np.full((5, 3), 1e300)  # every frame constant
    with pytest.raises(ValueError, match=r"constant rows of X and Y"):
        tsrsa(X, _X(1, (5, 3)), constant_rows="omit")


def test_regression_score_singular_and_n_folds():
    # 6 frames x 6 units: centred, the 6th principal component is exactly 0 -> singular ridge at alpha 0
    X = np.array([[-2, -7, 5, -2, 6, -8], [6, -6, 6, 0, -3, -4], [-7, 3, -7, 7, 4, 6], [-9, 8, 4, -8, 6, -8],
                  [-4, 8, -6, 8, 2, -5], [-4, -6, 5, 3, 3, 1]], dtype=float)
    Y = _X(1, (6, 4))
    res = regression_score(X, Y, n_components=9, alpha=0.0, same_data=True)
    # 5 informative components fit 6 centred frames exactly: in-sample R^2 = 1 for every unit
    np.testing.assert_allclose(res["r2_per_unit"], 1.0, atol=1e-9)
    with pytest.raises(TypeError, match="n_folds"):
        regression_score(_X(0, (8, 3)), _X(1, (8, 3)), n_folds={"a": 1}, same_data=True)


def test_spearman_constant_ranks_name_the_vector():
    with pytest.raises(ValueError, match=r"\bb is a constant"):
        compare(np.arange(10.0), np.full(10, 0.3), "spearman")


def test_split_half_errors_name_y():
    # halves of 2 units: frame correlations are all +1 (increasing rows), the half RDMs constant
    Y = np.array([[0.0, 1, 0, 1], [0, 2, 0, 2], [1, 5, 1, 5], [2, 3, 2, 3]])
    with pytest.raises(ValueError, match=r"^Y: unit split 0"):
        split_half_ceiling(Y, n_splits=1, ties="average", rng=0)


def test_trial_split_half_validation():
    with pytest.raises(TypeError, match=r"\bY\b"):
        trial_split_half_ceiling(_X(0, (4, 2, 3)) + 1j, n_splits=1)
    with pytest.raises(ValueError, match=r"^Y needs at least 3 frames"):
        trial_split_half_ceiling(np.zeros((0, 4, 3)), n_splits=1)


def test_bootstrap_over_units_skips_degenerate_draws():
    X, Y = _X(0, (6, 2)), _X(1, (6, 5))  # 2 units: a draw of one unit twice has constant rows
    res = bootstrap_ci(X, Y, n_boot=40, over="units", rng=0)
    assert np.isnan(res["boot"]).any() and np.isfinite(res["boot"]).any()
    assert res["low"] <= res["high"]


def test_frames_helpers():
    with pytest.raises(ValueError, match="^n_frames: "):
        shuffle_within_windows(HUGE, 3)
    with pytest.raises(ValueError, match="movie"):
        replace_frames(np.zeros((0, 2, 2)), 1)
    with pytest.raises(TypeError, match="movie"):
        replace_frames(np.zeros((3, 2), dtype=complex), 1)
    with pytest.raises(ValueError, match="movie"):
        replace_frames(np.full((3, 2), np.nan), 1)
