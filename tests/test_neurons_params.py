"""Parameter dataclasses: validation rules, derived coefficients, presets, initial states."""
from __future__ import annotations

import numpy as np
import pytest

from neurosim.neurons import (
    IZHIKEVICH_PRESETS, IzhikevichParams, IzhikevichState, LIFParams, LIFState, lif_max_dt,
)


@pytest.mark.parametrize("kw, field", [
    (dict(tau_mem=0.0), "tau_mem"), (dict(tau_mem=-1.0), "tau_mem"), (dict(tau_syn=0.0), "tau_syn"),
    (dict(tau_syn_inh=0.0), "tau_syn_inh"), (dict(r=0.0), "r"), (dict(t_ref=-0.1), "t_ref"),
    (dict(v_th=0.0, v_reset=0.0), "v_th"), (dict(reset="soft"), "reset"),
    (dict(tau_mem=np.nan), "tau_mem"), (dict(v_th=[1.0, np.inf]), "v_th"),
    (dict(tau_mem=[[1.0]]), "tau_mem"), (dict(tau_mem=[10.0, 20.0], r=[1.0, 2.0, 3.0]), "tau_mem"),
])
def test_lif_validation(kw, field):
    with pytest.raises(ValueError, match=field):
        LIFParams(**kw)


def test_lif_type_errors():
    with pytest.raises(TypeError, match="tau_mem"):
        LIFParams(tau_mem="20")
    with pytest.raises(TypeError, match="v_th"):
        LIFParams(v_th=True)


@pytest.mark.parametrize("kw, field", [
    (dict(a=0.0), "a"), (dict(c=30.0), "c"), (dict(d=np.nan), "d"), (dict(a=[0.02, 0.1], b=[0.2]), "a"),
])
def test_izhikevich_validation(kw, field):
    with pytest.raises(ValueError, match=field):
        IzhikevichParams(**kw)


def test_decay_is_exact_exponential():
    p = LIFParams(tau_mem=[10.0, 20.0], tau_syn=5.0)
    am, asyn = p.decay(0.1)
    np.testing.assert_allclose(am, np.exp(-0.1 / np.array([10.0, 20.0])), rtol=1e-15)
    assert asyn == pytest.approx(np.exp(-0.02), rel=1e-15)
    with pytest.raises(ValueError, match="dt"):
        p.decay(0.0)
    with pytest.raises(ValueError, match="dt"):
        p.decay(-1.0)


def test_coefficients_match_numerical_solution():
    # integrate tau_m v' = -v + r i, tau_s i' = -i with a fine RK4 over one step and compare k_e
    from scipy.integrate import solve_ivp

    for tau_s in (5.0, 20.0):  # tau_s == tau_m takes the limiting formula
        p = LIFParams(tau_mem=20.0, tau_syn=tau_s, r=2.0)
        c = p.coefficients(1.0)
        sol = solve_ivp(lambda t, y: [(-y[0] + 2.0 * y[1]) / 20.0, -y[1] / tau_s], (0, 1.0), [0.0, 1.0],
                        rtol=1e-12, atol=1e-14)
        assert c["k_e"] == pytest.approx(sol.y[0, -1], rel=1e-8)
        assert c["a_e"] == pytest.approx(sol.y[1, -1], rel=1e-8)


def test_n_ref_and_max_dt():
    p = LIFParams(t_ref=5.0, tau_syn=5.0, tau_syn_inh=10.0)
    assert p.n_ref(0.1) == 50
    assert p.tau_inh == 10.0
    assert lif_max_dt(p) == 2.5
    assert LIFParams().tau_inh == 5.0


def test_presets_table():
    table = {"RS": (0.02, 0.2, -65, 8), "IB": (0.02, 0.2, -55, 4), "CH": (0.02, 0.2, -50, 2),
             "FS": (0.1, 0.2, -65, 2), "LTS": (0.02, 0.25, -65, 2), "TC": (0.02, 0.25, -65, 0.05),
             "RZ": (0.1, 0.26, -65, 2)}
    assert set(table) == set(IZHIKEVICH_PRESETS)
    for name, (a, b, c, d) in table.items():
        p = IzhikevichParams.preset(name.lower())
        assert (p.a, p.b, p.c, p.d, p.v_peak) == (a, b, c, d, 30.0)
    with pytest.raises(KeyError, match="RS"):
        IzhikevichParams.preset("XX")


def test_equality_and_hash_with_arrays():
    a = LIFParams(tau_mem=[10.0, 20.0])
    assert a == LIFParams(tau_mem=np.array([10.0, 20.0]))
    assert a != LIFParams(tau_mem=[10.0, 21.0])
    assert hash(a) == hash(LIFParams(tau_mem=[10.0, 20.0]))
    assert a.size() == 2 and LIFParams().size() is None


def test_initial_states():
    s = LIFState.initial(LIFParams(v_rest=-1.0), 3, dtype=np.float32)
    assert s.v.dtype == np.float32 and np.all(s.v == -1.0) and s.refr.dtype == np.int32
    with pytest.raises(ValueError, match="n"):
        LIFState.initial(LIFParams())
    with pytest.raises(ValueError, match="n=3"):
        LIFState.initial(LIFParams(tau_mem=[1.0, 2.0]), 3)
    z = IzhikevichState.initial(IzhikevichParams(b=[0.2, 0.25]))
    np.testing.assert_array_equal(z.u, [-13.0, -16.25])
