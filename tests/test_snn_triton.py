"""The Triton LIF kernels (neurosim.snn.triton) equal the torch step loop and the Numba fused path.

No GPU needed: the kernels run on CPU tensors in Triton's interpreter (``TRITON_INTERPRET=1``,
set here before triton is imported; when this process imported the kernels without it, the
file runs again in a subprocess). Skipped when triton is not installed.

Bounds: the kernels do the torch step's float32 operations in the same order (no FMA, IEEE
division), so float32 spikes are bit-identical to the torch loop and the Numba kernels; the
backward multiplies in another order and the surrogates use their own ``exp``: gradients
(input, initial membrane, learnable tau) within 1e-5. bfloat16/float16 inputs: the state is
float32 inside, so the spikes equal those of float32 on the same (upcast) values exactly, and the
outputs are the float32 results rounded once: within one unit roundoff (2^-11 float16,
relative) and, for bfloat16, one ulp (2^-7: Triton 3.9's interpreter truncates float32 to
bfloat16, where the GPU rounds to nearest, 2^-8). Two runs of the Triton kernels on the same data agree bit for bit.

Tiny shapes: the interpreter runs each program as NumPy operations, a few ms per step.

The interpreter does not run Triton's compiler: ``test_kernels_compile_for_a_gpu_without_one``
compiles the kernels for an sm_90 GPU (frontend, LLVM, the bundled ptxas; no GPU needed) and
checks the forward's PTX for IEEE division and no FMA. With a CUDA device,
``test_cuda_kernels_equal_the_cpu_torch_loop`` also runs the compiled
kernels (a subprocess without the interpreter) against the torch loop on the CPU (the CUDA torch
loop divides by ``tau`` as a multiplication by ``1/tau``, so its spikes may differ in the last
bit of a membrane at the threshold).
"""
from __future__ import annotations

import itertools
import os
import subprocess
import sys

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

triton = pytest.importorskip("triton", reason="triton is not installed (pip install -e '.[gpu]' or '.[test]')")

import naive_snn as naive  # noqa: E402
import neurosim.snn as snn  # noqa: E402
from neurosim.snn import fused  # noqa: E402
from neurosim.snn import surrogate as S  # noqa: E402
from neurosim.snn import triton as nt  # noqa: E402
from neurosim.snn.triton import autograd as tri_autograd  # noqa: E402

IN_INTERPRETER = nt.interpreted()
interpreter = pytest.mark.skipif(not IN_INTERPRETER, reason="the kernels were imported without TRITON_INTERPRET=1 "
                                 "in this process; test_in_a_fresh_interpreter runs this file again")

SURROGATES = [S.ATan(), S.Sigmoid(), S.FastSigmoid(), S.Triangle(alpha=2.0), S.Gaussian(), S.Erf(),
              S.SuperSpike(alpha=4.0)]


@pytest.fixture
def small_programs(monkeypatch):
    """16 neurons (pooled: 16 windows) per program: a few dozen neurons span several programs
    and a partial one (masks, per-program leak-gradient sums)."""
    monkeypatch.setattr(tri_autograd, "block_size", lambda n, pool, device: 16)


def _grads(layer, x, v0, g, gv):
    """spikes, v_T and the gradients w.r.t. x, v0 and the layer's parameters."""
    xr = x.clone().requires_grad_(True)
    vr = v0.clone().requires_grad_(True)
    s, st = layer(xr, snn.LIFState(vr))
    params = list(layer.parameters())
    grads = torch.autograd.grad((s * g).sum() + (st.v * gv).sum(), [xr, vr, *params])
    return (s.detach(), st.v.detach(), *grads)


def _assert_close(ref, got, msg, rtol=1e-5, atol=1e-5):
    assert torch.equal(ref[0], got[0]), f"spikes differ: {msg}"
    for i, (a, b) in enumerate(zip(ref[1:], got[1:])):
        np.testing.assert_allclose(b.float().numpy(), a.float().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"output {i + 1} (v_T, grad x, grad v0, grad w): {msg}")


def _data(seed, shape, scale=1.5):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=gen) * scale + 0.3
    g = torch.randn(*shape, generator=gen)
    gv = torch.randn(*shape[1:], generator=gen)
    v0 = torch.rand(*shape[1:], generator=gen) * 1.2 - 0.1
    return x, v0, g, gv


