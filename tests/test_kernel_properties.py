"""One hypothesis property per Numba kernel against its naive reference (``tests/naive*.py``).

Random shapes including awkward sizes (1, odd, several blocks), both dtypes where the kernel
takes both. Hypothesis draws the sizes, options and a seed; the arrays come from a NumPy
Generator with that seed. ``derandomize=True`` fixes the examples, so CI is deterministic.

Bounds, and why:

* **0 ulp (bit equality)** where kernel and reference perform the same IEEE-754 basic
  operations (``+ - * /``, compare) in the same order and precision: those are correctly
  rounded on every conforming machine and no library function (``exp``, BLAS) is involved,
  so the results cannot differ (``fastmath`` is off by default; ``NEUROSIM_FASTMATH=1`` would
  void this). Spikes and other discrete outputs derived from bit-identical values are then
  identical too.
* **exact by construction** where the summation order differs (a reference that sums a row
  first, a kernel that adds one synapse at a time): the values are dyadic (multiples of 2^-6,
  small magnitudes), so every partial sum is exact in any order.
* **rtol/atol** where the kernel reassociates sums (``fastmath`` reassoc), computes in float32
  against a float64 reference, or calls ``exp``: the bound is stated at each assertion.
"""
from __future__ import annotations

import math

import numba
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import naive
import naive_continual
import naive_reservoir
import naive_rsa
import naive_snn
import neurosim.snn as snn
from neurosim.kernels import distance, reservoir, synapse
from neurosim.kernels.bptt import surrogate_grad
from neurosim.kernels.conv_small import conv_small_backward, conv_small_forward
from neurosim.kernels.normal import BLOCK as NBLOCK
from neurosim.kernels.normal import normal_block, scaled_copy
from neurosim.kernels.plasticity import hebbian_subspace_update
from neurosim.kernels.vexp import vexp
from neurosim.snn import fused
from neurosim.snn import surrogate as S
from neurosim.snn.batchnorm import batch_norm_train
from neurosim.snn.functional.lif import LIFSpec


def props(n: int):
    """Fixed-seed hypothesis settings with ``n`` examples (no deadline: the first example
    of a kernel may load it from Numba's cache)."""
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


DTYPES = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**32 - 1)


def dyadic(rng, shape, scale=4.0, bits=6):
    """Uniform values in [-scale, scale) on a grid of 2^-bits: sums of a few hundred of them
    are exact in float32 and float64, in any order."""
    return np.round(rng.uniform(-scale, scale, shape) * 2**bits) / 2**bits


# ------------------------------------------------------------------------------ kernels/lif.py
@props(25)
@given(n=st.integers(1, 40), T=st.integers(1, 40), dtype=DTYPES, reset=st.sampled_from(["zero", "subtract", "none"]),
       seed=SEEDS)
