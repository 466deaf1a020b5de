"""The fused Numba LIF (kernels/bptt*.py + neurosim.snn.fused) equals the pure-torch step loop.

Spikes identical, final membranes and gradients (input, initial state) allclose (1e-5), for
every convention form, reset mode, detach flag, input scaling and surrogate.

Bounds: the kernel's forward does the torch step's elementwise operations in the same order and
dtype (no reduction, no library function), so the spikes are bit-identical on any IEEE-754
machine; the backward multiplies in another order and evaluates the surrogates with its own
``exp`` (``kernels/vexp.py``, torch uses SLEEF's): float32 gradients within 1e-5. Comparisons of
the fused path with itself (flags, caches, threads, streaming stores) are bit for bit: the same
kernels compute both sides on the same data.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import naive_snn as naive
import neurosim.kernels.blocks as kblocks
import neurosim.snn as snn
from neurosim.kernels.bptt_layout import F_STREAM
from neurosim.snn import buffers, fused, fused_plan
from neurosim.snn import surrogate as S
from neurosim.snn.fused import fused_options

SURROGATES = [S.ATan(), S.Sigmoid(), S.FastSigmoid(), S.Triangle(alpha=2.0), S.Gaussian(), S.Erf(),
              S.SuperSpike(alpha=4.0)]


def _pair(make, x, v0, g, gv):
    out = []
    for backend in ("torch", "fused"):
        xr = x.clone().requires_grad_(True)
        vr = v0.clone().requires_grad_(True)
        s, st = make(backend)(xr, snn.LIFState(vr))
        gx, gv0 = torch.autograd.grad((s * g).sum() + (st.v * gv).sum(), [xr, vr])
        out.append((s.detach(), st.v.detach(), gx, gv0))
    return out


def _assert_same(a, b, msg):
    assert torch.equal(a[0], b[0]), f"spikes differ: {msg}"
    for i, name in ((1, "v_T"), (2, "grad x"), (3, "grad v0")):
        np.testing.assert_allclose(b[i].numpy(), a[i].numpy(), rtol=1e-5, atol=1e-5, err_msg=f"{name}: {msg}")


@pytest.fixture(params=[True, False], ids=["stored-h", "recomputed-h"])
def small_blocks(request):
    """Blocks of 16 / 8 neurons so that a few dozen neurons span several blocks and a partial
    one; the backward reads the stored membranes or recomputes them; every worker thread, even
    for tiny inputs."""
    with fused_options(block=16, backward_block=8, store_membrane=request.param, parallel_min_steps=0):
        yield


def test_fused_equals_torch_every_mode(small_blocks):
    gen = torch.Generator().manual_seed(0)
    T, B, N = 9, 3, 13
    x = torch.randn(T, B, N, generator=gen) * 1.5 + 0.3
    g = torch.randn(T, B, N, generator=gen)
    gv = torch.randn(B, N, generator=gen)
    v0 = torch.rand(B, N, generator=gen) * 1.2 - 0.1
    combos = itertools.product(["neurosim", "snntorch", "norse"], ["zero", "subtract", "none"],
                               [False, True], [True, False])
    n = 0
    for i, (conv, reset, detach, decay_input) in enumerate(combos):
        if conv == "snntorch" and not detach:
            continue
        sg = SURROGATES[i % len(SURROGATES)]
        kw = dict(convention=conv, reset=reset, detach_reset=detach, decay_input=decay_input, surrogate=sg,
                  v_reset=-0.1 if reset == "zero" and conv != "snntorch" else 0.0)
        a, b = _pair(lambda be: snn.LIF(3.0, backend=be, **kw), x, v0, g, gv)
        assert a[0].sum() > 0
        _assert_same(a, b, f"{kw}")
        n += 1
    assert n == 30


@pytest.mark.parametrize("sg", SURROGATES, ids=repr)
def test_fused_every_surrogate(sg):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(7, 2, 40, generator=gen) + 0.5
    a, b = _pair(lambda be: snn.LIF(2.0, surrogate=sg, backend=be, fire=">"), x,
                 torch.zeros(2, 40), torch.randn(7, 2, 40, generator=gen), torch.zeros(2, 40))
    _assert_same(a, b, repr(sg))


def test_surrogate_kernel_matches_torch_closed_form():
    from neurosim.kernels.bptt import surrogate_grad

    x = torch.linspace(-3, 3, 601, dtype=torch.float64)
    for sg in SURROGATES:
        P, F = fused.kernel_arrays(snn.LIF(surrogate=sg).spec, np.float64)
        out = np.empty(601)
        surrogate_grad(x.numpy(), out, P, F)
        np.testing.assert_allclose(out, sg.grad(x).numpy(), rtol=1e-12, atol=1e-15, err_msg=repr(sg))


def test_fused_float64_and_layouts():
    gen = torch.Generator().manual_seed(2)
    base = torch.randn(2, 6, 5, 3, generator=gen, dtype=torch.float64) + 0.4
    x = base.permute(1, 0, 2, 3)  # [T=6, B=2, 5, 3], not contiguous
    lif = snn.LIF(2.0, reset="subtract")
    xr = x.clone().requires_grad_(True)
    s, st = lif(xr)
    s.sum().backward()  # upstream gradient with stride 0
    xt = x.clone().requires_grad_(True)
    s2, st2 = snn.LIF(2.0, reset="subtract", backend="torch")(xt)
    s2.sum().backward()
    assert s.dtype == torch.float64 and torch.equal(s, s2)
    np.testing.assert_allclose(xr.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(st.v.detach().numpy(), st2.v.detach().numpy(), rtol=1e-12)


def test_dispatch_and_fallback():
    lif = snn.LIF(backend="fused")
    with pytest.raises(ValueError, match="fused kernel does not support"):
        lif(torch.randn(3, 2, 4, dtype=torch.bfloat16))
    s, _ = snn.LIF()(torch.randn(3, 2, 4, dtype=torch.bfloat16))  # auto -> torch loop
    assert s.dtype == torch.bfloat16
    assert fused.supports(torch.zeros(2, 2), snn.LIF().spec)
    assert not fused.supports(torch.zeros(2, 2, dtype=torch.float16), snn.LIF().spec)
    with pytest.raises(ValueError, match="backend"):
        snn.LIF(backend="cuda")


@pytest.mark.parametrize("store", [True, False])
def test_buffer_cache_reuses_freed_buffers(store):
    """Large outputs come from the buffer cache, go back when freed, and results do not change."""
    fused.set_buffer_cache(64 << 20)
    try:
        with fused_options(store_membrane=store):
            gen = torch.Generator().manual_seed(3)
            x = torch.randn(8, 4, 16384, generator=gen) + 0.5  # 2 MiB per [T, ...] buffer
            g = torch.randn(8, 4, 16384, generator=gen)
            ref = []
            for i in range(3):
                xr = x.clone().requires_grad_(True)
                s, st = snn.LIF(2.0)(xr)
                s.backward(g)
                ref.append((s.detach().clone(), xr.grad.clone()))
                if i == 0:  # the stored membranes became xr.grad (grad_over_membrane): nothing freed yet
                    assert fused.buffer_cache_info()["buffers"] == 0
                del s, st, xr
            info = fused.buffer_cache_info()  # spikes and gradient of the last call (they share sizes)
            assert info["buffers"] == 2 and info["free_bytes"] == info["buffers"] * (2 << 20)
            for s, gx in ref[1:]:
                assert torch.equal(s, ref[0][0]) and torch.equal(gx, ref[0][1])
            xt = x.clone().requires_grad_(True)
            st, _ = snn.LIF(2.0, backend="torch")(xt)
            st.backward(g)
            assert torch.equal(ref[0][0], st)
            np.testing.assert_allclose(ref[0][1].numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
            fused.set_buffer_cache(0)
            s, _ = snn.LIF(2.0)(x)
            assert torch.equal(s, ref[0][0]) and fused.buffer_cache_info()["buffers"] == 0
    finally:
        fused.set_buffer_cache(256 << 20)


@pytest.mark.parametrize("use_v", [False, True])
def test_fused_fresh_state_is_v_rest(use_v):
    """state=None starts from v_rest without a materialised [B, ...] state (kernel fills it)."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 3, 50, generator=gen) + 0.4
    g = torch.randn(6, 3, 50, generator=gen)
    out = []
    for backend in ("torch", "fused"):
        xr = x.clone().requires_grad_(True)
        s, st = snn.LIF(2.0, v_rest=0.3, reset="subtract", backend=backend)(xr)
        loss = (s * g).sum() + (st.v.sum() if use_v else 0.0)
        (gx,) = torch.autograd.grad(loss, [xr])
        out.append((s.detach(), st.v.detach(), gx))
    assert torch.equal(out[0][0], out[1][0])
    np.testing.assert_allclose(out[1][1].numpy(), out[0][1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(out[1][2].numpy(), out[0][2].numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conv,reset", [("neurosim", "zero"), ("neurosim", "subtract"), ("snntorch", "subtract"),
                                        ("norse", "none")])
def test_fused_lif_avgpool_equals_lif_then_avg_pool2d(small_blocks, conv, reset):
    """LIFAvgPool (pooling inside the kernel, blocks of whole row pairs) == LIF then avg_pool2d."""
    gen = torch.Generator().manual_seed(5)
    T, B, C, H, W = 5, 2, 3, 6, 4
    x = torch.randn(T, B, C, H, W, generator=gen) + 0.6
    g = torch.randn(T, B, C, H // 2, W // 2, generator=gen)
    gv = torch.randn(B, C, H, W, generator=gen)
    v0 = torch.rand(B, C, H, W, generator=gen) * 0.5
    out = []
    for backend in ("torch", "fused"):
        xr = x.clone().requires_grad_(True)
        vr = v0.clone().requires_grad_(True)
        p, st = snn.modules.LIFAvgPool(2.0, convention=conv, reset=reset, backend=backend)(xr, snn.LIFState(vr))
        assert p.shape == (T, B, C, H // 2, W // 2)
        gx, gv0 = torch.autograd.grad((p * g).sum() + (st.v * gv).sum(), [xr, vr])
        out.append((p.detach(), st.v.detach(), gx, gv0))
    _assert_same(out[0], out[1], f"{conv} {reset}")
    assert out[0][0].sum() > 0
    with pytest.raises(ValueError, match="even H and W"):
        snn.modules.LIFAvgPool(backend="fused")(torch.zeros(2, 1, 3, 4))


def test_buffer_cache_drops_least_recently_used_sizes():
    cache = buffers.BufferCache(5 << 20)
    a = [cache.empty((1 << 18,), torch.float32) for _ in range(3)]  # 3 x 1 MiB
    del a
    assert cache.free_bytes == 3 << 20
    b = cache.empty((1 << 19,), torch.float32)  # 2 MiB: fresh
    c = cache.empty((1 << 19,), torch.float32)
    del b, c  # 3 + 4 MiB > 5 MiB: a 1 MiB buffer goes first
    assert cache.free_bytes == 5 << 20 and len(cache.free[2 << 20]) == 2 and len(cache.free[1 << 20]) == 1
    d = cache.empty((1 << 18,), torch.float32)  # reuses a 1 MiB buffer
    assert cache.free_bytes == 4 << 20
    d.fill_(1.0)
    del d
    assert cache.free_bytes == 5 << 20
    assert cache.empty((1 << 10,), torch.float32).numel() == 1 << 10  # small: plain torch.empty
    e = [cache.empty((3, 1 << 17), torch.float64) for _ in range(3)]  # fresh and reused: 64-byte lines
    del e
    assert all(cache.empty((3, 1 << 17), torch.float64).data_ptr() % 64 == 0 for _ in range(2))


@pytest.mark.parametrize("make", [lambda be: snn.LIF(2.0, backend=be),
                                  lambda be: snn.ParametricLIF(2.5, reset="subtract", backend=be)],
                         ids=["LIF", "ParametricLIF"])
def test_second_backward_after_gradient_over_membranes(make):
    """The first backward writes the input gradient over the stored membranes; a second backward
    through the same graph (``retain_graph=True``) recomputes them and gives the same gradients
    (reference: the torch step loop, backward twice)."""
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 3, 50, generator=gen) + 0.5
    g = torch.randn(6, 3, 50, generator=gen)
    grads = {}
    for be in ("torch", "fused"):
        torch.manual_seed(0)
        layer = make(be)
        xr = x.clone().requires_grad_(True)
        s, _ = layer(xr)
        first = torch.autograd.grad(s, [xr, *layer.parameters()], g, retain_graph=True)
        first = [t.clone() for t in first]  # the fused first gradient owns the membrane buffer
        second = list(torch.autograd.grad(s, [xr, *layer.parameters()], g))
        grads[be] = (first, second)
    for a, b in zip(grads["torch"][0] + grads["torch"][1], grads["fused"][0] + grads["fused"][1]):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)
    for a, b in zip(*grads["fused"]):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-6)


