"""The fused LIF kernels on PyTorch's OpenMP threads (``neurosim.kernels.omp``) give the same
results as on neurosim's thread pool and as the pure-torch step loop."""
from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import torch

import neurosim.kernels.bptt as kb
import neurosim.snn as snn
from neurosim.kernels import omp
from neurosim.snn import fused

pytestmark = pytest.mark.skipif(fused.torch_openmp_library() is None,
                                reason="PyTorch does not run on GNU OpenMP here")


@pytest.fixture
def many_blocks(monkeypatch):
    """Small blocks and every call multi-threaded, so that each call splits into ranges."""
    monkeypatch.setattr(fused, "BLOCK", 16)
    monkeypatch.setattr(fused, "PARALLEL_MIN_STEPS", 0)
    yield
    fused.use_torch_threads(True)


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
    real = omp.run

    def spy(job, *args):
        calls.append(job)
        return real(job, *args)

    monkeypatch.setattr(omp, "run", spy)
    assert fused.use_torch_threads(True) and omp.available()
    with_omp = _run_all(dtype)
    assert {"forward", "backward"} <= set(calls)  # the OpenMP path ran
    n = len(calls)
    assert not fused.use_torch_threads(False)
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


def test_more_ranges_than_cores():
    """``omp.run`` with 5 ranges (a team of 5 threads on 2 cores) writes every block."""
    from neurosim.kernels.bptt import lif_bptt_forward

    T, M = 4, 1000
    x = np.random.default_rng(0).normal(0.5, 1.0, (T, M)).astype(np.float32)
    P, F = fused.kernel_arrays(snn.LIF(2.0).spec, np.float32, T=T, block=64, store=True)
    nblocks = -(-M // 64)
    ref = [np.zeros((T, M), np.float32), np.zeros(M, np.float32), np.zeros((T, M), np.float32)]
    bad = [np.full(nblocks, -1, np.int64), np.full(nblocks, -1, np.int64)]  # non-finite counts per block
    lif_bptt_forward(x, np.empty(0, np.float32), ref[0], ref[1], ref[2], P, F, bad[0],
                     np.empty(4 * 64, np.float32), 0, nblocks)
    got = [np.full((T, M), np.nan, np.float32), np.full(M, np.nan, np.float32), np.full((T, M), np.nan, np.float32)]
    assert fused.use_torch_threads(True)
    omp.run("forward", nblocks, 5, (x, np.empty(0, np.float32), got[0], got[1], got[2], P, F, bad[1]),
            np.empty((5, 4 * 64), np.float32))
    for a, b in zip(ref + bad[:1], got + bad[1:]):
        np.testing.assert_array_equal(a, b)
    assert not bad[1].any()


def test_unusable_library_falls_back_to_the_thread_pool():
    try:
        assert omp.configure("/nonexistent/libgomp.so.1") is False
        assert not omp.available()
        x = torch.randn(4, 2, 300, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
        s, _ = snn.LIF(2.0)(x)  # runs on the pool
        s.sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
    finally:
        fused.use_torch_threads(True)


def _child(q):
    import neurosim.snn as snn_child
    from neurosim.kernels import omp as omp_child
    from neurosim.snn import fused as fused_child

    fused_child.PARALLEL_MIN_STEPS = 0
    x = torch.linspace(-1.0, 3.0, 4 * 2 * 500).reshape(4, 2, 500).requires_grad_(True)
    s, _ = snn_child.LIF(2.0)(x)
    s.sum().backward()
    q.put((omp_child.available(), s.sum().item(), x.grad.sum().item()))


def test_forked_child_runs_on_the_thread_pool(monkeypatch):
    """libgomp's threads do not survive ``fork``: a forked child (a DataLoader worker) must not
    call into the parent's OpenMP team; it uses the thread pool and gets the same numbers."""
    monkeypatch.setattr(fused, "PARALLEL_MIN_STEPS", 0)
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
    assert kb is not None