def test_lif_integrate(n, T, dtype, reset, seed):
    from neurosim.neurons import LIFParams, LIFState, lif_run

    rng = np.random.default_rng(seed)
    dt = 0.5
    p = LIFParams(tau_mem=rng.uniform(5, 30, n), tau_syn=rng.uniform(1, 10, n), v_th=1.0,
                  v_reset=rng.uniform(-0.5, 0.5, n), t_ref=rng.choice([0.0, 1.0, 2.5], n),
                  r=rng.uniform(0.5, 2, n), reset=reset)
    xs = rng.uniform(-0.5, 3.0, (T, n)).astype(dtype)
    st0 = LIFState(rng.uniform(-1, 1, n).astype(dtype), rng.uniform(0, 1, n).astype(dtype),
                   rng.integers(0, 3, n).astype(np.int32))
    spikes, out = lif_run(xs, st0, p, dt)
    c = p.coefficients(dt)  # the coefficients (exp) are inputs shared by both sides

    def f(v):
        return np.broadcast_to(np.asarray(v, dtype=dtype), (n,))

    ref = naive.lif_run(xs, st0.v, st0.i_syn, st0.refr, v_rest=f(p.v_rest), r=f(p.r), a_m=f(c["a_m"]),
                        a_s=f(c["a_e"]), k_s=f(c["k_e"]), v_th=f(p.v_th), v_reset=f(p.v_reset),
                        n_ref=np.broadcast_to(c["n_ref"], (n,)), reset=reset)
    # 0 ulp: the same +, *, compare in the same order and dtype (module docstring)
    for got, want in zip((spikes, out.v, out.i_syn, out.refr), ref):
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------- kernels/izhikevich.py
@props(20)
@given(n=st.integers(1, 9), T=st.integers(1, 300), dt=st.sampled_from([1.0, 0.5, 0.25]), dtype=DTYPES, seed=SEEDS)
def test_izhikevich_integrate(n, T, dt, dtype, seed):
    from neurosim.neurons import IzhikevichParams, IzhikevichState, izhikevich_run

    rng = np.random.default_rng(seed)
    p = IzhikevichParams(a=rng.uniform(0.02, 0.1, n), b=rng.uniform(0.2, 0.25, n), c=rng.uniform(-65, -50, n),
                         d=rng.uniform(2, 8, n))
    xs = rng.normal(6.0, 4.0, (T, n)).astype(dtype)
    st0 = IzhikevichState.initial(p, n, dtype=dtype)
    spikes, out = izhikevich_run(xs, st0, p, dt)

    def f(v):
        return np.asarray(v, dtype=dtype)

    ref = naive.izhikevich_run(xs, st0.v, st0.u, a=f(p.a), b=f(p.b), c=f(p.c), d=f(p.d),
                               v_peak=np.full(n, p.v_peak, dtype=dtype), dt=dt)
    # 0 ulp: float64 evaluation of the same formula, rounded to the state dtype once per step
    for got, want in zip((spikes, out.v, out.u), ref):
        np.testing.assert_array_equal(got, want)


# -------------------------------------------------------------------------- kernels/synapse.py
@props(30)
@given(n_pre=st.integers(1, 30), n_post=st.integers(1, 30), n_spk=st.integers(0, 30), density=st.floats(0.0, 1.0),
       D=st.integers(1, 5), t=st.integers(0, 11), dtype=DTYPES, seed=SEEDS)
def test_synapse_propagation(n_pre, n_post, n_spk, density, D, t, dtype, seed):
    rng = np.random.default_rng(seed)
    spikes = np.sort(rng.choice(n_pre, min(n_spk, n_pre), replace=False)).astype(np.int32)
    w = rng.normal(size=(n_pre, n_post)).astype(dtype)
    out0 = rng.normal(size=n_post).astype(dtype)
    # 0 ulp in all three: the same additions in the same order (spike order, then synapse order)
    out = out0.copy()
    synapse.dense_propagate(spikes, w, out)
    np.testing.assert_array_equal(out, naive.dense_propagate(spikes, w, out0))
    mask = rng.random((n_pre, n_post)) < density
    indptr = np.r_[0, np.cumsum(mask.sum(1))].astype(np.int64)
    indices = np.nonzero(mask)[1].astype(np.int32)
    weights = w[mask]
    out = out0.copy()
    synapse.csr_propagate(spikes, indptr, indices, weights, out)
    np.testing.assert_array_equal(out, naive.csr_propagate(spikes, indptr, indices, weights, out0))
    delays = rng.integers(0, D, indices.size).astype(np.int32)
    ring0 = rng.normal(size=(D, n_post)).astype(dtype)
    ring = ring0.copy()
    synapse.csr_propagate_delayed(spikes, indptr, indices, weights, delays, ring, t)
    np.testing.assert_array_equal(ring, naive.csr_propagate_delayed(spikes, indptr, indices, weights, delays, ring0, t))


