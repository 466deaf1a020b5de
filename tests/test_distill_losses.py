"""KD, WSLD, feature KD and blurred KD: hand-computed values, naive loops, gradcheck, mask statistics."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from torch import nn

import naive_distill as naive
from neurosim.distill.losses import (BlurredKD, DistillObjective, FeatureAlign, FeatureKD, RestorationBlock,
                                     blur_mask, kd_loss, make_objective, wsld_loss, wsld_weights)

D = torch.float64


def test_kd_hand_value():
    zs = torch.tensor([[0.0, 0.0]], dtype=D)
    zt = torch.tensor([[math.log(3.0), 0.0]], dtype=D)
    # T = 1: p_t = (3/4, 1/4), p_s = (1/2, 1/2)
    want = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    assert kd_loss(zs, zt, 1.0).item() == pytest.approx(want, rel=1e-12)
    # T = 2: p_t = (sqrt3, 1)/(sqrt3 + 1); loss scaled by T^2 = 4
    a = math.sqrt(3.0) / (math.sqrt(3.0) + 1)
    want2 = 4 * (a * math.log(2 * a) + (1 - a) * math.log(2 * (1 - a)))
    assert kd_loss(zs, zt, 2.0).item() == pytest.approx(want2, rel=1e-12)


def test_kd_matches_loop():
    g = torch.Generator().manual_seed(0)
    zs, zt = torch.randn(5, 4, generator=g, dtype=D), torch.randn(5, 4, generator=g, dtype=D)
    assert kd_loss(zs, zt, 3.0).item() == pytest.approx(naive.kd_loop(zs.tolist(), zt.tolist(), 3.0), rel=1e-10)


def test_wsld_hand_value():
    zs = torch.tensor([[0.0, 0.0]], dtype=D)
    zt = torch.tensor([[math.log(3.0), 0.0]], dtype=D)
    y = torch.tensor([0])
    ce_s, ce_t = math.log(2.0), math.log(4.0 / 3.0)
    w = 1 - math.exp(-ce_s / (ce_t + 1e-7))
    soft = math.log(2.0)  # p_s = (1/2, 1/2) whatever p_t is
    assert wsld_loss(zs, zt, y, temperature=1.0).item() == pytest.approx(w * soft, rel=1e-12)
    assert wsld_weights(zs, zt, y).item() == pytest.approx(w, rel=1e-12)


def test_wsld_matches_loop_and_soft_targets():
    g = torch.Generator().manual_seed(1)
    zs, zt = torch.randn(6, 5, generator=g, dtype=D) * 2, torch.randn(6, 5, generator=g, dtype=D) * 2
    y = torch.randint(0, 5, (6,), generator=g)
    want, weights = naive.wsld_loop(zs.tolist(), zt.tolist(), y.tolist(), 2.0)
    assert wsld_loss(zs, zt, y).item() == pytest.approx(want, rel=1e-10)
    np.testing.assert_allclose(wsld_weights(zs, zt, y).numpy(), weights, rtol=1e-10)
    # a one-hot soft target gives the same value as the index target
    onehot = torch.nn.functional.one_hot(y, 5).to(D)
    assert wsld_loss(zs, zt, onehot).item() == pytest.approx(want, rel=1e-10)


def test_wsld_weight_has_no_gradient_path():
    """The weight uses detached student logits: grad equals T^2 mean(w * dL_soft) with w constant."""
    g = torch.Generator().manual_seed(2)
    zs = torch.randn(4, 3, generator=g, dtype=D, requires_grad=True)
    zt = torch.randn(4, 3, generator=g, dtype=D)
    y = torch.tensor([0, 1, 2, 0])
    wsld_loss(zs, zt, y, temperature=2.0).backward()
    w = wsld_weights(zs, zt, y)
    pt = torch.softmax(zt / 2, -1)
    ps = torch.softmax(zs.detach() / 2, -1)
    # d/dz_s of -sum p_t log softmax(z_s/T) = (p_s - p_t)/T
    want = 4 * (w[:, None] * (ps - pt) / 2) / 4
    torch.testing.assert_close(zs.grad, want, rtol=1e-10, atol=1e-12)


def test_gradcheck_logit_losses():
    g = torch.Generator().manual_seed(3)
    zs = torch.randn(3, 4, generator=g, dtype=D, requires_grad=True)
    zt = torch.randn(3, 4, generator=g, dtype=D)
    y = torch.tensor([1, 0, 3])
    assert torch.autograd.gradcheck(lambda z: kd_loss(z, zt, 2.5), (zs,))
    # WSLD's weight is deliberately detached, so finite differences (which see the weight move)
    # only agree where the weight is saturated: a confident, correct teacher gives CE_t ~ 0 and
    # w = 1 exactly. The detached-weight gradient itself is checked analytically above.
    zt_conf = zt.clone()
    zt_conf[torch.arange(3), y] = 60.0
    assert torch.equal(wsld_weights(zs, zt_conf, y), torch.ones(3, dtype=D))
    assert torch.autograd.gradcheck(lambda z: wsld_loss(z, zt_conf, y), (zs,))


def _set_center(block: RestorationBlock, a, b1, c, b2):
    with torch.no_grad():
        block.conv1.weight.fill_(0.3)  # off-centre taps only see padding on a 1x1 map
        block.conv1.weight[0, 0, 1, 1] = a
        block.conv1.bias.fill_(b1)
        block.conv2.weight.fill_(-0.7)
        block.conv2.weight[0, 0, 1, 1] = c
        block.conv2.bias.fill_(b2)


def test_bkd_hand_value():
    loss = BlurredKD(1, 1, lam=0.0, alpha=0.5).double()
    _set_center(loss.restore, 0.5, -0.25, 2.0, 0.1)
    fs = torch.tensor([1.0, 3.0], dtype=D).reshape(2, 1, 1, 1, 1)  # [T=2, B=1, C=1, 1, 1], mean 2
    ft = torch.ones(1, 1, 1, 1, dtype=D)
    # G(2) = 2 * relu(0.5 * 2 - 0.25) + 0.1 = 1.6; loss = 0.5 * (1.6 - 1)^2 / 1
    assert loss(fs, ft).item() == pytest.approx(0.18, rel=1e-12)
    # lam = 1 masks everything: G(0) = 2 * relu(-0.25) + 0.1 = 0.1
    loss.lam = 1.0
    assert loss(fs, ft).item() == pytest.approx(0.5 * 0.81, rel=1e-12)


def test_feature_kd_hand_value():
    loss = FeatureKD(2, 1, beta=3.0).double()
    with torch.no_grad():
        loss.align.conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1))
        loss.align.conv.bias.fill_(0.5)
    fs = torch.tensor([3.0, 1.0], dtype=D).reshape(1, 2, 1, 1)
    ft = torch.full((1, 1, 1, 1), 2.0, dtype=D)
    assert loss(fs, ft).item() == pytest.approx(3.0 * 0.25, rel=1e-12)  # (3 - 1 + 0.5 - 2)^2 = 0.25
    # equal channels: identity alignment, plain MSE
    same = FeatureKD(3, 3)
    assert same.align.conv is None
    a, b = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert same(a, b).item() == pytest.approx(((a - b) ** 2).mean().item(), rel=1e-6)


def test_bkd_matches_naive_loop():
    torch.manual_seed(0)
    loss = BlurredKD(3, 3, lam=0.4, alpha=2e-3).double()
    gen = torch.Generator().manual_seed(7)
    fs = torch.randn(4, 2, 3, 5, 4, dtype=D)  # [T, B, C, H, W]
    ft = torch.randn(2, 3, 5, 4, dtype=D)
    got = loss(fs, ft, generator=gen).item()
    mask = blur_mask(2, 3, 0.4, torch.Generator().manual_seed(7)).double().numpy()
    r = loss.restore
    want = naive.bkd_loop(fs.mean(0).numpy(), ft.numpy(), mask, r.conv1.weight.detach().numpy(),
                          r.conv1.bias.detach().numpy(), r.conv2.weight.detach().numpy(),
                          r.conv2.bias.detach().numpy(), 2e-3)
    assert got == pytest.approx(want, rel=1e-10)


def test_bkd_zero_when_identical_and_no_blur():
    """lambda = 0 and G = identity: L_BKD = 0 exactly when the (time-averaged) student feature equals the teacher's."""
    loss = BlurredKD(4, 4, lam=0.0, restoration=nn.Identity())
    ft = torch.randn(3, 4, 2, 2)
    assert loss(ft.expand(2, *ft.shape), ft).item() == 0.0  # mean of 2 equal values is exact
    assert loss(ft.expand(5, *ft.shape), ft).item() == pytest.approx(0.0, abs=1e-12)
    assert loss(ft, ft).item() == 0.0
    assert loss(ft + 0.1, ft).item() > 0.0


