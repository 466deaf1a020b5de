"""LIF and Izhikevich kernels: analytic solutions, naive references, signatures, validation.

Kernel vs naive reference is bit for bit (0 ulp): both do the same IEEE-754 basic operations
(``+ - * /``, compare) in the same order and dtype, which are correctly rounded on every machine;
the only library function, ``exp`` in ``LIFParams.coefficients``, is computed once and given to
both sides as an input.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import naive
from neurosim.neurons import (
    IzhikevichParams, IzhikevichState, LIFParams, LIFState, izhikevich_run, izhikevich_step, lif_run, lif_step,
)

DTYPES = [np.float32, np.float64]


# ------------------------------------------------------------------------------- LIF analytic
def test_lif_subthreshold_relaxation_is_exact():
    # v(t) = v_inf + (v0 - v_inf) exp(-t/tau), v_inf = v_rest + r I. Exact integration: the only
    # error is float64 rounding accumulated over the steps, so 1e-12 holds for any dt.
    p = LIFParams(tau_mem=10.0, v_rest=-0.5, v_th=10.0, r=2.0)
    for dt in (0.5, 2.5):
        n = int(round(30.0 / dt))
        st = LIFState.initial(p, 3, v0=np.array([-2.0, 0.0, 4.0]))
        xs = np.full((n, 3), 1.25)
        v = []
        for t in range(n):
            _, st = lif_step(xs[t], st, p, dt)
            v.append(st.v)
        t_ms = dt * np.arange(1, n + 1)[:, None]
        v_inf = -0.5 + 2.0 * 1.25
        expect = v_inf + (np.array([-2.0, 0.0, 4.0]) - v_inf) * np.exp(-t_ms / 10.0)
        np.testing.assert_allclose(np.array(v), expect, rtol=0, atol=1e-12)


def test_lif_synaptic_current_response_is_exact():
    # tau_m v' = -v + i(t), i = i0 exp(-t/tau_s): v(t) = i0 tau_s/(tau_s-tau_m) (e^{-t/tau_s} - e^{-t/tau_m})
    p = LIFParams(tau_mem=20.0, tau_syn=5.0, v_th=1e3)
    st = LIFState(np.zeros(1), np.array([3.0]), np.zeros(1, np.int32))
    _, st2 = lif_run(np.zeros((100, 1)), st, p, 0.5)
    t = 50.0
    expect = 3.0 * 5.0 / (5.0 - 20.0) * (math.exp(-t / 5.0) - math.exp(-t / 20.0))
    assert st2.v[0] == pytest.approx(expect, rel=1e-12)
    assert st2.i_syn[0] == pytest.approx(3.0 * math.exp(-t / 5.0), rel=1e-12)


@pytest.mark.parametrize("dt", [0.01, 0.1, 0.25])
def test_lif_firing_period(dt):
    # T = t_ref + tau ln((R I - v_reset) / (R I - v_th)). v is exact on the grid; the crossing is
    # only detected at the next grid point and the refractory period is round(t_ref/dt) steps, so
    # every ISI is t_ref + ceil(T_int/dt) dt: the error lies in [0, dt).
    tau, t_ref, r, i_in = 10.0, 2.0, 1.5, 1.0
    p = LIFParams(tau_mem=tau, v_th=1.0, v_reset=0.2, t_ref=t_ref, r=r)
    n = int(round(300.0 / dt))
    spikes, _ = lif_run(np.full((n, 1), i_in), LIFState.initial(p, 1, v0=0.2), p, dt)
    isi = np.diff(np.flatnonzero(spikes[:, 0])) * dt
    period = t_ref + tau * math.log((r * i_in - 0.2) / (r * i_in - 1.0))
    assert isi.size > 5
    assert np.all(isi >= period - 1e-9) and np.all(isi < period + dt)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("n", [1, 7, 2049])  # 2049 > BLOCK: two parallel blocks
def test_lif_kernel_matches_naive(dtype, reset, n):
    rng = np.random.default_rng(n)
    dt = 0.5
    p = LIFParams(tau_mem=rng.uniform(5, 30, n), tau_syn=rng.uniform(1, 10, n), v_rest=0.0, v_th=1.0,
                  v_reset=rng.uniform(-0.5, 0.5, n), t_ref=rng.choice([0.0, 1.0, 2.5], n), r=rng.uniform(0.5, 2, n),
                  reset=reset)
    T = 16 if n > 100 else 200
    xs = rng.uniform(-0.5, 3.0, (T, n)).astype(dtype)
    st = LIFState(rng.uniform(-1, 1, n).astype(dtype), rng.uniform(0, 1, n).astype(dtype),
                  rng.integers(0, 3, n).astype(np.int32))
    spikes, out = lif_run(xs, st, p, dt)
    c = p.coefficients(dt)
    f = lambda x: np.broadcast_to(np.asarray(x, dtype=dtype), (n,))  # noqa: E731
    ref = naive.lif_run(xs, st.v, st.i_syn, st.refr, v_rest=f(p.v_rest), r=f(p.r), a_m=f(c["a_m"]),
                        a_s=f(c["a_e"]), k_s=f(c["k_e"]), v_th=f(p.v_th), v_reset=f(p.v_reset),
                        n_ref=np.broadcast_to(c["n_ref"], (n,)), reset=reset)
    assert spikes.dtype == bool and spikes.shape == (T, n)
    np.testing.assert_array_equal(spikes, ref[0])
    np.testing.assert_array_equal(out.v, ref[1])
    np.testing.assert_array_equal(out.i_syn, ref[2])
    np.testing.assert_array_equal(out.refr, ref[3])
    assert out.v.dtype == dtype
    assert spikes.any() if n > 1 else True


def test_lif_run_equals_repeated_step_and_does_not_mutate():
    p = LIFParams(tau_mem=8.0, t_ref=1.0)
    st0 = LIFState.initial(p, 4)
    xs = np.random.default_rng(0).uniform(0, 3, (50, 4))
    s_run, st_run = lif_run(xs, st0, p, 0.25)
    st = st0
    rows = []
    for x in xs:
        s, st = lif_step(x, st, p, 0.25)
        rows.append(s)
    np.testing.assert_array_equal(np.array(rows), s_run)
    np.testing.assert_array_equal(st.v, st_run.v)
    assert np.all(st0.v == 0) and np.all(st0.refr == 0)


def test_lif_empty_time_and_silent_input():
    p = LIFParams()
    s, st = lif_run(np.zeros((0, 3)), LIFState.initial(p, 3), p, 0.1)
    assert s.shape == (0, 3)
    s, st = lif_run(np.zeros((20, 3)), LIFState.initial(p, 3), p, 0.1)
    assert not s.any()


def test_lif_refractory_holds_v_for_n_ref_steps():
    p = LIFParams(tau_mem=10.0, t_ref=1.0, v_reset=0.0)
    spikes, _ = lif_run(np.full((200, 1), 5.0), LIFState.initial(p, 1), p, 0.1)
    st = LIFState.initial(p, 1)
    held = 0
    for t in range(60):
        s, st = lif_step([5.0], st, p, 0.1)
        if st.refr[0] > 0:
            assert st.v[0] == 0.0
            held += 1
    assert held > 0
    first = np.flatnonzero(spikes[:, 0])
    assert np.all(np.diff(first) > 10)  # 10 refractory steps + at least one integration step


@pytest.mark.parametrize("bad, match", [
    (dict(dt=0.0), "dt"), (dict(dt=-0.1), "dt"), (dict(dt=float("nan")), "dt"),
    (dict(xs=np.zeros((5, 2))), "xs"), (dict(xs=np.full((5, 3), np.nan)), "xs"), (dict(xs=np.zeros(3)), "xs"),
])
def test_lif_run_validation(bad, match):
    p = LIFParams()
    kw = dict(xs=np.zeros((5, 3)), state=LIFState.initial(p, 3), params=p, dt=0.1)
    kw.update(bad)
    with pytest.raises(ValueError, match=match):
        lif_run(**kw)


def test_lif_state_and_params_validation():
    p = LIFParams()
    with pytest.raises(ValueError, match="state"):
        lif_run(np.zeros((2, 3)), LIFState(np.zeros(3), np.zeros(2), np.zeros(3, np.int32)), p, 0.1)
    with pytest.raises(ValueError, match="params"):
        lif_run(np.zeros((2, 3)), LIFState.initial(p, 3), LIFParams(tau_mem=[1.0, 2.0]), 0.1)
    with pytest.raises(TypeError, match="state"):
        lif_run(np.zeros((2, 3)), (np.zeros(3),), p, 0.1)
    with pytest.raises(ValueError, match="x"):
        lif_step(np.zeros((1, 3)), LIFState.initial(p, 3), p, 0.1)


def test_lif_coarse_dt_warns_with_a_stable_dt():
    p = LIFParams(tau_mem=20.0, tau_syn=5.0)
    with pytest.warns(UserWarning, match=r"dt <= 2\.5 ms"):
        lif_run(np.zeros((2, 1)), LIFState.initial(p, 1), p, 5.0)
    with pytest.warns(UserWarning, match="t_ref"):
        lif_run(np.zeros((2, 1)), LIFState.initial(p, 1), LIFParams(t_ref=1.0), 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lif_run(np.zeros((2, 1)), LIFState.initial(p, 1), p, 0.1)


# ------------------------------------------------------------------------------- Izhikevich
@pytest.mark.parametrize("order", ["listing", "nest"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("preset", ["RS", "IB", "CH", "FS", "LTS", "TC", "RZ"])
def test_izhikevich_presets_match_naive(preset, dtype, order):
    p = IzhikevichParams.preset(preset, order=order)
    n = 3
    xs = np.zeros((600, n), dtype=dtype)
    xs[50:, 0] = 10.0
    xs[50:, 1] = 4.0
    xs[:, 2] = np.random.default_rng(1).normal(5.0, 3.0, 600)
    st = IzhikevichState.initial(p, n, dtype=dtype)
    for dt in (1.0, 0.25):
        spikes, out = izhikevich_run(xs, st, p, dt)
        f = lambda x: np.full(n, x, dtype=dtype)  # noqa: E731
        ref = naive.izhikevich_run(xs, st.v, st.u, a=f(p.a), b=f(p.b), c=f(p.c), d=f(p.d), v_peak=f(p.v_peak), dt=dt,
                                   order=order)
        np.testing.assert_array_equal(spikes, ref[0])
        np.testing.assert_array_equal(out.v, ref[1])
        np.testing.assert_array_equal(out.u, ref[2])
        assert spikes[:, 0].sum() > 2


def _isis(preset, current=10.0, T=1000, dt=0.25):
    p = IzhikevichParams.preset(preset)
    n = int(T / dt)
    spikes, _ = izhikevich_run(np.full((n, 1), current), IzhikevichState.initial(p, 1), p, dt)
    return np.diff(np.flatnonzero(spikes[:, 0])) * dt


def test_izhikevich_signatures():
    rs, fs = _isis("RS"), _isis("FS")
    assert fs.size > 2 * rs.size                        # FS fires much faster under the same current
    assert np.median(rs[-5:]) > np.median(rs[:2])       # RS adapts: ISIs lengthen
    for burster in ("IB", "CH"):
        isi = _isis(burster)
        assert isi.min() < 10.0 and isi.max() > 2.5 * isi.min()   # short intra-burst ISIs, then long gaps
    ch = _isis("CH")
    assert np.sum(ch < 10.0) >= 0.5 * ch.size            # chattering: repeated bursts of fast spikes
    assert _isis("RS", current=0.0).size == 0            # silent without input


def test_izhikevich_step_equals_run_and_heterogeneous():
    p = IzhikevichParams(a=[0.02, 0.1], b=[0.2, 0.2], c=[-65.0, -65.0], d=[8.0, 2.0])
    st0 = IzhikevichState.initial(p)
    xs = np.full((300, 2), 10.0)
    s_run, st_run = izhikevich_run(xs, st0, p, 0.5)
    st, rows = st0, []
    for x in xs:
        s, st = izhikevich_step(x, st, p, 0.5)
        rows.append(s)
    np.testing.assert_array_equal(np.array(rows), s_run)
    np.testing.assert_array_equal(st.u, st_run.u)
    assert s_run[:, 1].sum() > s_run[:, 0].sum()


def test_izhikevich_validation_and_warning():
    p = IzhikevichParams.preset("RS")
    st = IzhikevichState.initial(p, 2)
    with pytest.raises(ValueError, match="dt"):
        izhikevich_run(np.zeros((3, 2)), st, p, 0.0)
    with pytest.raises(ValueError, match="xs"):
        izhikevich_run(np.zeros((3, 5)), st, p, 1.0)
    with pytest.raises(ValueError, match="xs"):
        izhikevich_run(np.full((3, 2), np.nan), st, p, 1.0)
    with pytest.raises(ValueError, match="state"):
        izhikevich_run(np.zeros((3, 2)), IzhikevichState(np.zeros(2), np.zeros(3)), p, 1.0)
    with pytest.raises(ValueError, match="params"):
        izhikevich_run(np.zeros((3, 2)), st, IzhikevichParams(a=[0.02, 0.02, 0.02]), 1.0)
    with pytest.warns(UserWarning, match="dt <= 1 ms"):
        izhikevich_run(np.zeros((3, 2)), st, p, 2.0)
    with pytest.raises(ValueError, match="order"):
        IzhikevichParams(order="matlab")
    with pytest.raises(ValueError, match="order"):
        IzhikevichParams.preset("RS", order="NEST")


def test_izhikevich_orders_differ_only_in_rounding():
    """The two orders of ``0.04 v^2`` agree to a few ulps per step; the map amplifies the
    difference over many steps at dt = 1 ms, so spike trains agree early and drift later."""
    xs = np.full((1000, 1), 10.0)
    runs = {o: izhikevich_run(xs, IzhikevichState.initial(IzhikevichParams.preset("RS", order=o), 1),
                              IzhikevichParams.preset("RS", order=o), 1.0) for o in ("listing", "nest")}
    (s_l, _), (s_n, _) = runs["listing"], runs["nest"]
    np.testing.assert_array_equal(s_l[:50], s_n[:50])
    assert abs(int(s_l.sum()) - int(s_n.sum())) <= 2
    assert not np.array_equal(s_l, s_n)                  # the order is applied: the trains drift apart
    one = izhikevich_run(xs[:1], IzhikevichState.initial(IzhikevichParams.preset("RS"), 1),
                         IzhikevichParams.preset("RS"), 1.0)[1]
    two = izhikevich_run(xs[:1], IzhikevichState.initial(IzhikevichParams.preset("RS", order="nest"), 1),
                         IzhikevichParams.preset("RS", order="nest"), 1.0)[1]
    np.testing.assert_allclose(one.v, two.v, rtol=4 * np.finfo(float).eps)