@props(30)
@given(n_keys=st.integers(1, 20), n=st.integers(0, 60), seed=SEEDS)
def test_csr_order_and_row_flags(n_keys, n, seed):
    rng = np.random.default_rng(seed)
    keys = rng.integers(0, n_keys, n)
    indptr = np.empty(n_keys + 1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    synapse.csr_order(keys, indptr, order)
    ref_order, ref_indptr = naive.csr_order(keys.tolist(), n_keys)
    np.testing.assert_array_equal(order, ref_order)  # integers: exact
    np.testing.assert_array_equal(indptr, ref_indptr)
    # rows of runs, gaps and repeats; weights with repeats and NaN
    starts = rng.integers(0, 5, n)
    indices = (starts + np.where(rng.random(n) < 0.7, np.arange(n) % 4, rng.integers(0, 9, n))).astype(np.int32)
    flags = np.empty(n_keys, dtype=np.uint8)
    synapse.csr_contiguous_rows(indptr, indices, flags)
    ref_flags = naive.csr_contiguous_rows(indptr, indices)
    np.testing.assert_array_equal(flags, ref_flags)
    weights = rng.choice(np.float32([0.5, 0.5, 0.5, 1.0, np.nan]), n) if rng.random() < 0.5 else \
        np.full(n, 0.25, np.float32)
    synapse.csr_uniform_rows(indptr, weights, flags)
    np.testing.assert_array_equal(flags, naive.csr_uniform_rows(indptr, weights, ref_flags))


# -------------------------------------------------------------------------- kernels/network.py
@props(8)
@given(n_a=st.integers(1, 6), n_b=st.integers(1, 4), n_syn=st.integers(0, 8), T=st.integers(10, 120),
       dtype=DTYPES, reset=st.sampled_from(["zero", "subtract"]), delays=st.sampled_from(["mixed", "zero"]),
       seed=SEEDS)
def test_network_integrate(n_a, n_b, n_syn, T, dtype, reset, delays, seed):
    """Two LIF groups, synapses on all three targets, per-synapse delays, a timed drive (the
    layout of ``test_sim_network.test_lif_network_matches_naive``, with drawn sizes)."""
    from neurosim.neurons import LIFParams
    from neurosim.sim import Network

    rng = np.random.default_rng(seed)
    dt = 0.5
    pa = LIFParams(tau_mem=rng.uniform(8, 20, n_a), tau_syn=4.0, tau_syn_inh=9.0, v_th=1.0,
                   v_reset=rng.uniform(-0.3, 0.2, n_a), t_ref=rng.choice([0.0, 1.0, 2.0], n_a), reset=reset)
    pb = LIFParams(tau_mem=12.0, tau_syn=3.0, v_th=1.0, v_reset=0.0, t_ref=1.5, r=1.3, reset=reset)
    net = Network(dt=dt, dtype=dtype, rng=0)
    a = net.add_lif(n_a, pa, v0=rng.uniform(0, 0.9, n_a), i_ext=rng.uniform(0.9, 1.4, n_a), name="a")
    b = net.add_lif(n_b, pb, i_ext=1.05, name="b")
    syn = []
    for pre, post, target, scale in [(a, a, "ge", 0.9), (a, b, "v", 0.4), (b, a, "gi", -0.8), (b, b, "ge", 0.5)]:
        if n_syn == 0:
            continue
        i = rng.integers(0, pre.n, n_syn)
        j = rng.integers(0, post.n, n_syn)
        w = rng.uniform(0.2, 1.0, n_syn) * scale
        d = rng.choice([0.0, 0.5, 1.0, 2.5], n_syn) * (delays == "mixed")
        net.connect(pre, post, pairs=(i, j), weight=w, delay_ms=d, target=target)
        tag = {"ge": "e", "gi": "i", "v": "v"}[target]
        for q in np.argsort(i, kind="stable"):
            syn.append((pre.start + i[q], post.start + j[q], w[q], int(round(d[q] / dt)), tag))
    drive = rng.normal(0.0, 0.3, (T, n_b))
    net.add_timed_input(b, drive, target="ge")
    mon = net.add_spike_monitor(name="spikes")
    net.run(T * dt, progress=False)
    n = n_a + n_b
    coef = {k: np.zeros(n) for k in ("a_m", "a_e", "a_i", "k_e", "k_i", "v_inf", "v_th", "v_reset")}
    n_ref = np.zeros(n, dtype=np.int64)
    for g, p in ((a, pa), (b, pb)):
        c = p.coefficients(dt)
        sl = slice(g.start, g.stop)
        for k in ("a_m", "a_e", "a_i", "k_e", "k_i"):
            coef[k][sl] = c[k]
        coef["v_inf"][sl] = np.asarray(p.v_rest) + np.asarray(p.r) * g.i_ext
        coef["v_th"][sl], coef["v_reset"][sl], n_ref[sl] = p.v_th, p.v_reset, c["n_ref"]
    full_drive = np.zeros((T, n))
    full_drive[:, n_a:] = drive
    # all delays zero: inputs go straight into the currents (mode 1; 2 without synapses onto v)
    mode = 2 if not syn else (1 if all(q[3] == 0 for q in syn) else 0)
    assert net._flat["direct"] == mode
    ref = naive.lif_network(T, np.r_[a.v0, b.v0], coef, n_ref, reset, syn, full_drive, ["e"] * n, dtype=dtype,
                            direct=mode > 0)
    steps = np.rint(mon.times_ms / dt).astype(np.int64) - 1
    # 0 ulp: the reference adds the inputs in the simulator's order (channel, spiking id, synapse)
    assert sorted(zip(steps.tolist(), mon.ids.tolist())) == sorted(ref)


# ------------------------------------------------------------------------ kernels/bptt*.py
SURROGATES = [S.ATan(), S.Sigmoid(), S.FastSigmoid(), S.Triangle(alpha=2.0), S.Gaussian(), S.Erf(),
              S.SuperSpike(alpha=4.0)]


@props(30)
@given(sg=st.sampled_from(SURROGATES), n=st.integers(1, 70), dtype=DTYPES, seed=SEEDS)
def test_surrogate_grad(sg, n, dtype, seed):
    x = np.random.default_rng(seed).uniform(-4, 4, n).astype(dtype)
    P, F = fused.kernel_arrays(snn.LIF(surrogate=sg).spec, dtype)
    out = np.empty(n, dtype=dtype)
    surrogate_grad(x, out, P, F)
    ref = naive_snn.sg_grad(sg.name, sg.kernel_param, x.astype(np.float64))
    peak = float(naive_snn.sg_grad(sg.name, sg.kernel_param, np.zeros(1))[0])
    # relative: constants and exp rounded to the dtype (a few ulp: 1e-5 for float32, 1e-12 for
    # float64, with margin); absolute: the sigmoid's 1 - s cancels in the tails, an error of
    # about eps * c1, so 4 eps of the surrogate's peak value
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=4 * np.finfo(dtype).eps * peak)