@interpreter
def test_every_convention_reset_and_flag_equals_torch_and_numba(small_programs):
    x, v0, g, gv = _data(0, (7, 3, 13))
    combos = itertools.product(["neurosim", "snntorch", "norse"], ["zero", "subtract", "none"], [False, True],
                               [True, False])
    n = 0
    for i, (conv, reset, detach, decay_input) in enumerate(combos):
        if conv == "snntorch" and not detach:
            continue
        kw = dict(convention=conv, reset=reset, detach_reset=detach, decay_input=decay_input,
                  surrogate=SURROGATES[i % len(SURROGATES)], v_reset=-0.1 if reset == "zero" and conv != "snntorch"
                  else 0.0, fire=">" if i % 2 else ">=")
        ref, numba, got = (_grads(snn.LIF(3.0, backend=be, **kw), x, v0, g, gv) for be in ("torch", "fused", "triton"))
        assert ref[0].sum() > 0
        _assert_close(ref, got, f"{kw}")
        assert torch.equal(numba[0], got[0])
        n += 1
    assert n == 30


@interpreter
@pytest.mark.parametrize("sg", SURROGATES, ids=repr)
def test_every_surrogate_equals_torch(sg):
    x, v0, g, gv = _data(1, (5, 2, 20), scale=1.0)
    ref, got = (_grads(snn.LIF(2.0, surrogate=sg, backend=be), x, v0, g, gv) for be in ("torch", "triton"))
    _assert_close(ref, got, repr(sg))


@interpreter
@pytest.mark.parametrize("name", sorted(S.SURROGATES))
def test_surrogate_table_matches_the_naive_closed_form(name):
    """A registered surrogate without its row in ``kernels.SURROGATES`` fails here."""
    from neurosim.kernels.bptt_surrogates import KERNEL_IDS, surrogate_constants
    from neurosim.snn.triton import kernels

    assert {i: row[0] for i, row in kernels.SURROGATES.items()} == {i: n for n, i in KERNEL_IDS.items()}
    sg = S.SURROGATES[name]()
    assert sg.kernel_id in kernels.SURROGATES, f"{name} has no row in the Triton surrogate table"
    u = torch.linspace(-3.0, 3.0, 301)
    out = torch.empty_like(u)
    c1, c2 = (float(np.float32(c)) for c in surrogate_constants(sg.kernel_id, sg.kernel_param))
    kernels.surrogate_values[(1,)](u, out, 301, c1, c2, SG=kernels.SURROGATES[sg.kernel_id][1], BLOCK=512)
    np.testing.assert_allclose(out.numpy(), naive.sg_grad(name, sg.kernel_param, u.double().numpy()),
                               rtol=1e-5, atol=1e-6)


@interpreter
@pytest.mark.parametrize("conv, decay_input, reset", [("neurosim", True, "zero"), ("neurosim", False, "subtract"),
                                                      ("norse", True, "none"), ("norse", False, "zero")])
def test_parametric_lif_tau_gradient(small_programs, conv, decay_input, reset):
    x, v0, g, gv = _data(2, (6, 2, 19))
    kw = dict(convention=conv, decay_input=decay_input, reset=reset, surrogate=S.Sigmoid())
    ref, numba, got = (_grads(snn.ParametricLIF(2.5, backend=be, **kw), x, v0, g, gv)
                       for be in ("torch", "fused", "triton"))
    _assert_close(ref, got, f"{kw}")
    assert torch.equal(numba[0], got[0]) and got[4].abs() > 0


@interpreter
@pytest.mark.parametrize("conv", ["neurosim", "snntorch"])
def test_if_layer(conv):
    x, v0, g, gv = _data(3, (6, 2, 11), scale=0.8)
    ref, numba, got = (_grads(snn.IF(convention=conv, reset="subtract", backend=be), x, v0, g, gv)
                       for be in ("torch", "fused", "triton"))
    _assert_close(ref, got, conv)
    assert torch.equal(numba[0], got[0])


