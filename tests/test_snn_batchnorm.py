"""Numba CPU paths of ``neurosim.snn.BatchNorm2d`` and ``neurosim.snn.Conv2d`` against torch's own layers."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neurosim.snn.batchnorm import BatchNorm2d, batch_norm_train, why_not_fused
from neurosim.snn.conv import Conv2d, why_not_small


def _pair_bn(c, dtype, **kw):
    ref = nn.BatchNorm2d(c, **kw).to(dtype)
    with torch.no_grad():
        if ref.weight is not None:
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-1, 1)
    ours = BatchNorm2d(c, **kw).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 2e-5), (torch.float64, 1e-11)])
@pytest.mark.parametrize("shape", [(6, 5, 7, 9), (64, 3, 28, 28), (2, 4, 1, 1)])
def test_batchnorm_matches_torch(shape, dtype, tol):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(*shape, generator=g, dtype=dtype) * 3 + 5).requires_grad_()  # offset mean: tests the shift
    ref, ours = _pair_bn(shape[1], dtype)
    assert why_not_fused(x) == ""
    for _ in range(3):  # running statistics over several steps
        ya, yb = ref(x), ours(x)
        gy = torch.randn(ya.shape, generator=g, dtype=dtype)
        ga = torch.autograd.grad(ya, [x, ref.weight, ref.bias], gy)
        gb = torch.autograd.grad(yb, [x, ours.weight, ours.bias], gy)
        torch.testing.assert_close(yb, ya, rtol=tol, atol=tol)
        for a, b in zip(ga, gb):
            torch.testing.assert_close(b, a, rtol=tol, atol=tol * max(1.0, a.abs().max().item()))
    torch.testing.assert_close(ours.running_mean, ref.running_mean, rtol=tol, atol=tol)
    torch.testing.assert_close(ours.running_var, ref.running_var, rtol=tol, atol=tol)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 3
    ref.eval()
    ours.eval()  # eval mode: torch's path with the same running statistics
    torch.testing.assert_close(ours(x), ref(x), rtol=tol, atol=tol)


@pytest.mark.parametrize("kw", [{"momentum": None}, {"affine": False}, {"track_running_stats": False}])
def test_batchnorm_options(kw):
    x = torch.randn(8, 3, 5, 5) * 2 + 1
    ref, ours = _pair_bn(3, torch.float32, **kw)
    for _ in range(4):
        torch.testing.assert_close(ours(x * 1.1), ref(x * 1.1), rtol=2e-5, atol=2e-5)
        x = x * 1.1
    if ref.running_mean is not None:
        torch.testing.assert_close(ours.running_var, ref.running_var, rtol=2e-5, atol=2e-5)


def test_batchnorm_gradcheck_and_fallbacks():
    x = torch.randn(4, 3, 3, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True) + 0.5
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *a: batch_norm_train(*a)[0], (x, w, b))
    assert "contiguous" in why_not_fused(torch.randn(2, 3, 4, 4).to(memory_format=torch.channels_last))
    assert "one value" in why_not_fused(torch.randn(1, 3, 1, 1))
    assert "float32" in why_not_fused(torch.randn(2, 3, 4, 4).half())
    with pytest.raises(ValueError, match="one value per channel"):
        batch_norm_train(torch.randn(1, 3, 1, 1), None, None)
    with pytest.raises(ValueError, match="weight must be a \\[3\\]"):
        batch_norm_train(torch.randn(2, 3, 2, 2), torch.ones(4), None)
    with pytest.raises(ValueError, match="backend"):
        BatchNorm2d(3, backend="cuda")
    m = BatchNorm2d(3, backend="torch")  # the torch path is taken and gives torch's result
    ref = nn.BatchNorm2d(3)
    xin = torch.randn(2, 3, 4, 4)
    assert torch.equal(m(xin), ref(xin))


def _pair_conv(cin, cout, k, pad, bias, dtype):
    ref = nn.Conv2d(cin, cout, k, padding=pad, bias=bias).to(dtype)
    ours = Conv2d(cin, cout, k, padding=pad, bias=bias).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 3e-5), (torch.float64, 1e-11)])
@pytest.mark.parametrize("cfg", [(1, 8, 3, 1, False, (9, 28, 28)), (3, 4, 3, 1, True, (5, 7, 9)),
                                 (2, 3, 3, 0, True, (3, 6, 5)), (1, 2, 5, 2, True, (2, 5, 5))])
def test_small_conv_matches_torch(cfg, dtype, tol):
    cin, cout, k, pad, bias, (n, h, w) = cfg
    g = torch.Generator().manual_seed(2)
    x = torch.randn(n, cin, h, w, generator=g, dtype=dtype, requires_grad=True)
    ref, ours = _pair_conv(cin, cout, k, pad, bias, dtype)
    assert why_not_small(ours, x) == ""
    ya, yb = ref(x), ours(x)
    torch.testing.assert_close(yb, ya, rtol=tol, atol=tol)
    gy = torch.randn(ya.shape, generator=g, dtype=dtype)
    ga = torch.autograd.grad(ya, [x, *ref.parameters()], gy)
    gb = torch.autograd.grad(yb, [x, *ours.parameters()], gy)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(b, a, rtol=tol, atol=tol * max(1.0, a.abs().max().item()))
    # input without gradient (first layer): weight gradient alone
    xd = x.detach()
    (gw,) = torch.autograd.grad(ours(xd), [ours.weight], gy)
    torch.testing.assert_close(gw, ga[1], rtol=tol, atol=tol * ga[1].abs().max().item())


def test_small_conv_gradcheck_and_fallbacks():
    conv = Conv2d(2, 3, 3, padding=1).double()
    x = torch.randn(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(conv, (x,))
    x32 = torch.randn(2, 2, 6, 6)
    for kw, word in (({"stride": 2}, "stride"), ({"groups": 2}, "groups"), ({"padding": "same"}, "padding")):
        c = Conv2d(2, 2, 3, **kw)
        assert word in why_not_small(c, x32)
        torch.testing.assert_close(c(x32), F.conv2d(x32, c.weight, c.bias, c.stride, c.padding, 1, c.groups))
    assert "in_channels" in why_not_small(Conv2d(4, 2, 3), torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="backend"):
        Conv2d(1, 2, 3, backend="gpu")


def test_models_use_them_and_state_dicts_stay_torch_compatible():
    from neurosim.models import get_model

    m = get_model("spiking_convnet")
    assert isinstance(m.features.conv1[0], Conv2d) and isinstance(m.features.bn1[0], BatchNorm2d)
    assert isinstance(m.features.bn1[0], nn.BatchNorm2d)  # NIR export / isinstance checks keep working
    sd = m.state_dict()
    assert "features.bn1.0.running_var" in sd and "features.conv1.0.weight" in sd


@pytest.mark.parametrize("kw,exc,name", [
    ({"num_features": 0}, ValueError, "num_features"), ({"num_features": 2.5}, TypeError, "num_features"),
    ({"eps": object()}, TypeError, "eps"), ({"eps": 0.0}, ValueError, "eps"),
    ({"momentum": float("inf")}, ValueError, "momentum"), ({"momentum": -1e-300}, ValueError, "momentum"),
    ({"momentum": 1.5}, ValueError, "momentum"), ({"momentum": {"a": 1}}, TypeError, "momentum"),
])
def test_batchnorm_options_are_validated(kw, exc, name):
    """momentum=inf and momentum<0 were accepted (running statistics inf/NaN); BatchNorm2d(0) and
    eps=object() failed inside torch."""
    kw = {"num_features": 3, **kw}
    with pytest.raises(exc, match=name):
        BatchNorm2d(**kw)


@pytest.mark.parametrize("backend", ["auto", "torch"])
def test_batchnorm_input_errors_name_x(backend):
    bn = BatchNorm2d(3, backend=backend)
    cases = [(torch.ones(2, 3, 2, 2).numpy(), TypeError, "x must be a torch.Tensor"),
             (torch.ones(2, 3, 2, 2, dtype=torch.int64), TypeError, "x must be a floating-point tensor"),
             (torch.ones(2, 3, 2, 2, dtype=torch.complex64), TypeError, "x must be a floating-point tensor"),
             (torch.ones(2, 3, 2, 2, dtype=torch.float64), TypeError, "x has dtype torch.float64 but the layer"),
             (torch.ones(2, 3, 4), ValueError, r"x must have shape \[N, C, H, W\]"),
             (torch.ones(2, 4, 2, 2), ValueError, "x has 4 channels"),
             (torch.ones(1, 3, 1, 1), ValueError, "x has one value per channel")]
    for x, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            bn(x)
    y = bn.double()(torch.randn(2, 3, 2, 2, dtype=torch.float64))  # matching dtypes run
    assert y.dtype == torch.float64
    bn.eval()
    assert bn(torch.randn(1, 3, 1, 1, dtype=torch.float64)).shape == (1, 3, 1, 1)  # running stats: 1 value is fine


@pytest.mark.parametrize("backend", ["auto", "torch"])
@pytest.mark.parametrize("kw", [{}, {"track_running_stats": False}, {"momentum": None}])
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_batchnorm_nonfinite_input_is_an_error(backend, kw, value):
    """A NaN/inf in x made the batch statistics (the running ones and every output of its channel)
    NaN without an error. Now an error, and the running statistics are left as they were."""
    bn = BatchNorm2d(3, backend=backend, **kw)
    x = torch.randn(4, 3, 5, 5)
    x[2, 1, 3, 0] = value
    with pytest.raises(ValueError, match=r"x contains 1 NaN/inf value\(s\) of 300"):
        bn(x)
    if bn.running_mean is not None:
        assert torch.equal(bn.running_mean, torch.zeros(3)) and int(bn.num_batches_tracked) == 0
    # finite, but deviations of 6e38 overflow float32 in the Numba kernel: torch's path takes over; the
    # batch variance 9e76 cannot be stored as a float32 running variance (torch's would be inf)
    big = torch.full((4, 3, 5, 5), 3e38)
    big[0] = -3e38
    ref = nn.BatchNorm2d(3, **kw)
    if bn.running_mean is None:
        torch.testing.assert_close(bn(big), ref(big), rtol=1e-6, atol=1e-6)
    else:
        with pytest.raises(ValueError, match=r"overflowed to NaN/inf although x is finite .*float64"):
            bn(big)
        assert not torch.isfinite(ref(big).sum() + ref.running_var.sum())  # torch: a silent inf
    bn.eval()  # running statistics: an elementwise affine map, NaN stays in place (no batch statistics)
    if bn.running_mean is not None:
        y = bn(x)
        assert torch.isfinite(y).sum() == 299 and not torch.isfinite(y[2, 1, 3, 0])