def test_gradient_over_membranes_flag_gives_identical_results():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(5, 4, 33, generator=gen) + 0.5
    g = torch.randn(5, 4, 33, generator=gen)
    out = []
    for flag in (True, False):
        with fused_options(grad_over_membrane=flag):
            xr = x.clone().requires_grad_(True)
            snn.LIF(2.0)(xr)[0].backward(g)
        out.append(xr.grad)
    assert torch.equal(out[0], out[1])


def test_small_sequences_run_on_one_thread(monkeypatch):
    """Below parallel_min_steps neuron-steps the kernels get one thread (the hand-off to a second
    costs more than it saves); above, all of them; results equal either way."""
    seen = []
    real = kblocks.run_blocks

    def spy(*args, threads=None, team=None):
        seen.append(threads)
        return real(*args, threads=threads, team=team)

    monkeypatch.setattr(kblocks, "run_blocks", spy)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(3, 2, 100, generator=gen) + 0.5
    g = torch.randn(3, 2, 100, generator=gen)
    grads = []
    for limit in (10**9, 0):
        with fused_options(parallel_min_steps=limit):
            xr = x.clone().requires_grad_(True)
            snn.LIF(2.0)(xr)[0].backward(g)
        grads.append(xr.grad)
    assert seen == [1, 1, None, None]
    assert torch.equal(grads[0], grads[1])