@interpreter
@pytest.mark.parametrize("conv, reset", [("neurosim", "zero"), ("snntorch", "subtract")])
def test_lif_avgpool_equals_lif_then_avg_pool2d(small_programs, conv, reset):
    x, v0, g, gv = _data(4, (4, 2, 3, 6, 8))
    g = g[..., ::2, ::2].contiguous()
    ref, got = (_grads(snn.LIFAvgPool(2.0, convention=conv, reset=reset, backend=be), x, v0, g, gv)
                for be in ("torch", "triton"))
    assert got[0].shape == (4, 2, 3, 3, 4)
    _assert_close(ref, got, f"{conv} {reset}")


@interpreter
@pytest.mark.parametrize("make, shape", [(lambda be: snn.LIF(2.0, backend=be), (3, 21)),
                                         (lambda be: snn.LIFAvgPool(2.0, backend=be), (2, 3, 4, 6))],
                         ids=["LIF", "LIFAvgPool"])
def test_static_input_and_stride_zero_gradient(small_programs, make, shape):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(*shape, generator=gen) + 0.5
    out = []
    for be in ("torch", "triton"):
        xr = x.clone().requires_grad_(True)
        s, st = make(be).run_static(xr, 5)
        (s.sum() + st.v.sum()).backward()  # upstream gradient with stride 0 over the steps
        out.append((s.detach(), st.v.detach(), xr.grad))
    assert out[1][0].sum() > 0
    _assert_close(out[0], out[1], "run_static")


@interpreter
def test_noncontiguous_input_spikes_only_gradient_and_second_backward():
    base = torch.randn(2, 6, 5, 3, generator=torch.Generator().manual_seed(6)) + 0.4
    x = base.permute(1, 0, 2, 3)  # [T=6, B=2, 5, 3], not contiguous
    grads = []
    for be in ("torch", "triton"):
        xr = x.clone().requires_grad_(True)
        s, st = snn.LIF(2.0, reset="subtract", backend=be)(xr)
        loss = (s * torch.arange(6.0).view(6, 1, 1, 1)).sum()
        grads.append(torch.autograd.grad(loss, xr, retain_graph=True)[0])
        if be == "triton":  # the first backward wrote over the stored membranes: the second recomputes them
            assert torch.equal(torch.autograd.grad(loss, xr)[0], grads[-1])
    np.testing.assert_allclose(grads[1].numpy(), grads[0].numpy(), rtol=1e-5, atol=1e-5)


@interpreter
@pytest.mark.parametrize("dtype, unit", [(torch.bfloat16, 2.0 ** -7), (torch.float16, 2.0 ** -11)])
def test_half_precision_within_one_rounding_of_float32(dtype, unit):
    x, v0, g, gv = _data(7, (6, 2, 17))
    x, g, gv = x.to(dtype), g.to(dtype), gv.to(dtype)
    out = []
    for dt in (torch.float32, dtype):
        layer = snn.ParametricLIF(2.0, backend="triton")
        xr = x.to(dt).requires_grad_(True)
        s, st = layer(xr)
        gx, gw = torch.autograd.grad((s * g.to(dt)).sum() + (st.v * gv.to(dt)).sum(), [xr, layer.w])
        out.append((s, st.v, gx, gw))
    (s32, v32, gx32, gw32), (s16, v16, gx16, gw16) = out
    assert s16.dtype == dtype and v16.dtype == dtype and gx16.dtype == dtype
    assert torch.equal(s16.float(), s32) and s32.sum() > 0
    for name, a, b in (("v_T", v32.detach(), v16.detach()), ("grad x", gx32, gx16)):
        err = (b.float() - a).abs()
        assert bool((err <= unit * a.abs()).all()), f"{name}: {float(err.max())}"
    assert float(gw16) == pytest.approx(float(gw32), rel=1e-5)  # float32 inside, the parameter is float32