@props(40)
@given(T=st.integers(1, 10), B=st.integers(1, 3), N=st.integers(1, 45), dtype=DTYPES,
       reset=st.sampled_from(["zero", "subtract", "none"]), decay_input=st.booleans(), strict=st.booleans(),
       detach=st.booleans(), tau=st.sampled_from([1.0, 1.5, 2.0, 3.0, 7.0]), v_th=st.sampled_from([0.5, 1.0, 1.25]),
       v_reset=st.sampled_from([-0.25, 0.0]), v_rest=st.sampled_from([0.0, 0.125]), use_v0=st.booleans(),
       sg=st.sampled_from(SURROGATES), block=st.sampled_from([16, 64, 16384]), store=st.booleans(), seed=SEEDS)
def test_lif_bptt_forward_backward(T, B, N, dtype, reset, decay_input, strict, detach, tau, v_th, v_reset, v_rest,
                                   use_v0, sg, block, store, seed):
    rng = np.random.default_rng(seed)
    M = B * N
    x = (rng.normal(0.4, 1.5, (T, B, N))).astype(dtype)
    v0 = rng.uniform(-0.5, 1.2, (B, N)).astype(dtype) if use_v0 else None
    gs = rng.normal(size=(T, B, N))
    gv = rng.normal(size=(B, N))
    spec = LIFSpec(tau=tau, v_th=v_th, v_reset=v_reset, v_rest=v_rest, reset=reset, decay_input=decay_input,
                   strict=strict, detach_reset=detach, surrogate=sg)
    with fused.fused_options(block=block, store_membrane=store, parallel_min_steps=0):
        xr = torch.tensor(x, requires_grad=True)
        vr = torch.tensor(v0, requires_grad=True) if use_v0 else None
        s, vT = fused.lif_fused(xr, vr, spec)
        loss = (s * torch.tensor(gs, dtype=xr.dtype)).sum() + (vT * torch.tensor(gv, dtype=xr.dtype)).sum()
        grads = torch.autograd.grad(loss, [xr] + ([vr] if use_v0 else []))
    S_ref, H, v_ref = naive_snn.lif_forward(x.reshape(T, M), tau=tau, v_th=v_th, v_reset=v_reset, v_rest=v_rest,
                                            reset=reset, decay_input=decay_input, strict=strict,
                                            v0=None if v0 is None else v0.reshape(M), dtype=dtype)
    # forward, 0 ulp: the reference does the kernel's operations in its order and dtype
    np.testing.assert_array_equal(s.detach().numpy().reshape(T, M), S_ref)
    np.testing.assert_array_equal(vT.detach().numpy().reshape(M), v_ref)
    gx_ref, gv0_ref = naive_snn.lif_backward(gs.reshape(T, M), H.astype(np.float64), tau=tau, sg=sg.name,
                                             sg_p=sg.kernel_param, v_th=v_th, v_reset=v_reset, reset=reset,
                                             decay_input=decay_input, detach_reset=detach, strict=strict,
                                             gv_T=gv.reshape(M))
    # backward: the kernel runs in the data dtype against a float64 reference over <= 10 steps;
    # float32: 1e-4 of the largest gradient (rounding ~1e-7 per operation, a few dozen per step);
    # float64: 1e-10
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for got, want in zip(grads, (gx_ref, gv0_ref)):
        want = want.reshape(got.shape)
        np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