def test_configuration_cache_follows_the_spec():
    """The fused path keeps the kernel configuration of recent calls (``fused_plan._PLANS``): a layer
    whose spec is replaced, and two layers of different specs called in turn on the same shape,
    still equal the torch loop call for call."""
    gen = torch.Generator().manual_seed(5)
    T, B, N = 6, 4, 40
    x = torch.randn(T, B, N, generator=gen) * 1.5 + 0.4
    g = torch.randn(T, B, N, generator=gen)
    gv = torch.zeros(B, N)
    v0 = torch.zeros(B, N)
    a = snn.LIF(2.0, v_th=1.0)
    b = snn.LIF(3.0, v_th=0.7, reset="subtract")
    for step in range(4):
        for layer in (a, b):
            spec = layer.spec

            def make(backend):
                return snn.LIF(spec=spec, backend=backend)

            ref, got = _pair(make, x, v0, g, gv)
            _assert_same(ref, got, f"call {step}, spec {spec}")
            # the module's own (cached) path gives the same spikes as the torch loop
            assert torch.equal(layer(x)[0], ref[0])
        a.spec = a.spec.replace(v_th=a.spec.v_th + 0.1)  # a new spec object: a new configuration


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_streamed_membranes_equal_plain_stores(monkeypatch, dtype):
    """The forward writes the stored membranes with streaming stores when every row and block
    starts on a 32-byte boundary (``F[F_STREAM]``); spikes, state and gradients equal the plain
    stores bit for bit, for row lengths that allow it and ones that do not, with pooling, a
    static input, a learnable tau and several blocks on every thread."""
    q = 32 // torch.empty(0, dtype=dtype).element_size()
    seen = []
    real = fused_plan.kernel_arrays

    def spy(*a, **kw):
        P, F = real(*a, **kw)
        seen.append(int(F[F_STREAM]))
        return P, F

    monkeypatch.setattr(fused_plan, "kernel_arrays", spy)
    runs = {}
    for stream in (True, False):
        # small blocks on every thread; small test buffers stream too
        with fused_options(block=64, parallel_min_steps=0, stream_min_bytes=0, stream_membrane=stream):
            out = []
            for shape in [(6, 4, 2, 8, 16), (5, 3, 100), (4, 2, 3, 6, 10)]:  # rows: 1024, 300, 360
                x = (torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape))) * 1.5 + 0.5).to(dtype)
                for layer in (snn.LIF(2.0), snn.ParametricLIF(2.0), snn.LIF(2.0, decay_input=False, reset="subtract")):
                    layer = layer.to(dtype)
                    xr = x.clone().requires_grad_(True)
                    s, st = layer(xr)
                    (s * x).sum().backward()
                    out += [s, st.v, xr.grad] + [p.grad for p in layer.parameters()]
                if shape[-1] % 2 == 0 and shape[-2] % 2 == 0 and len(shape) == 5:
                    xr = x.clone().requires_grad_(True)
                    p, _ = snn.LIFAvgPool(2.0).to(dtype)(xr)
                    (p * p.detach().cos()).sum().backward()
                    out += [p, xr.grad]
                    xs = x[0].clone().requires_grad_(True)
                    s, _ = snn.LIF(2.0).to(dtype).run_static(xs, shape[0])
                    s.sum().backward()
                    out += [s, xs.grad]
        runs[stream] = out
    for a, b in zip(runs[True], runs[False]):
        assert torch.equal(a, b)
    n = len(seen) // 2
    assert any(seen[:n]) and not any(seen[n:])  # streamed somewhere with the flag, never without
    if q == 8:  # float32: the 300-long rows are not on 32-byte boundaries -> plain stores there
        assert 0 in seen[:n]