def test_mask_statistics_and_determinism():
    lam, b, c = 0.15, 500, 200
    m = blur_mask(b, c, lam, torch.Generator().manual_seed(11))
    n = b * c
    zeros = int((m == 0).sum())
    sd = math.sqrt(n * lam * (1 - lam))
    assert abs(zeros - n * lam) < 5 * sd  # binomial, 5 sigma
    # per-sample rates spread like Binomial(c, lam)/c
    per = (m == 0).double().mean(1)
    assert abs(per.var().item() - lam * (1 - lam) / c) < 0.3 * lam * (1 - lam) / c
    m2 = blur_mask(b, c, lam, torch.Generator().manual_seed(11))
    assert torch.equal(m, m2)
    g = torch.Generator().manual_seed(11)
    assert not torch.equal(blur_mask(8, 8, 0.5, g), blur_mask(8, 8, 0.5, g))
    # rows of a global mask = the same slice of the full draw
    full = blur_mask(6, 5, 0.5, torch.Generator().manual_seed(3))
    part = blur_mask(6, 5, 0.5, torch.Generator().manual_seed(3), rows=slice(2, 4))
    assert torch.equal(full[2:4], part)


def test_bkd_mask_is_per_channel_over_space():
    loss = BlurredKD(6, 6, lam=0.5, restoration=nn.Identity(), alpha=1.0)
    fs = torch.ones(4, 6, 3, 3)
    ft = torch.zeros(4, 6, 3, 3)
    m = blur_mask(4, 6, 0.5, torch.Generator().manual_seed(5))
    # sum((fs*m)^2)/B counts the kept channels times 9 pixels
    got = loss(fs, ft, generator=torch.Generator().manual_seed(5)).item()
    assert got == pytest.approx(m.sum().item() * 9 / 4)