# ------------------------------------------------------------------------ kernels/vexp.py
@numba.njit(error_model="numpy")
def _vexp_loop(x, out):
    for i in range(x.shape[0]):
        out[i] = vexp(x[i])


@props(30)
@given(xs=st.lists(st.floats(-87.0, 88.0, width=32), min_size=1, max_size=50),
       xd=st.lists(st.floats(-700.0, 700.0), min_size=1, max_size=50))
def test_vexp(xs, xd):
    x = np.array(xs, dtype=np.float32)
    out = np.empty_like(x)
    _vexp_loop(x, out)
    ref = np.exp(x.astype(np.float64))
    # float32: the Cephes polynomial, below 2 ulp of the float64 exp (measured 1.34 ulp)
    assert np.all(np.abs(out.astype(np.float64) - ref) <= 2 * 2.0**-24 * ref), (x, out, ref)
    x = np.array(xd)
    out = np.empty_like(x)
    _vexp_loop(x, out)
    # float64 is the C library's exp, as math.exp: same function, 0 ulp
    assert out.tolist() == [math.exp(v) for v in xd]


# ------------------------------------------------------------------------ kernels/normal.py
@props(15)
@given(n_blocks=st.integers(1, 4), n=st.integers(1, 40), T=st.integers(1, 30), lo=st.integers(0, 3), seed=SEEDS)
def test_normal_block_and_scaled_copy(n_blocks, n, T, lo, seed):
    rng = np.random.default_rng(seed)
    units = rng.integers(-2**31, 2**31, n_blocks * NBLOCK).astype(np.int32)
    z = np.empty(NBLOCK, np.float32)
    scratch = np.empty(NBLOCK // 2, np.float32)
    for b in range(n_blocks):
        assert normal_block(units, b * NBLOCK, z, scratch) == (b + 1) * NBLOCK
        # float32 series for ln, sin, cos: |error| < 1e-6 against float64 Box-Muller (documented)
        np.testing.assert_allclose(z, naive.normal_block(units[b * NBLOCK:(b + 1) * NBLOCK]), rtol=0, atol=1e-6)
    # scaled_copy: mean + std z, row-major over (t, i), fresh blocks as needed
    need = -(-T * n // NBLOCK)
    units = rng.integers(-2**31, 2**31, need * NBLOCK).astype(np.int32)
    mean, std = rng.normal(size=n), rng.uniform(0.5, 2, n)
    out = np.zeros((T, lo + n))
    zbuf = np.empty(NBLOCK, np.float32)
    p, zpos = scaled_copy(units, 0, zbuf, NBLOCK, scratch, out, lo, mean, std, False)
    assert p == units.size and not out[:, :lo].any()
    zs = np.concatenate([naive.normal_block(units[k * NBLOCK:(k + 1) * NBLOCK]) for k in range(need)])
    np.testing.assert_allclose(out[:, lo:], mean + std * zs[:T * n].reshape(T, n), rtol=0, atol=2e-6 * std.max())


# ---------------------------------------------------------------------- kernels/batchnorm.py
@props(20)
@given(N=st.integers(1, 4), C=st.integers(1, 5), H=st.integers(1, 6), W=st.integers(1, 6), dtype=DTYPES,
       shift=st.sampled_from([0.0, 5.0, -30.0]), seed=SEEDS)
def test_batchnorm_forward_backward(N, C, H, W, dtype, shift, seed):
    if N * H * W < 4:
        N = 4  # at least 4 values per channel (2 could be nearly equal: a variance of ~0)
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, rng.uniform(0.5, 3.0), (N, C, H, W)).astype(dtype)
    g, b = rng.uniform(0.5, 1.5, C).astype(dtype), rng.normal(size=C).astype(dtype)
    dy = rng.normal(size=x.shape).astype(dtype)
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, g, b))
    y, _, var = batch_norm_train(xt, gt, bt, eps=1e-5)
    dx, dg, db = torch.autograd.grad(y, [xt, gt, bt], torch.tensor(dy))
    ry, rvar, rdx, rdg, rdb = naive_snn.batchnorm_train(x, g.astype(float), b.astype(float), 1e-5, dy)
    # reassociated sums in the data dtype (fastmath reassoc) against float64; the normalised
    # values carry the input's rounding relative to the spread: eps * (|x|max / std) per value,
    # times a margin of 64 for the sums (float32: ~1e-5 here; float64: ~1e-14)
    eps = np.finfo(dtype).eps
    cond = 64 * eps * (1.0 + np.abs(x).max() / np.sqrt(rvar.min()))
    np.testing.assert_allclose(var.numpy(), rvar, rtol=cond, atol=0)
    np.testing.assert_allclose(y.detach().numpy(), ry, rtol=0, atol=cond * max(1.0, np.abs(ry).max()))
    for got, want in ((dx, rdx), (dg, rdg), (db, rdb)):
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=cond * N * H * W * max(1.0, np.abs(want).max()))