@interpreter
def test_bad_input(monkeypatch):
    x = torch.randn(3, 2, 4)
    with pytest.raises(TypeError, match="float32, bfloat16 or float16"):
        snn.LIF(backend="triton")(x.double())
    with pytest.raises(ValueError, match=r"x contains 1 non-finite"):
        snn.LIF(backend="triton")(torch.where(torch.arange(24).view(3, 2, 4) == 5, torch.nan, x))
    with pytest.raises(ValueError, match="state.v is on meta but x is on cpu"):
        snn.LIF(backend="triton")(x, snn.LIFState(torch.zeros(2, 4, device="meta")))
    with pytest.raises(ValueError, match=r"learnable tau is on meta but x is on cpu.*layer.to\(x.device\)"):
        snn.ParametricLIF(backend="triton").to("meta")(x)

    class NoKernel(S.ATan):
        kernel_id = -1

    with pytest.raises(ValueError, match="no kernel form.*backend='auto'"):
        snn.LIF(surrogate=NoKernel(), backend="triton")(x)
    with pytest.raises(ValueError, match="even H and W"):
        snn.LIFAvgPool(backend="triton")(torch.zeros(2, 1, 3, 4))
    assert "backend='triton'" in fused.why_not(torch.zeros(2, 2, device="meta"), snn.LIF().spec)
    monkeypatch.setattr(nt, "available", lambda: False)
    with pytest.raises(ValueError, match=r'pip install -e "\.\[gpu\]"'):
        snn.LIF(backend="triton")(x)
    monkeypatch.setattr(nt, "_WARNED", [])
    with pytest.warns(RuntimeWarning, match=r'pip install -e "\.\[gpu\]"'):
        assert not nt.ready(x, None, "auto")  # CUDA tensors without triton: the torch loop
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not nt.ready(x, None, "auto")  # warned once only


def _python(code: str, interpret: bool):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_cpu_without_the_interpreter_and_import_without_triton():
    """``import neurosim.snn`` and the CPU layers never import triton; ``backend="triton"`` on a
    CPU tensor without the interpreter says to set TRITON_INTERPRET=1."""
    code = ("import sys, torch, neurosim.snn as snn\n"
            "snn.LIF()(torch.ones(2, 1, 3)); assert 'triton' not in sys.modules, 'imported triton'\n"
            "try:\n    snn.LIF(backend='triton')(torch.ones(2, 1, 3))\nexcept ValueError as e:\n    print(e)\n")
    r = _python(code, interpret=False)
    assert r.returncode == 0, r.stderr
    assert "TRITON_INTERPRET=1" in r.stdout


@pytest.mark.skipif(IN_INTERPRETER, reason="this process runs the kernels in the interpreter itself")
def test_in_a_fresh_interpreter():
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
                       env={**os.environ, "TRITON_INTERPRET": "1"}, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:]


def device_check(device: str) -> str:
    """Triton on ``device`` against the torch loop on the CPU for a few layers (every convention,
    the learnable tau, IF, pooling, a static input, bfloat16): spikes identical, float32 outputs
    and gradients within 1e-5. Returns a summary line."""
    cases = [lambda be: snn.LIF(3.0, backend=be), lambda be: snn.LIF(2.0, convention="snntorch", backend=be),
             lambda be: snn.LIF(convention="norse", reset="subtract", backend=be),
             lambda be: snn.ParametricLIF(2.5, surrogate=S.Sigmoid(), backend=be),
             lambda be: snn.IF(reset="subtract", backend=be), lambda be: snn.LIFAvgPool(2.0, backend=be)]
    x, v0, g, gv = _data(8, (9, 3, 2, 8, 12))
    for i, make in enumerate(cases):
        ref = _grads(make("torch"), x, v0, g[..., ::2, ::2] if i == 5 else g, gv)
        got = _grads(make("triton").to(device), x.to(device), v0.to(device),
                     (g[..., ::2, ::2] if i == 5 else g).to(device), gv.to(device))
        _assert_close(ref, tuple(t.cpu() for t in got), f"case {i} on {device}")
    s_ref, _ = snn.LIF(2.0, backend="torch").run_static(x[0], 7)
    s_got, _ = snn.LIF(2.0, backend="triton").run_static(x[0].to(device), 7)
    assert torch.equal(s_ref, s_got.cpu())
    xb = x.to(torch.bfloat16)
    s32, (v32,) = snn.LIF(2.0, backend="torch")(xb.float())
    s16, (v16,) = snn.LIF(2.0, backend="triton")(xb.to(device))
    assert torch.equal(s32, s16.float().cpu()) and s16.dtype == torch.bfloat16
    assert bool(((v16.float().cpu() - v32).abs() <= 2.0 ** -7 * v32.abs()).all())
    return f"device_check({device!r}): {len(cases) + 2} cases agree"


@interpreter
def test_device_check_runs_in_the_interpreter():
    assert "agree" in device_check("cpu")