def test_gradcheck_feature_losses():
    gen_seed = 9
    bkd = BlurredKD(2, 3, lam=0.3, alpha=0.7).double()
    ft = torch.randn(2, 3, 3, 3, dtype=D)
    fs = torch.randn(2, 2, 3, 3, dtype=D, requires_grad=True)

    def f_bkd(x):
        return bkd(x, ft, generator=torch.Generator().manual_seed(gen_seed))

    assert torch.autograd.gradcheck(f_bkd, (fs,))
    # gradient w.r.t. the restoration and alignment parameters
    params = [p for p in bkd.parameters()]
    for p in params:
        p.grad = None
    bkd(fs.detach(), ft, generator=torch.Generator().manual_seed(gen_seed)).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    fk = FeatureKD(2, 3).double()
    assert torch.autograd.gradcheck(lambda x: fk(x, ft), (fs,))
    vec = FeatureKD(4, 2).double()
    assert torch.autograd.gradcheck(lambda x: vec(x, torch.zeros(3, 2, dtype=D)),
                                    (torch.randn(3, 4, dtype=D, requires_grad=True),))


def test_vector_features():
    loss = BlurredKD(5, 3, lam=0.2)
    out = loss(torch.randn(4, 2, 5), torch.randn(2, 3), generator=torch.Generator().manual_seed(0))
    assert out.dim() == 0 and torch.isfinite(out)
    assert FeatureAlign(5, 3)(torch.randn(2, 5)).shape == (2, 3)