# ---------------------------------------------------------------------- kernels/conv_small.py
@props(20)
@given(N=st.integers(1, 3), C=st.integers(1, 3), O=st.integers(1, 4), K=st.sampled_from([1, 2, 3, 5]),
       p=st.integers(0, 2), H=st.integers(1, 7), W=st.integers(1, 7), dtype=DTYPES, chunks=st.integers(1, 3),
       seed=SEEDS)
def test_conv_small_forward_backward(N, C, O, K, p, H, W, dtype, chunks, seed):
    H, W = max(H, K - 2 * p), max(W, K - 2 * p)  # the padded input covers the kernel
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, C, H, W)).astype(dtype)
    w = rng.normal(size=(O, C, K, K)).astype(dtype)
    b = rng.normal(size=O).astype(dtype)
    Ho, Wo = H + 2 * p - K + 1, W + 2 * p - K + 1
    out = np.empty((N, O, Ho, Wo), dtype)
    conv_small_forward(x, w, b, p, out, min(chunks, N))
    ref = naive_snn.conv2d(x, w, b, p)
    # C K^2 <= 75 products summed reassociated in the data dtype vs float64: 1e-5 (float32) /
    # 1e-12 (float64) of the sum of the products' magnitudes
    scale = naive_snn.conv2d(np.abs(x), np.abs(w), np.abs(b), p)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.all(np.abs(out - ref) <= tol * (scale + 1.0))
    dy = rng.normal(size=out.shape).astype(dtype)
    dw, db, dx = np.empty(w.shape), np.empty(O), np.empty_like(x)
    conv_small_backward(x, w, dy, p, dw, db, dx, True, min(chunks, N))
    rdx, rdw, rdb = naive_snn.conv2d_backward(x, w, dy, p)
    n_terms = N * Ho * Wo
    for got, want in ((dx, rdx), (dw, rdw), (db, rdb)):
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * n_terms * max(1.0, np.abs(want).max()))