def _compiled_process(call: str) -> str:
    """The output of ``print(<call>)`` (a function of this file) in a fresh Python whose kernels
    are compiled, not interpreted (``TRITON_INTERPRET=0``)."""
    code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); import test_snn_triton as t; "
            f"assert not t.IN_INTERPRETER; print(t.{call})")
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "TRITON_INTERPRET": "0"},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stdout


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_kernels_equal_the_cpu_torch_loop():
    assert "agree" in _compiled_process("device_check('cuda')")


def _compile(fn, consts: dict, types: dict):
    """``fn`` compiled for an sm_90 GPU (Triton's frontend, LLVM and the bundled ptxas; no GPU
    needed): arguments not in ``consts`` take their type from ``types``, pointers ``*fp32``."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    sig = {a: "constexpr" if a in consts else types.get(a, "*fp32") for a in fn.arg_names}
    return triton.compile(ASTSource(fn=fn, signature=sig, constexprs=consts), target=GPUTarget("cuda", 90, 32),
                          options=tri_autograd.LAUNCH)


def compile_check() -> str:
    """Compile forward and backward variants (every form, reset, surrogate and dv/dh mode, the
    learnable tau, pooling, static input, half dtypes): the interpreter does not run Triton's
    compiler, which rejects some programs the interpreter accepts. The float32 forward must divide
    with IEEE rounding (``div.rn.f32``) and contain no FMA (bit-identical spikes)."""
    from neurosim.snn.triton import kernels as K

    scalars = ("T", "M", "W", "x_step", "gs_step")
    ints = {a: "i32" for a in scalars} | {a: "i64" for a in ("h_last", "x_last", "gs_last")}
    floats = {a: "fp32" for a in ("tau", "vr", "leak", "vres", "thf", "sub", "v_th", "c1", "c2")}
    fwd = dict(FORM=0, DECAY_INPUT=True, RESET=0, RESET_DELAY=False, HAS_V0=True, HAS_K=False, STORE_H=True,
               POOL=False, BLOCK=1024)
    bwd = dict(FORM=0, DECAY_INPUT=True, RESET=0, RESET_DELAY=False, GMODE=2, SG=K.SURROGATES[0][1], HAS_V0=True,
               HAS_K=False, HAS_GVT=True, NEED_GV0=True, NEED_GK=False, NEED_PREV=False, STATIC=False, POOL=False,
               BLOCK=1024)
    half = {a: "*bf16" for a in ("x_ptr", "s_ptr", "v_ptr", "gs_ptr", "gvT_ptr", "gx_ptr")}
    ptx = _compile(K.lif_forward, fwd, ints | floats).asm["ptx"]
    assert "div.rn.f32" in ptx and "fma" not in ptx, "the forward must divide with IEEE rounding and never fuse"
    variants = [(K.lif_forward, fwd | dict(FORM=1, DECAY_INPUT=False, RESET=1, RESET_DELAY=True), {}),
                (K.lif_forward, fwd | dict(FORM=2, RESET=2, HAS_V0=False), {}),
                (K.lif_forward, fwd | dict(FORM=3, DECAY_INPUT=False, RESET=1, HAS_K=True), {}),
                (K.lif_forward, fwd | dict(POOL=True, BLOCK=256, STORE_H=False), half)]
    for sid, (_, sg) in K.SURROGATES.items():
        variants.append((K.lif_backward, bwd | dict(SG=sg, GMODE=sid % 4, RESET=sid % 3), {}))
    variants += [(K.lif_backward, bwd | dict(FORM=3, HAS_K=True, NEED_GK=True, NEED_PREV=True, POOL=True,
                                             BLOCK=256), {}),
                 (K.lif_backward, bwd | dict(FORM=1, RESET_DELAY=True, NEED_PREV=True, GMODE=0, HAS_V0=False,
                                             HAS_GVT=False, NEED_GV0=False), {}),
                 (K.lif_backward, bwd | dict(FORM=2, HAS_K=True, NEED_GK=True, NEED_PREV=True, DECAY_INPUT=False,
                                             STATIC=True), half | {"x_ptr": "*fp16"})]
    for fn, consts, types in variants:
        _compile(fn, consts, ints | floats | types)
    return f"compile_check: {len(variants) + 1} variants compiled for sm_90"


def test_kernels_compile_for_a_gpu_without_one():
    assert "compiled for sm_90" in _compiled_process("compile_check()")
