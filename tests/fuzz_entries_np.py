"""Fuzz census entries: ``neurosim.neurons``, ``neurosim.sim`` and ``neurosim.rsa`` (NumPy layers).

Independent checks: the LIF / Izhikevich runs against the loops in ``tests/naive.py``; RDMs
against ``tests/naive_rsa.py`` double loops; correlations and Spearman scores against NumPy /
SciPy; network runs: finite state, spike ids and times in range.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import naive
import naive_rsa
from fuzz_gen import (A, Arg, Entry, Lazy, NAN, array, boolean, call_probes, choice, const, integer, nonneg,
                      pos, prob, real, seed_arg)

H5 = "H5"


# --------------------------------------------------------------------------------- neurons

def _lif_params_args(_):
    return {"tau_mem": pos(0.5, 50.0, list_ok=True), "tau_syn": pos(0.5, 20.0, list_ok=True),
            "v_rest": real(-1.0, 0.0, list_ok=True), "v_th": real(1.0, 2.0, list_ok=True),
            "v_reset": real(-1.0, 0.5, list_ok=True), "t_ref": nonneg(0.0, 5.0),
            "r": pos(0.1, 5.0, list_ok=True), "reset": choice(("zero", "subtract", "none")),
            "tau_syn_inh": Arg(st.one_of(st.none(), st.floats(0.5, 20.0)), pos(allow_none=True, list_ok=True).bad)}


def _check_lif_params(p, kw):
    c = p.coefficients(0.1)
    for k in ("a_m", "a_e", "a_i", "k_e", "k_i"):
        if not np.all(np.isfinite(c[k])):
            return f"coefficients(0.1)[{k!r}] is not finite: {c[k]}"
        if k.startswith("a_") and not np.all((c[k] >= 0) & (c[k] <= 1)):
            return f"decay {k} outside [0, 1]: {c[k]}"
    return None


def _izh_params_args(_):
    return {"a": pos(0.01, 0.2, list_ok=True), "b": real(0.1, 0.3, list_ok=True), "c": real(-70.0, -40.0, list_ok=True),
            "d": real(0.0, 8.0, list_ok=True), "v_peak": real(25.0, 35.0, list_ok=True)}


def _lif_state(n, dtype, kind="ok"):
    from neurosim.neurons import LIFParams, LIFState

    st_ = LIFState.initial(LIFParams(), n, dtype=dtype)
    if kind == "nan_v":
        st_.v[0] = np.nan
    elif kind == "short":
        st_ = LIFState(st_.v[:-1], st_.i_syn, st_.refr)
    elif kind == "neg_refr":
        st_.refr[0] = -3
    elif kind == "float_refr":
        st_ = LIFState(st_.v, st_.i_syn, st_.refr.astype(float))
    elif kind == "tuple":
        st_ = tuple(st_)
    elif kind == "2d":
        st_ = LIFState(st_.v[None], st_.i_syn[None], st_.refr[None])
    return st_


def _state_arg(kind, n, dtype, builder, kinds):
    valid = st.just(Lazy(f"{kind}.initial(params, {n}, dtype=np.{dtype})", lambda: builder(n, dtype)))
    bad = st.sampled_from([(k, Lazy(f"<{kind} {k}>", lambda k=k: builder(n, dtype, k)), "error") for k in kinds])
    return Arg(valid, bad, names=("state", "state.v", "state.i_syn", "state.refr", "state.u"))


def _lif_params_arg(n):
    from neurosim.neurons import LIFParams

    valid = st.sampled_from([
        Lazy("LIFParams(tau_mem=10.0, t_ref=1.0)", lambda: LIFParams(tau_mem=10.0, t_ref=1.0)),
        Lazy("LIFParams(reset='subtract', tau_syn=2.0)", lambda: LIFParams(reset="subtract", tau_syn=2.0)),
        Lazy(f"LIFParams(tau_mem=np.linspace(5, 20, {n}))", lambda: LIFParams(tau_mem=np.linspace(5, 20, n))),
        Lazy("LIFParams(reset='none', v_rest=-0.5)", lambda: LIFParams(reset="none", v_rest=-0.5))])
    bad = st.sampled_from([
        ("wrong length arrays", Lazy(f"LIFParams(tau_mem=np.ones({n + 1}))", lambda: LIFParams(tau_mem=np.ones(n + 1) * 10)),
         "error"),
        ("a dict", {"tau_mem": 10.0}, "error"), ("None", None, "error"), ("a string", "lif", "error")])
    return Arg(valid, bad, names=("params",))


def _check_lif_run(res, kw, step=False):
    from neurosim.neurons import LIFParams

    spikes, out = res
    xs = np.atleast_1d(kw["x"])[None] if step else np.asarray(kw["xs"])
    st0, p, dt = kw["state"], kw["params"], kw["dt"]
    spikes = spikes[None] if step else spikes
    if spikes.dtype != bool or spikes.shape != xs.shape:
        return f"spikes dtype/shape {spikes.dtype} {spikes.shape} for xs {xs.shape}"
    if not isinstance(p, LIFParams) or xs.shape[1] > 64:
        return None
    n = xs.shape[1]
    c = p.coefficients(dt)
    dtype = np.asarray(st0.v).dtype
    f = lambda x: np.broadcast_to(np.asarray(x, dtype=dtype), (n,))  # noqa: E731
    ref = naive.lif_run(np.asarray(xs, dtype=dtype), np.asarray(st0.v, dtype=dtype),
                        np.asarray(st0.i_syn, dtype=dtype), np.asarray(st0.refr), v_rest=f(p.v_rest), r=f(p.r),
                        a_m=f(c["a_m"]), a_s=f(c["a_e"]), k_s=f(c["k_e"]), v_th=f(p.v_th), v_reset=f(p.v_reset),
                        n_ref=np.broadcast_to(c["n_ref"], (n,)), reset=p.reset)
    if not np.array_equal(spikes, ref[0]):
        return f"spikes differ from the naive loop at {np.argwhere(spikes != ref[0])[:3].tolist()}"
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    if not np.allclose(out.v, ref[1], rtol=rtol, atol=rtol):
        return "final v differs from the naive loop"
    return None


def _lif_run_args(c):
    T, n, dtype = c
    return {"xs": array((T, n), lo=-1.0, hi=4.0, empty=("either",),
                        shapes_bad=[("wrong N", (T, n + 1))]),
            "state": _state_arg("LIFState", n, dtype, _lif_state, ("nan_v", "short", "neg_refr", "float_refr",
                                                                   "tuple", "2d")),
            "params": _lif_params_arg(n), "dt": pos(0.01, 0.5)}


def _lif_step_args(c):
    T, n, dtype = c
    a = _lif_run_args(c)
    a.pop("xs")
    return {"x": array((n,), lo=-1.0, hi=4.0, shapes_bad=[("wrong N", (n + 1,))]), **a}


def _izh_state(n, dtype, kind="ok"):
    from neurosim.neurons import IzhikevichParams, IzhikevichState

    s = IzhikevichState.initial(IzhikevichParams(), n, dtype=dtype)
    if kind == "nan_v":
        s.v[0] = np.nan
    elif kind == "inf_u":
        s.u[-1] = np.inf
    elif kind == "short":
        s = IzhikevichState(s.v[:-1], s.u)
    elif kind == "tuple":
        s = tuple(s)
    return s


def _izh_params_arg(n):
    from neurosim.neurons import IzhikevichParams

    valid = st.sampled_from([Lazy(f"IzhikevichParams.preset({k!r})", lambda k=k: IzhikevichParams.preset(k))
                             for k in ("RS", "FS", "CH", "TC")] +
                            [Lazy(f"IzhikevichParams(d=np.linspace(2, 8, {n}))",
                                  lambda: IzhikevichParams(d=np.linspace(2, 8, n)))])
    bad = st.sampled_from([("a string 'RS'", "RS", "error"), ("None", None, "error"),
                           ("wrong length arrays", Lazy(f"IzhikevichParams(a=np.full({n + 2}, 0.02))",
                                                        lambda: IzhikevichParams(a=np.full(n + 2, 0.02))), "error")])
    return Arg(valid, bad, names=("params",))


def _check_izh(res, kw, step=False):
    from neurosim.neurons import IzhikevichParams

    spikes, out = res
    xs = np.atleast_1d(kw["x"])[None] if step else np.asarray(kw["xs"])
    spikes = spikes[None] if step else spikes
    p, st0, dt = kw["params"], kw["state"], kw["dt"]
    if spikes.shape != xs.shape:
        return f"spikes shape {spikes.shape} for xs {xs.shape}"
    if not isinstance(p, IzhikevichParams) or xs.shape[1] > 64:
        return None
    n = xs.shape[1]
    dtype = np.asarray(st0.v).dtype
    f = lambda x: np.broadcast_to(np.asarray(x, dtype=dtype), (n,))  # noqa: E731
    ref = naive.izhikevich_run(np.asarray(xs, dtype=dtype), np.asarray(st0.v, dtype=dtype),
                               np.asarray(st0.u, dtype=dtype), a=f(p.a), b=f(p.b), c=f(p.c), d=f(p.d),
                               v_peak=f(p.v_peak), dt=float(dt))
    if not np.array_equal(spikes, ref[0]):
        return "spikes differ from the naive loop"
    return None


def _izh_run_args(c):
    T, n, dtype = c
    return {"xs": array((T, n), lo=0.0, hi=20.0, empty=("either",), shapes_bad=[("wrong N", (T, n + 1))],
                        extra_bad=[("current 1e200", A((T, n), 0, fill=1e200), "either"),
                                   ("current -1e200", A((T, n), 0, fill=-1e200), "either")]),
            "state": _state_arg("IzhikevichState", n, dtype, _izh_state, ("nan_v", "inf_u", "short", "tuple")),
            "params": _izh_params_arg(n), "dt": pos(0.05, 1.0)}


def _izh_step_args(c):
    a = _izh_run_args(c)
    a.pop("xs")
    return {"x": array((c[1],), lo=0.0, hi=20.0, shapes_bad=[("wrong N", (c[1] + 1,))]), **a}


_NEURON_CTX = st.tuples(st.integers(1, 30), st.integers(1, 9), st.sampled_from(["float64", "float32"]))


def _neurons_entries():
    import neurosim.neurons as N

    return [
        Entry("neurons.LIFParams", H5, lambda tmp: call_probes("LIFParams", N.LIFParams, _lif_params_args,
                                                                check=_check_lif_params)),
        Entry("neurons.IzhikevichParams", H5, lambda tmp: call_probes("IzhikevichParams", N.IzhikevichParams,
                                                                       _izh_params_args)),
        Entry("neurons.LIFState.initial", H5, lambda tmp: call_probes(
            "LIFState.initial", N.LIFState.initial,
            {"params": Arg(_lif_params_arg(4).valid.filter(lambda p: "linspace" not in repr(p)),
                           _lif_params_arg(4).bad, names=("params",)), "n": integer(1, 50, min_value=1, huge=(10 ** 13,), allow_none=True),
             "v0": real(-1.0, 1.0, allow_none=True)})),
        Entry("neurons.lif_run", H5, lambda tmp: call_probes("lif_run", N.lif_run, _lif_run_args, ctx=_NEURON_CTX,
                                                              check=_check_lif_run)),
        Entry("neurons.lif_step", H5, lambda tmp: call_probes(
            "lif_step", N.lif_step, _lif_step_args, ctx=_NEURON_CTX,
            check=lambda r, kw: _check_lif_run(r, kw, step=True))),
        Entry("neurons.izhikevich_run", H5, lambda tmp: call_probes("izhikevich_run", N.izhikevich_run, _izh_run_args,
                                                                     ctx=_NEURON_CTX, check=_check_izh)),
        Entry("neurons.izhikevich_step", H5, lambda tmp: call_probes(
            "izhikevich_step", N.izhikevich_step, _izh_step_args, ctx=_NEURON_CTX,
            check=lambda r, kw: _check_izh(r, kw, step=True))),
    ]


# ------------------------------------------------------------------------------------- sim

def _base_net(dtype="float64"):
    import neurosim as ns

    net = ns.sim.Network(dt=0.1, dtype=np.dtype(dtype), rng=0)
    net.add_lif(4, ns.neurons.LIFParams(tau_mem=10.0, t_ref=1.0), name="a")
    net.add_izhikevich(3, "RS", name="b")
    return net


def _run_check(net, ms=2.0):
    """Run ``net`` a little (``ms`` > 0) and check its state and spikes (finite, ids/times in range)."""
    if ms:
        net.run(max(ms, net.dt), progress=False)
    for g in net.groups.values():
        if not np.all(np.isfinite(g.v)):
            return f"group {g.name!r}: non-finite v after the run"
    for m in net.monitors.values():
        if hasattr(m, "ids"):
            ids, t = m.ids, m.times_ms
            if ids.size and (ids.min() < 0 or ids.max() >= net.n_neurons):
                return "spike ids outside [0, n_neurons)"
            if t.size and (t.min() <= 0 or t.max() > net.t_ms + 1e-9):
                return "spike times outside (0, t]"
    return None


def _method_probes(method, args, *, run=True, ctx=None, setup=None):
    """Probes for ``net.<method>(**kwargs)`` on a small LIF + Izhikevich network, then a short run."""
    def call(**kw):
        net = _base_net()
        if setup:
            setup(net)
        out = getattr(net, method)(**kw)
        if run:  # the run is part of the call: a divergence must be a clear error
            if not net.monitors:
                net.add_spike_monitor(name="spikes")
            net.run(2.0, progress=False)
        return (out, net)

    def check(res, kw):
        return _run_check(res[1], 0.0) if run else None

    return call_probes(f"net.{method}", call, args, ctx=ctx, check=check)


def _group_arg():
    return Arg(st.sampled_from(["a"]), st.sampled_from([("'nope'", "nope", "error"), ("3", 3, "error"),
                                                        ("None", None, "error")]), names=("group", "groups", "nope"))


def _sim_entries():
    import neurosim as ns
    from neurosim.neurons import LIFParams

    lif_arg = Arg(st.sampled_from([None, Lazy("LIFParams(tau_mem=5.0)", lambda: LIFParams(tau_mem=5.0))]),
                  st.sampled_from([("'RS'", "RS", "error"), ("a dict", {"tau_mem": 1.0}, "error"),
                                   ("arrays of length 97", Lazy("LIFParams(tau_mem=np.full(97, 5.0))",
                                                                lambda: LIFParams(tau_mem=np.full(97, 5.0))), "error")]),
                  names=("params", "n"))
    connect_args = lambda c: {  # noqa: E731
        "pre": Arg(st.just("a"), st.sampled_from([("'zz'", "zz", "error"), ("a list", ["a"], "error")]),
                   names=("pre", "zz")),
        "post": Arg(st.sampled_from(["a", "b"]), None),
        "p": Arg(st.floats(0.0, 1.0), prob().bad), "weight": real(-1.0, 1.0, allow_none=True),
        "delay_ms": nonneg(0.0, 2.0, extreme=False),
    }
    return [
        Entry("sim.Network", H5, lambda tmp: call_probes(
            "Network", ns.sim.Network,
            {"dt": pos(0.01, 1.0), "dtype": Arg(st.sampled_from([np.float32, np.float64]),
                                                st.sampled_from([("np.int32", np.int32, "error"),
                                                                 ("'float16'", "float16", "error"),
                                                                 ("'nonsense'", "nonsense", "error"),
                                                                 ("None", None, "either")])),
             "rng": seed_arg()})),
        Entry("sim.Network.add_lif", H5, lambda tmp: _method_probes(
            "add_lif", {"n": integer(1, 20, min_value=1, huge=(10 ** 13, 2 ** 62)), "params": lif_arg,
                        "v0": real(-0.5, 0.5, allow_none=True), "i_ext": real(0.0, 3.0)})),
        Entry("sim.Network.add_izhikevich", H5, lambda tmp: _method_probes(
            "add_izhikevich", {"n": integer(1, 20, min_value=1, huge=(10 ** 13,)),
                               "params": Arg(st.sampled_from(["RS", "FS", None]),
                                             st.sampled_from([("'XX'", "XX", "error"), ("3", 3, "error"),
                                                              ("LIFParams", Lazy("LIFParams()", LIFParams),
                                                               "error")]), names=("params", "XX")),
                               "v0": real(-70.0, -60.0), "i_ext": real(0.0, 10.0)})),
        Entry("sim.Network.connect", H5, lambda tmp: _method_probes("connect", connect_args, ctx=st.just(None))),
        Entry("sim.Network.add_poisson_input", H5, lambda tmp: _method_probes(
            "add_poisson_input", {"group": _group_arg(), "rate_hz": nonneg(0.0, 5000.0),
                                  "weight": real(-1.0, 1.0)})),
        Entry("sim.Network.add_noise", H5, lambda tmp: _method_probes(
            "add_noise", {"group": _group_arg(), "std": nonneg(0.0, 2.0), "mean": real(-1.0, 1.0)})),
        Entry("sim.Network.add_timed_input", H5, lambda tmp: _method_probes(
            "add_timed_input", {"group": _group_arg(),
                                "values": array((30, 4), lo=-1.0, hi=2.0, empty=("either",),
                                                shapes_bad=[("wrong n", (30, 5))]),
                                "start_step": integer(0, 10, min_value=0)})),
        Entry("sim.Network.add_state_monitor", H5, lambda tmp: _method_probes(
            "add_state_monitor", {"group": _group_arg(),
                                  "variables": Arg(st.sampled_from([("v",), ("v", "i_syn"), "v"]),
                                                   st.sampled_from([("('u',)", ("u",), "error"),
                                                                    ("3", 3, "error"), ("('',)", ("",), "error")]),
                                                   names=("variables",)),
                                  "neurons": Arg(st.sampled_from([None, [0, 3], [1]]),
                                                 st.sampled_from([("[4]", [4], "error"), ("[-1]", [-1], "error"),
                                                                  ("[0.5]", [0.5], "error"),
                                                                  ("'x'", "x", "error"), ("[[0]]", [[0]], "error")])),
                                  "every": integer(1, 5, min_value=1)})),
        Entry("sim.Network.run", H5, lambda tmp: call_probes(
            "Network(...).run", lambda duration_ms, progress: _run_net(duration_ms, progress),
            {"duration_ms": pos(0.2, 5.0, extreme=False), "progress": Arg(st.just(False),
                                                                          st.sampled_from([("'yes'", "yes", "either")]))},
            check=lambda r, kw: None)),
        Entry("sim.cuba", H5, lambda tmp: call_probes(
            "ns.sim.cuba", _built_and_run(ns.sim.cuba, 1.0),
            {"n_neurons": integer(5, 60, min_value=5, huge=(10 ** 9,)), "dt": pos(0.05, 0.5),
             "p": prob(0.0, 0.2), "rng": seed_arg()}, check=lambda net, kw: _run_check(net, 0.0))),
        Entry("sim.izhikevich2003", H5, lambda tmp: call_probes(
            "ns.sim.izhikevich2003", _built_and_run(ns.sim.izhikevich2003, 2.0),
            {"n_neurons": integer(5, 60, min_value=2, huge=(10 ** 8,)), "dt": pos(0.25, 1.0), "rng": seed_arg()},
            check=lambda net, kw: _run_check(net, 0.0))),
        Entry("sim.brunel", H5, lambda tmp: call_probes(
            "ns.sim.brunel", _built_and_run(ns.sim.brunel, 1.0),
            {"order": integer(1, 10, min_value=1, huge=(10 ** 9,)), "g": real(0.0, 6.0),
             "eta": pos(0.5, 3.0), "J": Arg(st.one_of(st.none(), st.floats(0.01, 1.0)), pos(allow_none=True).bad),
             "delay_ms": nonneg(0.0, 2.0), "epsilon": prob(0.05, 1.0, open_low=True), "rng": seed_arg()},
            check=lambda net, kw: _run_check(net, 0.0))),
        Entry("sim.connect generators", H5, lambda tmp: call_probes(
            "ns.sim.fixed_probability", ns.sim.fixed_probability,
            {"n_pre": integer(0, 30, min_value=0, huge=(10 ** 12,)), "n_post": integer(0, 30, min_value=0),
             "p": prob(), "rng": Arg(st.just(Lazy("np.random.default_rng(0)", lambda: np.random.default_rng(0))),
                                     seed_arg().bad)},
            check=_check_pairs)),
        Entry("sim.fixed_in_degree", H5, lambda tmp: call_probes(
            "ns.sim.fixed_in_degree", ns.sim.fixed_in_degree,
            {"n_pre": integer(1, 30, min_value=0), "n_post": integer(0, 30, min_value=0, huge=(10 ** 12,)),
             "k": integer(0, 5, min_value=0, huge=(10 ** 12,)),
             "rng": Arg(st.just(Lazy("np.random.default_rng(0)", lambda: np.random.default_rng(0))),
                        seed_arg().bad)},
            names_extra=("in_degree",), check=_check_pairs)),
    ]


def _built_and_run(builder, ms):
    """``builder(**kw)`` then a short run, both inside the call (a divergence is a clear error)."""
    def call(**kw):
        net = builder(**kw)
        net.run(max(ms, net.dt), progress=False)
        return net
    return call


def _check_pairs(res, kw):
    i, j = res
    if i.shape != j.shape or (i.size and (i.min() < 0 or i.max() >= kw["n_pre"] or j.min() < 0
                                          or j.max() >= kw["n_post"])):
        return "indices out of range"
    return None


def _run_net(duration_ms, progress):
    net = _base_net()
    net.add_spike_monitor()
    return net.run(duration_ms, progress=progress)


# ------------------------------------------------------------------------------------- rsa

_RSA_CTX = st.tuples(st.integers(3, 9), st.integers(2, 7), st.integers(2, 7))


def _no_ties(v, tol=1e-9):
    s = np.sort(np.asarray(v, dtype=float))
    return s.size < 2 or np.min(np.diff(s)) > tol * max(1.0, np.max(np.abs(s)))


def _check_rdm(rdm, kw):
    X = np.asarray(kw["X"], dtype=np.float64)
    method = kw["method"]
    kind = {"euclidean": "euclidean_rsatoolbox"}.get(method, method)
    ref = naive_rsa.rdm_loop(X, kind)
    # float32 inputs are compared in float32 (eps 6e-8; the GEMM forms cancel up to |x|^2)
    tol = 2e-6 if np.asarray(kw["X"]).dtype == np.float32 else 1e-9
    scale = max(1.0, float(np.max(np.abs(X))) ** 2) if X.size else 1.0
    if not np.allclose(rdm.vector, ref, rtol=tol, atol=tol * scale):
        return f"{method} RDM differs from the double loop (max diff {np.max(np.abs(rdm.vector - ref)):.3g})"
    return None


def _check_corr(C, kw):
    X = np.asarray(kw["X"], dtype=np.float64)
    const = np.ptp(X, axis=1) == 0
    if kw["constant_rows"] == "raise" or not const.any():
        if not np.all(np.isfinite(C)):
            return "non-finite correlations without constant rows"
        ref = np.corrcoef(X)
    else:
        if not (np.all(np.isnan(C[const])) and np.all(np.isfinite(C[~const][:, ~const]))):
            return "NaN rows/columns do not match the constant rows"
        ref = np.corrcoef(X[~const])
        C = C[~const][:, ~const]
    tol = 1e-5 if kw["dtype"] == np.float32 else 1e-9
    return None if np.allclose(C, ref, atol=tol) else "differs from np.corrcoef"


def _check_tsrsa(score, kw):
    from scipy.stats import spearmanr

    X, Y = np.asarray(kw["X"], float), np.asarray(kw["Y"], float)
    vx = 1 - np.corrcoef(X)[np.triu_indices(len(X), 1)]
    vy = 1 - np.corrcoef(Y)[np.triu_indices(len(Y), 1)]
    if not (-1 - 1e-9 <= score <= 1 + 1e-9):
        return f"score {score} outside [-1, 1]"
    if _no_ties(vx, 1e-6) and _no_ties(vy, 1e-6) and np.all(np.isfinite(vx)) and np.all(np.isfinite(vy)):
        ref = spearmanr(vx, vy).statistic
        if abs(ref - score) > 1e-9:
            return f"score {score} != scipy spearmanr {ref}"
    return None


def _rsa_entries():
    import neurosim.rsa as R

    XY = lambda c, **kw: {"X": array((c[0], c[1]), **kw), "Y": array((c[0], c[2]), **kw)}  # noqa: E731
    ties = choice(("argsort", "average"))
    cr = choice(("raise", "omit"))
    return [
        Entry("rsa.RDM", H5, lambda tmp: call_probes(
            "RDM", R.RDM, {"vector": array(st.sampled_from([(3,), (6,), (10,)]), lo=0.0, hi=2.0, empty=("either",),
                                           nan_ok=True, shapes_bad=[("not n(n-1)/2", (4,)), ("not n(n-1)/2", (7,))]),
                           "dissimilarity": const("correlation")}, allow_nonfinite=True)),
        Entry("rsa.RDM.from_square", H5, lambda tmp: call_probes(
            "RDM.from_square", R.RDM.from_square,
            {"D": Arg(st.integers(2, 6).map(lambda n: Lazy(f"squareform_of({n})", lambda n=n: _square(n))),
                      array((4, 4)).bad, names=("D", "matrix"))}, check=lambda r, kw: None)),
        Entry("rsa.calc_rdm", H5, lambda tmp: call_probes(
            "calc_rdm", R.calc_rdm, lambda c: {"X": array((c[0], c[1]), shapes_bad=[("one row", (1, c[1]))]),
                                               "method": choice(("correlation", "cosine", "euclidean"))},
            ctx=_RSA_CTX, check=_check_rdm)),
        Entry("rsa.correlation_matrix", H5, lambda tmp: call_probes(
            "correlation_matrix", R.correlation_matrix,
            lambda c: {"X": array((c[0], c[1])),
                       "dtype": Arg(st.sampled_from([np.float64, np.float32]),
                                    st.sampled_from([("np.int64", np.int64, "error"), ("'x'", "x", "error")])),
                       "chunk_size": Arg(st.one_of(st.none(), st.integers(1, 8)),
                                         integer(1, 4, min_value=1, allow_none=True).bad),
                       "constant_rows": cr},
            ctx=_RSA_CTX, allow_nonfinite=True, check=_check_corr)),
        Entry("rsa.compare", H5, lambda tmp: call_probes(
            "compare", R.compare,
            {"a": Arg(array((10,), lo=0.0, hi=2.0).valid,  # NaN pairs are documented: dropped from both
                      array((10,), lo=0.0, hi=2.0, nan_ok=True, shapes_bad=[("other size", (6,))]).bad, names=("a",)),
             "b": Arg(array((10,), lo=0.0, hi=2.0).valid, array((10,), lo=0.0, hi=2.0, nan_ok=True).bad, names=("b",)),
             "method": choice(("spearman", "pearson", "tau-a", "cosine"))},
            check=lambda r, kw: None if -1 - 1e-9 <= r <= 1 + 1e-9 else f"score {r} outside [-1, 1]")),
        Entry("rsa.linear_cka", H5, lambda tmp: call_probes(
            "linear_cka", R.linear_cka, XY, ctx=_RSA_CTX,
            check=lambda r, kw: None if -1e-9 <= r <= 1 + 1e-9 else f"CKA {r} outside [0, 1]")),
        Entry("rsa.tsrsa", H5, lambda tmp: call_probes(
            "tsrsa", R.tsrsa, lambda c: {**XY(c), "ties": ties, "constant_rows": cr}, ctx=_RSA_CTX,
            check=_check_tsrsa)),
        Entry("rsa.tsrsa_scores", H5, lambda tmp: call_probes(
            "tsrsa_scores", R.tsrsa_scores,
            lambda c: {"features": Arg(array((c[0], c[1])).valid.map(lambda a: {"l1": a}),
                                       st.one_of(array((c[0], c[1])).bad.map(lambda b: (f"{{'l1': {b[0]}}}", {"l1": b[1]},
                                                                                        b[2])),
                                                 st.just(("{}", {}, "error"))),
                                       names=("features", "l1")),
                       "neural": Arg(array((c[0], c[2])).valid.map(lambda a: {"VISp": a}),
                                     st.sampled_from([("{}", {}, "error"),
                                                      ("wrong frames", {"VISp": A((c[0] + 1, 3))}, "error")]),
                                     names=("neural", "VISp"))}, ctx=_RSA_CTX)),
        Entry("rsa.split_half_ceiling", H5, lambda tmp: call_probes(
            "split_half_ceiling", R.split_half_ceiling,
            {"Y": array(st.tuples(st.integers(3, 8), st.integers(4, 9))), "n_splits": integer(1, 5, min_value=1),
             "rng": seed_arg(), "ties": ties})),
        Entry("rsa.trial_split_half_ceiling", H5, lambda tmp: call_probes(
            "trial_split_half_ceiling", R.trial_split_half_ceiling,
            {"Y": array(st.tuples(st.integers(3, 8), st.integers(2, 4), st.integers(2, 6))),
             "n_splits": integer(1, 5, min_value=1), "rng": seed_arg()})),
        Entry("rsa.clip_length_scores", H5, lambda tmp: call_probes(
            "clip_length_scores", R.clip_length_scores,
            lambda c: {**XY((c[0] + 4, c[1], c[2])), "clip_len": integer(3, c[0] + 4, min_value=3,
                                                                          max_value=c[0] + 4),
                       "n_clips": integer(1, 1, min_value=1), "rng": seed_arg()}, ctx=_RSA_CTX)),
        Entry("rsa.permutation_test", H5, lambda tmp: call_probes(
            "permutation_test", R.permutation_test,
            lambda c: {**XY(c), "n_permutations": integer(1, 20, min_value=1), "rng": seed_arg(), "ties": ties},
            ctx=_RSA_CTX,
            check=lambda r, kw: None if 0 < r["p_value"] <= 1 else f"p-value {r['p_value']}")),
        Entry("rsa.bootstrap_ci", H5, lambda tmp: call_probes(
            "bootstrap_ci", R.bootstrap_ci,
            lambda c: {**XY(c), "n_boot": integer(1, 20, min_value=1), "confidence": prob(open_low=True, open_high=True),
                       "over": choice(("conditions", "units")), "rng": seed_arg()},
            ctx=_RSA_CTX, allow_nonfinite=True,
            check=lambda r, kw: None if np.isfinite(r["low"]) and np.isfinite(r["high"]) and r["low"] <= r["high"]
            else f"interval {r['low']}..{r['high']}")),
        Entry("rsa.regression_score", H5, lambda tmp: call_probes(
            "regression_score", R.regression_score,
            lambda c: {**XY((c[0] + 3, c[1], c[2])), "n_components": integer(1, 10, min_value=1),
                       "alpha": nonneg(0.0, 10.0), "n_folds": integer(2, 3, min_value=2),
                       "same_data": boolean()}, ctx=_RSA_CTX)),
        Entry("rsa.replace_frames", H5, lambda tmp: call_probes(
            "replace_frames", R.replace_frames,
            {"movie": Arg(array(st.tuples(st.integers(1, 10), st.integers(1, 5), st.integers(1, 5)), lo=0.0, hi=1.0).valid,
                          array(st.tuples(st.integers(1, 10), st.integers(1, 5), st.integers(1, 5)), lo=0.0,
                                hi=1.0).bad.map(lambda b: (b[0], b[1], "either") if b[0].startswith("rank") else b)),
             "window": integer(1, 5, min_value=1), "kind": choice(("gaussian", "uniform", "black")),
             "rng": seed_arg()})),
        Entry("rsa.shuffle_within_windows", H5, lambda tmp: call_probes(
            "shuffle_within_windows", R.shuffle_within_windows,
            {"n_frames": integer(1, 50, min_value=1, huge=(10 ** 12,)), "window": integer(1, 10, min_value=1),
             "rng": seed_arg()},
            check=lambda p, kw: None if np.array_equal(np.sort(p), np.arange(kw["n_frames"])) else "not a permutation")),
        Entry("rsa.level_of_chaos", H5, lambda tmp: call_probes(
            "level_of_chaos", R.level_of_chaos,
            {"perm": Arg(st.integers(2, 20).map(lambda n: np.random.default_rng(n).permutation(n)),
                         st.sampled_from([("[0, 0]", [0, 0], "error"), ("[1.5, 0]", [1.5, 0.0], "error"),
                                          ("[nan, 0]", [NAN, 0.0], "error"), ("[0]", [0], "error"),
                                          ("'ab'", "ab", "error"), ("[[0, 1]]", [[0, 1]], "error")]))},
            check=lambda r, kw: None if 0 <= r <= 2 else f"chaos {r} outside [0, 2]")),
    ]


def _square(n):
    from scipy.spatial.distance import pdist, squareform

    return squareform(pdist(np.random.default_rng(n).normal(size=(n, 3))))


def entries():
    return _neurons_entries() + _sim_entries() + _rsa_entries()
