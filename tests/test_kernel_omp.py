"""The fused LIF kernels on PyTorch's OpenMP threads (``neurosim.kernels.omp``) give the same
results as on neurosim's thread pool and as the pure-torch step loop."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import torch

import neurosim.snn as snn
from neurosim.kernels import omp
from neurosim.kernels.blocks import run_blocks
from neurosim.kernels.bptt import forward_work, lif_bptt_forward
from neurosim.snn import fused, fused_plan
from neurosim.snn.fused import fused_options

pytestmark = pytest.mark.skipif(fused.torch_openmp_library() is None,
                                reason="PyTorch does not run on GNU OpenMP here")


@pytest.fixture
def many_blocks():
    """Small blocks and every call multi-threaded, so that each call splits into ranges."""
    with fused_options(block=16, parallel_min_steps=0):
        yield


def _run_all(dtype):
    """Forward + backward of several layer kinds; returns every output and gradient."""
    gen = torch.Generator().manual_seed(11)
    T, B, C, H, W = 5, 3, 2, 6, 8
    x = (torch.randn(T, B, C, H, W, generator=gen) * 1.5 + 0.4).to(dtype)
    g = torch.randn(T, B, C, H, W, generator=gen).to(dtype)
    v0 = (torch.rand(B, C, H, W, generator=gen) - 0.2).to(dtype)
    out = []
    layers = [snn.LIF(2.0), snn.LIF(3.0, convention="snntorch"), snn.ParametricLIF(2.0),
              snn.LIF(2.0, reset="subtract", detach_reset=True)]
    for layer in layers:
        layer = layer.to(dtype)
        xr, vr = x.clone().requires_grad_(True), v0.clone().requires_grad_(True)
        s, st = layer(xr, snn.LIFState(vr))
        ((s * g).sum() + st.v.sum()).backward()
        out += [s, st.v, xr.grad, vr.grad] + [p.grad for p in layer.parameters()]
    pool = snn.LIFAvgPool(2.0).to(dtype)
    xr = x.clone().requires_grad_(True)
    p, _ = pool(xr)
    p.sum().backward()
    out += [p, xr.grad]
    xs = x[0].clone().requires_grad_(True)  # static input: the same image at every step
    s, _ = snn.LIF(2.0).run_static(xs, T)
    (s * g).sum().backward()
    out += [s, xs.grad]
    xr = x.clone().requires_grad_(True)  # a second backward recomputes the membranes
    s, _ = snn.LIF(2.0)(xr)
    loss = (s * g).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    out += [xr.grad]
    return [t.detach().clone() for t in out]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_openmp_path_equals_thread_pool_and_torch(many_blocks, monkeypatch, dtype):
    calls = []
    real = omp.Team.run

    def spy(self, kernel, *args):
        calls.append(kernel)
        return real(self, kernel, *args)

    monkeypatch.setattr(omp.Team, "run", spy)
    assert fused_plan.torch_team().available()
    with fused_options(torch_threads=True):
        with_omp = _run_all(dtype)
    assert len(set(calls)) == 2  # the OpenMP path ran, forward and backward
    n = len(calls)
    with fused_options(torch_threads=False):
        with_pool = _run_all(dtype)
    assert len(calls) == n  # ... and not any more
    for a, b in zip(with_omp, with_pool):
        assert torch.equal(a, b)  # the same kernels on the same ranges: identical
    # and the torch step loop (independent reference) agrees with both
    x = torch.randn(7, 4, 50, dtype=dtype, generator=torch.Generator().manual_seed(2)) + 0.5
    outs = []
    for backend in ("torch", "auto"):
        xr = x.clone().requires_grad_(True)
        s, _ = snn.LIF(2.0, backend=backend).to(dtype)(xr)
        (s * torch.arange(s.numel(), dtype=dtype).reshape(s.shape).cos()).sum().backward()
        outs.append((s, xr.grad))
    # spikes 0 ulp: the kernel's forward does the torch step's elementwise operations in its order;
    # gradients 1e-5: another order of the backward products and another exp in the surrogates
    assert torch.equal(outs[0][0], outs[1][0])
    np.testing.assert_allclose(outs[1][1].numpy(), outs[0][1].numpy(), rtol=1e-5, atol=1e-5)


def test_use_torch_threads_sets_the_default_option():
    before = fused.get_fused_options()
    try:
        assert not fused.use_torch_threads(False) and not fused.get_fused_options().torch_threads
        assert fused.use_torch_threads(True) and fused.get_fused_options().torch_threads
    finally:
        fused.set_fused_options(before)


def _forward_inputs(T, M, block):
    x = np.random.default_rng(0).normal(0.5, 1.0, (T, M)).astype(np.float32)
    P, F = fused.kernel_arrays(snn.LIF(2.0).spec, np.float32, T=T, block=block, store=True)
    return x, P, F, -(-M // block)


def test_more_ranges_than_cores():
    """``Team.run`` with a team of 5 threads on 2 cores writes every block."""
    T, M = 4, 1000
    x, P, F, nblocks = _forward_inputs(T, M, 64)
    ref = [np.zeros((T, M), np.float32), np.zeros(M, np.float32), np.zeros((T, M), np.float32)]
    bad = [np.full(nblocks, -1, np.int64), np.full(nblocks, -1, np.int64)]  # non-finite counts per block
    lif_bptt_forward(x, np.empty(0, np.float32), ref[0], ref[1], ref[2], P, F, bad[0],
                     np.empty(4 * 64, np.float32), 0, nblocks)
    got = [np.full((T, M), np.nan, np.float32), np.full(M, np.nan, np.float32), np.full((T, M), np.nan, np.float32)]
    team = fused_plan.torch_team()
    assert team.available() and team.runs(lif_bptt_forward)
    team.run(lif_bptt_forward, nblocks, 5, (x, np.empty(0, np.float32), got[0], got[1], got[2], P, F, bad[1]),
             np.empty((5, 4 * 64), np.float32))
    for a, b in zip(ref + bad[:1], got + bad[1:]):
        np.testing.assert_array_equal(a, b)
    assert not bad[1].any()


def test_unusable_library_falls_back_to_the_thread_pool(monkeypatch):
    """A team whose library does not load is never available: ``run_blocks`` runs its thread
    pool instead (same numbers as the serial call), and so do the layers given such a team."""
    broken = omp.Team("/nonexistent/libgomp.so.1")
    assert not broken.available()
    T, M = 4, 1000
    x, P, F, nblocks = _forward_inputs(T, M, 64)
    outs = []
    for threads in (1, 2):
        out = [np.zeros((T, M), np.float32), np.zeros(M, np.float32), np.zeros((T, M), np.float32),
               np.zeros(nblocks, np.int64)]
        run_blocks(lif_bptt_forward, nblocks, forward_work(F), x, np.empty(0, np.float32), *out[:3], P, F, out[3],
                   threads=threads, team=broken)
        outs.append(out)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(fused_plan, "_TEAM", [broken])
    with fused_options(parallel_min_steps=0):  # new options: new plans, which take the broken team
        xr = torch.randn(4, 2, 300, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        s, _ = snn.LIF(2.0)(xr)  # runs on the pool
        s.sum().backward()
    xt = xr.detach().clone().requires_grad_(True)
    st, _ = snn.LIF(2.0, backend="torch")(xt)
    st.sum().backward()
    assert torch.equal(s, st)
    np.testing.assert_allclose(xr.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


def _child(q):
    import neurosim.snn as snn_child
    from neurosim.snn import fused_plan as plan_child

    x = torch.linspace(-1.0, 3.0, 4 * 2 * 500).reshape(4, 2, 500).requires_grad_(True)
    s, _ = snn_child.LIF(2.0)(x)
    s.sum().backward()
    q.put((plan_child.torch_team().available(), s.sum().item(), x.grad.sum().item()))


def test_forked_child_runs_on_the_thread_pool():
    """libgomp's threads do not survive ``fork``: a forked child (a DataLoader worker) must not
    call into the parent's OpenMP team; it uses the thread pool and gets the same numbers."""
    with fused_options(parallel_min_steps=0):  # the child inherits the options
        x = torch.linspace(-1.0, 3.0, 4 * 2 * 500).reshape(4, 2, 500).requires_grad_(True)
        s, _ = snn.LIF(2.0)(x)  # the parent's OpenMP team exists before the fork
        s.sum().backward()
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=_child, args=(q,))
        p.start()
        avail, ssum, gsum = q.get(timeout=120)
        p.join(timeout=30)
    assert p.exitcode == 0
    assert avail is False
    assert ssum == s.sum().item() and gsum == pytest.approx(x.grad.sum().item(), rel=1e-6)