def test_combined_objective_equals_sum_of_terms():
    torch.manual_seed(0)
    obj = make_objective("bkd+wsld", student_channels=3, teacher_channels=4, feature_layers=("a", "b"))
    zs, zt = torch.randn(5, 10), torch.randn(5, 10)
    y = torch.randint(0, 10, (5,))
    fs, ft = torch.rand(4, 5, 3, 2, 2), torch.randn(5, 4, 2, 2)
    loss, parts = obj(zs, y, zt, fs, ft, generator=torch.Generator().manual_seed(1))
    want = (torch.nn.functional.cross_entropy(zs, y) + wsld_loss(zs, zt, y, temperature=2.0)
            + obj.features(fs, ft, generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(loss, want)
    assert set(parts) == {"ce", "wsld", "bkd"}
    none, _ = make_objective("none")(zs, y)
    torch.testing.assert_close(none, torch.nn.functional.cross_entropy(zs, y))
    kd, parts = make_objective("kd")(zs, y, zt)
    torch.testing.assert_close(kd, torch.nn.functional.cross_entropy(zs, y) + kd_loss(zs, zt, 4.0))
    assert not make_objective("none").needs_teacher and make_objective("wsld").needs_teacher


def test_validation_errors():
    with pytest.raises(ValueError, match="lam"):
        BlurredKD(2, 2, lam=1.5)
    with pytest.raises(ValueError, match="alpha"):
        BlurredKD(2, 2, alpha=-1.0)
    with pytest.raises(ValueError, match="beta"):
        FeatureKD(2, 2, beta=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        kd_loss(torch.zeros(2, 3), torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="same number of classes"):
        wsld_loss(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="kd recipe"):
        make_objective("distill-all")
    with pytest.raises(ValueError, match="feature_layers"):
        make_objective("bkd")
    with pytest.raises(ValueError, match="in_channels"):
        FeatureAlign(3, 4)(torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="spatial"):
        FeatureKD(2, 2)(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 4))
    with pytest.raises(ValueError, match="time axis"):
        FeatureKD(2, 2)(torch.zeros(2, 2, 1, 2, 3, 3), torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match="logits"):
        DistillObjective("mse")


# -- fuzz census (issue 15) -------------------------------------------------------------------
@pytest.mark.parametrize("labels", [[0, 1, 2, 9], [0, -1, 2, 3], [5, 0, 0, 0]])
def test_labels_out_of_range_name_target(labels):
    """Out-of-range labels crashed inside ``gather`` ("index 9 is out of bounds")."""
    zs, zt = torch.randn(4, 5), torch.randn(4, 5)
    y = torch.tensor(labels)
    bad = [v for v in labels if not 0 <= v < 5]
    from neurosim.distill.losses import soft_cross_entropy

    with pytest.raises(ValueError, match=r"^target holds class labels outside \[0, 4\] \(logits has K = 5 classes\): "
                       + re.escape(str(bad))):
        soft_cross_entropy(zs, y)
    for fn in (lambda: wsld_loss(zs, zt, y), lambda: wsld_weights(zs, zt, y),
               lambda: make_objective("wsld")(zs, y, zt)):
        with pytest.raises(ValueError, match="^target holds class labels outside"):
            fn()


def test_logits_and_target_errors_name_the_argument():
    from neurosim.distill.losses import soft_cross_entropy

    y = torch.tensor([0, 1, 2, 3])
    with pytest.raises(TypeError, match=r"^logits must be a floating torch.Tensor \[B, K\], got dtype torch.int64"):
        soft_cross_entropy(torch.ones(4, 5, dtype=torch.int64), y)
    with pytest.raises(ValueError, match=r"^logits is empty"):
        soft_cross_entropy(torch.ones(0, 5), y)
    with pytest.raises(ValueError, match=r"^target \(class labels\) must have shape \[B\] = \(3,\) to match logits"):
        soft_cross_entropy(torch.ones(3, 5), y)
    with pytest.raises(ValueError, match=r"^target \(a soft target"):
        soft_cross_entropy(torch.ones(4, 5), y.double())
    with pytest.raises(TypeError, match=r"^target must be integer class labels"):
        soft_cross_entropy(torch.ones(4, 5), y.bool())
    with pytest.raises(TypeError, match=r"^target must be a torch.Tensor"):
        soft_cross_entropy(torch.ones(4, 5), [0, 1, 2, 3])
    for value in (float("nan"), float("inf"), -float("inf")):
        z = torch.randn(4, 5)
        z[2, 1] = value
        with pytest.raises(ValueError, match=r"^student_logits contains 1 NaN/inf"):
            kd_loss(z, torch.randn(4, 5))
        with pytest.raises(ValueError, match=r"^teacher_logits contains 1 NaN/inf"):
            wsld_loss(torch.randn(4, 5), z, y)
    with pytest.raises(ValueError, match=r"^temperature=1e\+300 is too large"):
        kd_loss(torch.randn(4, 5), torch.randn(4, 5), 1e300)
    with pytest.raises(ValueError, match="temperature"):
        DistillObjective("kd", temperature=1e200)
    for fn in (lambda t: kd_loss(torch.randn(4, 5), torch.randn(4, 5), t),  # logits / 1e-300 were inf -> NaN
               lambda t: wsld_loss(torch.randn(4, 5), torch.randn(4, 5), y, temperature=t)):
        with pytest.raises(ValueError, match=r"^temperature=1e-300 is too small: \w+_logits / temperature overflows"):
            fn(1e-300)
        assert math.isfinite(fn(1e-3).item())  # small but representable temperatures still work


@pytest.mark.parametrize("kw,exc,name", [
    ({"batch": -6}, ValueError, "batch"), ({"batch": 0}, ValueError, "batch"), ({"batch": 1.5}, TypeError, "batch"),
    ({"batch": "1.0"}, TypeError, "batch"), ({"channels": "1.0"}, TypeError, "channels"),
    ({"channels": 0}, ValueError, "channels"), ({"batch": 10 ** 12}, ValueError, r"^batch \* channels: the mask"),
    ({"channels": 10 ** 12}, ValueError, r"^batch \* channels: the mask"), ({"generator": 7}, TypeError, "generator"),
])
def test_blur_mask_arguments(kw, exc, name):
    """Negative, float and string sizes crashed inside ``torch.rand``; 10**12 rows tried to allocate 16 TB."""
    kw = {"batch": 2, "channels": 3, "lam": 0.5, **kw}
    with pytest.raises(exc, match=name):
        blur_mask(**kw)