# ----------------------------------------------------------------------- kernels/plasticity.py
@props(20)
@given(B=st.integers(1, 12), n=st.integers(1, 20), K=st.integers(1, 8), nf=st.integers(0, 8), dtype=DTYPES,
       iterations=st.integers(1, 3), seed=SEEDS)
def test_hebbian_subspace_update(B, n, K, nf, dtype, iterations, seed):
    nf = min(nf, K)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, n)).astype(dtype)
    H = (rng.standard_normal((K, n)) / np.sqrt(n)).astype(dtype)
    M = (0.01 * rng.standard_normal((K, n))).astype(dtype)
    Hn, Mn = naive_continual.naive_hebbian(H, M, X, nf, eta=0.05, iterations=iterations)
    H2, M2 = H.copy(), M.copy()
    hebbian_subspace_update(H2, M2, X, nf, eta=0.05, iterations=iterations)
    # kernel sums in the data dtype vs the float64 matrix form (BLAS): float32 2e-4 (a few
    # hundred roundings of 6e-8 on O(1) values), float64 1e-10
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(H2, Hn, rtol=tol, atol=tol)
    np.testing.assert_allclose(M2, Mn, rtol=tol, atol=tol)
    np.testing.assert_array_equal(H2[:nf], H[:nf])  # frozen rows: untouched, the same bits