def test_streamed_membranes_at_benchmark_size():
    """The default threshold streams the T32 B64 N2048 benchmark layer (16 MiB of membranes,
    blocks on every worker thread): identical spikes and input gradient to plain stores."""
    x = torch.randn(32, 64, 2048, generator=torch.Generator().manual_seed(3)) * 1.5 + 0.5
    g = torch.randn(32, 64, 2048, generator=torch.Generator().manual_seed(4))
    assert fused_plan.stream_ok(32, 64 * 2048, x, fused.get_fused_options())
    out = []
    for stream in (True, False):
        with fused_options(stream_membrane=stream):
            xr = x.clone().requires_grad_(True)
            s, _ = snn.LIF(2.0, convention="spikingjelly", surrogate=snn.ATan(2.0))(xr)
            s.backward(g)
        out.append((s, xr.grad))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


# -- the surrogate table: every registered surrogate, whole ---------------------------------------
@pytest.mark.parametrize("name", sorted(S.SURROGATES))
def test_every_registered_surrogate_runs_in_the_kernels_like_the_naive_reference(name):
    """A surrogate added to the registry without its row in ``kernels/bptt_surrogates.py``, its
    closed form in ``tests/naive_snn.py`` or the regenerated rows fails here. References: the
    naive closed form and hand-written BPTT (float64: 1e-12 for the closed form, a few ulp of
    the constants; 1e-10 for 6 steps of BPTT) and, for the rows that also keep ``gh`` (learnable
    tau), the torch step loop (float64, 1e-10)."""
    from neurosim.kernels.bptt import surrogate_grad
    from neurosim.kernels.bptt_surrogates import KERNEL_IDS

    sg = S.SURROGATES[name]()  # its default width
    assert sg.kernel_id in KERNEL_IDS.values(), f"{name} has no row in the kernels' surrogate table"
    u = np.linspace(-3.0, 3.0, 601)
    P, F = fused.kernel_arrays(snn.LIF(surrogate=sg).spec, np.float64)
    out = np.empty_like(u)
    surrogate_grad(u, out, P, F)
    np.testing.assert_allclose(out, naive.sg_grad(name, sg.kernel_param, u), rtol=1e-12, atol=1e-15)

    T, B, N = 6, 2, 21
    rng = np.random.default_rng(sorted(S.SURROGATES).index(name))
    x = rng.normal(0.4, 1.0, (T, B, N))
    v0 = rng.uniform(-0.2, 0.9, (B, N))
    gs, gv = rng.normal(size=(T, B, N)), rng.normal(size=(B, N))
    spec = snn.LIFSpec(tau=2.0, v_reset=-0.25, surrogate=sg)
    S_ref, H, v_ref = naive.lif_forward(x.reshape(T, -1), tau=2.0, v_reset=-0.25, v0=v0.reshape(-1))
    gx_ref, gv0_ref = naive.lif_backward(gs.reshape(T, -1), H, tau=2.0, sg=name, sg_p=sg.kernel_param,
                                         v_reset=-0.25, gv_T=gv.reshape(-1))
    for store in (True, False):
        with fused_options(store_membrane=store, block=16, backward_block=8, parallel_min_steps=0):
            xr, vr = torch.tensor(x, requires_grad=True), torch.tensor(v0, requires_grad=True)
            s, vT = fused.lif_fused(xr, vr, spec)
            gx, gv0 = torch.autograd.grad((s * torch.tensor(gs)).sum() + (vT * torch.tensor(gv)).sum(), [xr, vr])
        np.testing.assert_array_equal(s.detach().numpy().reshape(T, -1), S_ref)
        np.testing.assert_allclose(gx.numpy().reshape(T, -1), gx_ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(gv0.numpy().reshape(-1), gv0_ref, rtol=1e-10, atol=1e-10)

    grads = []
    for backend in ("torch", "fused"):
        layer = snn.ParametricLIF(2.0, surrogate=sg, backend=backend).double()
        xr = torch.tensor(x, requires_grad=True)
        s, _ = layer(xr)
        grads.append(torch.autograd.grad((s * torch.tensor(gs)).sum(), [xr, layer.w]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-10)


def test_kernel_surrogate_table_rows_are_all_used_and_generated():
    """Every row of the table serves a registered surrogate, and ``bptt_sg_rows.py`` is what the
    table generates (``python -m neurosim.kernels.bptt_surrogates`` rewrites it)."""
    from neurosim.kernels import bptt_surrogates as table

    assert {cls().kernel_id for cls in S.SURROGATES.values()} == set(table.KERNEL_IDS.values())
    assert sorted(table.KERNEL_IDS.values()) == list(range(len(table.SURROGATE_KERNELS)))
    assert table.ROWS_FILE.read_text() == table.render_rows(), \
        "kernels/bptt_sg_rows.py is stale: run python -m neurosim.kernels.bptt_surrogates"
    with pytest.raises(ValueError, match="unknown surrogate kernel id 99"):
        table.surrogate_constants(99, 1.0)


def test_fast_row_copies_agree_with_each_other_and_with_the_charge_row():
    """``bptt_rows._fast_row`` writes its loop out once per charge form, input scaling and store
    kind (measured to vectorise only that way): the streamed loops equal the plain ones but for
    the store, and each loop's charge is ``_charge_row``'s expression for its form."""
    import ast
    import inspect

    from neurosim.kernels import bptt_rows

    def loops(fn):
        tree = ast.parse(inspect.getsource(fn))
        return [[ast.unparse(b) for b in n.body] for n in ast.walk(tree) if isinstance(n, ast.For)]

    fast = loops(bptt_rows._fast_row)
    streamed = [[ln.replace("_store_stream(Hr, j, h)", "Hr[j] = h") for ln in b] for b in fast
                if "_store_stream(Hr, j, h)" in b]
    plain = [b for b in fast if "_store_stream(Hr, j, h)" not in b]
    assert len(streamed) == len(plain) == 4 and streamed == plain
    charges = {ln.split(" = ", 1)[1] for b in loops(bptt_rows._charge_row) for ln in b if ln.startswith("Hr[j] = ")}
    for body in plain:
        (h,) = [ln.split(" = ", 1)[1] for ln in body if ln.startswith("h = ")]
        assert h in charges, h
        assert [ln for ln in body if not ln.startswith("h = ")] == [ln for ln in plain[0] if not ln.startswith("h = ")]
    assert len({ln for b in plain for ln in b if ln.startswith("h = ")}) == 4


def test_no_bare_parameter_slots_outside_the_layout():
    """The kernels' parameter arrays are read and written by slot name only
    (``kernels/bptt_layout.py``): no ``P[3]`` or ``F[7]`` in the fused stack."""
    import re
    from pathlib import Path

    import neurosim
    import neurosim.kernels

    roots = [Path(neurosim.kernels.__file__).parent, Path(neurosim.__file__).parent / "snn"]
    files = [f for r in roots for f in r.glob("*.py") if f.name.startswith(("bptt", "omp", "blocks", "fused"))]
    assert len(files) >= 10
    for f in files:
        bare = re.findall(r"\b[PF]\[\d+\]", f.read_text())
        assert not bare, f"{f.name}: {bare}"


def test_kernel_imports_have_no_cycle():
    """``neurosim.kernels`` modules import each other (at the top or inside functions) without a
    cycle: the block runner and the OpenMP team sit above the kernels they run."""
    import ast
    from pathlib import Path

    import neurosim.kernels

    src = Path(neurosim.kernels.__file__).parent
    graph = {}
    for f in src.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("neurosim.kernels."):
                deps.add(node.module.rsplit(".", 1)[1])
            elif isinstance(node, ast.ImportFrom) and node.module == "neurosim.kernels":
                deps.update(a.name for a in node.names)
        graph[f.stem] = deps & {g.stem for g in src.glob("*.py")}
    graph.pop("__init__")
    done, path = set(), []

    def visit(m):
        assert m not in path, f"import cycle: {' -> '.join(path[path.index(m):] + [m])}"
        if m in done:
            return
        path.append(m)
        for d in graph.get(m, ()):
            visit(d)
        path.pop()
        done.add(m)

    for m in graph:
        visit(m)
    assert "blocks" not in graph["bptt"] and "omp" not in graph["bptt"]


# -- the options ------------------------------------------------------------------------------------
def test_options_context_and_old_switch_names():
    base = fused.get_fused_options()
    assert fused.STORE_MEMBRANE is base.store_membrane and fused.BLOCK == base.block
    with fused_options(block=64, store_membrane=False) as opts:
        assert fused.get_fused_options() is opts and opts.block == 64 and fused.BLOCK == 64
        assert opts.parallel_min_steps == base.parallel_min_steps  # the rest as they were
        with fused_options(block=32):
            assert fused.get_fused_options().block == 32 and not fused.STORE_MEMBRANE
        assert fused.get_fused_options() is opts
    assert fused.get_fused_options() is base
    with pytest.raises(AttributeError, match="fused_options\\(store_membrane="):
        fused.STORE_MEMBRANE = False
    assert fused.get_fused_options() is base
    with pytest.raises(ValueError, match="block"):
        fused.FusedOptions(block=0)
    with pytest.raises(TypeError, match="unknown fused option.*blok"):
        with fused_options(blok=3):
            pass
    with pytest.raises(TypeError, match="store_membrane"):
        fused.FusedOptions(store_membrane=1)
    with pytest.raises(Exception):  # frozen
        base.block = 3


def test_dispatch_is_the_one_backend_choice(monkeypatch):
    """``lif_run`` (LIF, LIFLayer, ParametricLIF), ``run_static`` and ``LIFAvgPool`` reach the
    kernels through ``fused.dispatch``; its ``None`` sends them to the torch loop."""
    calls = []
    real = fused.dispatch

    def spy(x, state, spec, backend, k=None, pool=False, steps=None):
        calls.append((backend, pool, steps, k is not None))
        return None if backend == "auto" else real(x, state, spec, backend, k, pool, steps)

    monkeypatch.setattr(fused, "dispatch", spy)
    x = torch.rand(3, 2, 1, 4, 4) + 0.5
    outs = [snn.LIF(2.0)(x)[0], snn.LIF(2.0, backend="fused")(x)[0], snn.ParametricLIF(2.0)(x)[0],
            snn.LIF(2.0, backend="fused").run_static(x[0], 3)[0], snn.LIFAvgPool(2.0, backend="fused")(x)[0]]
    assert calls == [("auto", False, None, False), ("fused", False, None, False), ("auto", False, None, True),
                     ("fused", False, 3, False), ("fused", True, None, False)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], snn.LIF(2.0, backend="torch")(x)[0])
    assert torch.equal(outs[3], snn.LIF(2.0, backend="torch")(x[0].expand(3, *x.shape[1:]))[0])


def test_buffer_cache_size_comes_from_config(monkeypatch):
    """``NEUROSIM_BUFFER_CACHE_MB`` is read by ``neurosim.config`` (a clear error for garbage)."""
    from neurosim.config import BUFFER_CACHE_MB, env_float

    assert buffers.BUFFER_CACHE.max_bytes in (int(BUFFER_CACHE_MB * 2**20), 256 << 20)
    monkeypatch.setenv("NEUROSIM_BUFFER_CACHE_MB", "64")
    assert env_float("NEUROSIM_BUFFER_CACHE_MB", 256.0) == 64.0
    for bad in ("lots", "-1", "inf"):
        monkeypatch.setenv("NEUROSIM_BUFFER_CACHE_MB", bad)
        with pytest.raises(ValueError, match="NEUROSIM_BUFFER_CACHE_MB"):
            env_float("NEUROSIM_BUFFER_CACHE_MB", 256.0)