# ------------------------------------------------------------------------ kernels/distance.py
@props(30)
@given(n=st.integers(0, 60), seed=SEEDS)
def test_distance_kernels(n, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    out = np.empty(n, dtype=np.int32)
    distance.inverse_permutation(order, out)
    np.testing.assert_array_equal(out, naive_rsa.inverse_permutation(order))  # integers: exact
    rx, ry = rng.integers(0, 2**31 - 1, n), rng.integers(0, 2**31 - 1, n)
    # squares < 2^62 exact in int64, summed in float64: the exact integer sum to 1 rounding per term
    assert distance.rank_diff_sq_sum(rx, ry) == pytest.approx(naive_rsa.rank_diff_sq_sum(rx, ry), rel=n * 2**-52)
    m = int(np.sqrt(n)) + 1
    Cm = rng.normal(size=(m, m))
    tri = np.empty(m * (m - 1) // 2)
    distance.upper_triangle_into(Cm, tri)
    np.testing.assert_array_equal(tri, naive_rsa.upper_triangle(Cm))  # copies: exact


# ------------------------------------------------------------------------ kernels/reservoir.py
@props(20)
@given(n=st.integers(1, 14), T=st.integers(1, 40), B=st.integers(1, 3), d=st.integers(1, 5),
       reset=st.sampled_from(["zero", "subtract"]), decay=st.sampled_from([0.5, 0.75, 0.875]), seed=SEEDS)
def test_lsm_integrate(n, T, B, d, reset, decay, seed):
    rng = np.random.default_rng(seed)
    mode = reservoir.RESET_ZERO if reset == "zero" else reservoir.RESET_SUBTRACT
    W = dyadic(rng, (n, n), 0.75)  # exact sums in any order: see the module docstring
    x = (rng.random((B, T, d)) < 0.4).astype(np.float32)
    w_in = dyadic(rng, (n, d), 1.5)
    currents = np.ascontiguousarray(x.astype(np.float64) @ w_in.T)  # dyadic products: exact
    spikes = np.empty((T, n))
    reservoir.lsm_integrate(currents[0], np.ascontiguousarray(W.T), decay, 1.0, mode, np.zeros(n), np.zeros(n),
                            spikes)
    ref = [naive_reservoir.lsm_naive(currents[k], W, decay, 1.0, reset) for k in range(B)]
    np.testing.assert_array_equal(spikes, ref[0])  # exact values on both sides: identical spikes
    batch = np.empty((B, T, n))
    reservoir.lsm_integrate_batch(currents, np.ascontiguousarray(W.T), decay, 1.0, mode, batch)
    sparse = np.empty((B, T, n), np.uint8)
    reservoir.lsm_integrate_batch_sparse(x, np.ascontiguousarray(w_in.T), np.ascontiguousarray(W.T), decay, 1.0,
                                         mode, sparse)
    for k in range(B):
        np.testing.assert_array_equal(batch[k], ref[k])
        np.testing.assert_array_equal(sparse[k], ref[k])


@props(15)
@given(n=st.integers(1, 10), T=st.integers(1, 30), eta=st.sampled_from([0.0, 0.01]), seed=SEEDS)
def test_ei_rate_integrate(n, T, eta, seed):
    rng = np.random.default_rng(seed)
    WE = np.where(rng.random((n, n)) < 0.5, rng.uniform(0, 1, (n, n)), 0.0)
    WI = np.where(rng.random((n, n)) < 0.5, rng.uniform(0, 1, (n, n)), 0.0)
    drive = rng.normal(size=(T, n))
    g, target = rng.uniform(0.5, 2, n), rng.uniform(0.1, 0.5, n)
    leak = 0.3

    def csr(Wm):
        mask = Wm != 0
        return (np.r_[0, np.cumsum(mask.sum(1))].astype(np.int64), np.nonzero(mask)[1].astype(np.int64), Wm[mask])

    gk, r, states = g.copy(), np.zeros(n), np.empty((T, n))
    reservoir.ei_rate_integrate(drive, *csr(WE), *csr(WI), gk, leak, eta, target, r, states)
    ref, g_ref = naive_reservoir.ei_naive(drive, WE, WI, g, leak, eta, target)
    # the same sums in the same order (the zero terms the reference adds change nothing) and the
    # same C-library exp: 1e-12 covers the 1 / (1 + e^-h) rounding
    np.testing.assert_allclose(states, ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(gk, g_ref, rtol=0, atol=1e-12)


@props(15)
@given(n=st.integers(1, 12), T=st.integers(1, 80), seed=SEEDS)
def test_izhikevich_reservoir_integrate(n, T, seed):
    rng = np.random.default_rng(seed)
    W = dyadic(rng, (n, n), 6.0)  # synaptic sums exact in any order
    I = dyadic(rng, (T, n), 8.0) + 4.0
    a, b = rng.uniform(0.02, 0.1, n), rng.uniform(0.2, 0.25, n)
    c, d = rng.uniform(-65, -50, n), rng.uniform(2, 8, n)
    decay = rng.uniform(0.8, 0.99, n)
    v, u, x = np.full(n, -65.0), b * -65.0, np.zeros(n)
    spikes, traces = np.empty((T, n)), np.empty((T, n))
    reservoir.izhikevich_reservoir_integrate(I, np.ascontiguousarray(W.T), a, b, c, d, decay, v, u, x, spikes, traces)
    ref_s, ref_tr = naive_reservoir.izhikevich_naive(I, W, a, b, c, d, decay)
    # exact synaptic input, then the same operations in the same order: 0 ulp
    np.testing.assert_array_equal(spikes, ref_s)
    np.testing.assert_array_equal(traces, ref_tr)


@props(15)
@given(n=st.integers(1, 8), k=st.integers(1, 3), T=st.integers(1, 40), seed=SEEDS)
def test_three_factor_and_force_train(n, k, T, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.random((T, n)), rng.random((T, k))
    gate = (rng.random(T) < 0.6).astype(float)
    w, z = np.zeros((k, n)), np.empty((T, k))
    reservoir.three_factor_train(x, y, gate, w, 0.05, 1e-3, z)
    w_ref, z_ref = naive_reservoir.three_factor_naive(x, y, gate, 0.05, 1e-3, k)
    # the same products and sums in the same order: 1e-12 is margin only
    np.testing.assert_allclose(z, z_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=1e-12)
    x = rng.standard_normal((T, n))
    w, p, z = np.zeros((k, n)), np.eye(n) / 0.5, np.empty((T, k))
    reservoir.force_train(x, y, np.ones(T), w, p, z)
    w_ref, z_ref = naive_reservoir.force_naive(x, y, 0.5, k)
    # RLS with loops vs NumPy matrix products (other summation order): 1e-9 relative to the
    # values (P stays well conditioned: alpha = 0.5, at most 40 updates of <= 8 features)
    np.testing.assert_allclose(z, z_ref, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(w, w_ref, rtol=1e-9, atol=1e-9)
