"""neurosim.models: shapes, reset, SEW connect functions, LoRaFB recurrence, parameter counts.

References are independent of the model code: a naive LIF loop and functional conv/BN
calls written here, truth tables, and published parameter counts (torchvision ResNet-18
11,689,512 and ResNet-34 21,797,672 with 1000 classes).
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from neurosim.models import (CONNECT_FUNCTIONS, ConvRecurrentContainer, SEWBasicBlock, get_model,  # noqa: E402
                             list_models, sew_connect)
from neurosim.snn.containers import SeqToANN, Stateful, reset_states  # noqa: E402
from neurosim.snn.modules.lif import LIFLayer  # noqa: E402


def naive_lif(xs, tau=2.0, v_th=1.0, v_reset=0.0):
    """Spikingjelly LIF (decay_input, hard reset, fire on >=), one step at a time."""
    v = torch.zeros_like(xs[0])
    out = []
    for x in xs:
        h = v + (x - (v - v_reset)) / tau
        s = (h >= v_th).to(xs.dtype)
        v = s * v_reset + (1 - s) * h
        out.append(s)
    return torch.stack(out)


def bn_train(x, bn):
    """BatchNorm2d in training mode, statistics over this call's batch only."""
    return F.batch_norm(x, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)


TINY = {
    "spiking_mlp": (dict(in_shape=(1, 8, 8), hidden=(16,), num_classes=3), (3, 2, 1, 8, 8)),
    "spiking_convnet": (dict(input_size=8, channels=(4, 8), hidden=(16,), num_classes=3), (3, 2, 1, 8, 8)),
    "sew_resnet18": (dict(base_width=4, num_classes=3, in_channels=1, stem="small"), (2, 2, 1, 16, 16)),
    "sew_resnet34": (dict(base_width=2, num_classes=3, in_channels=1, stem="small"), (2, 1, 1, 16, 16)),
    "sew_resnet_small": (dict(base_width=4, num_classes=3), (2, 2, 1, 16, 16)),
    "lorafb_snet18": (dict(base_width=4, num_classes=3, in_channels=1, stem="small"), (3, 2, 1, 15, 15)),
    "lorafb_snet34": (dict(base_width=2, num_classes=3, in_channels=1, stem="small"), (2, 1, 1, 16, 16)),
    "mlp": (dict(in_shape=(1, 8, 8), hidden=(16,), num_classes=3), (2, 1, 8, 8)),
    "convnet": (dict(input_size=8, channels=(4, 8), hidden=(16,), num_classes=3), (2, 1, 8, 8)),
    "resnet18": (dict(base_width=4, num_classes=3, in_channels=1, stem="small"), (2, 1, 16, 16)),
    "resnet34": (dict(base_width=2, num_classes=3, in_channels=1, stem="small"), (2, 1, 16, 16)),
    "resnet_small": (dict(base_width=4, num_classes=3), (2, 1, 16, 16)),
}


def test_registry_lists_every_model_and_rejects_unknown():
    assert set(TINY) == set(list_models())
    with pytest.raises(KeyError, match="spiking_convnet"):
        get_model("no_such_net")


@pytest.mark.parametrize("name, cfg", [("mlp", {"num_classes": 10 ** 11, "hidden": (3,)}),
                                       ("spiking_convnet", {"channels": (10 ** 6, 10 ** 6)})])
def test_get_model_refuses_weights_that_cannot_fit(name, cfg):
    """num_classes=1e11 used to fail inside torch's allocator (RuntimeError, 1.2 TB); the weights
    are now counted on the meta device first and the error names the options."""
    key = next(iter(cfg))
    with pytest.raises(ValueError, match=rf"get_model\('{name}'\) with {key}=.*the weights needs"):
        get_model(name, **cfg)


def test_get_model_memory_probe_leaves_the_seeded_weights_alone():
    """The meta-device probe draws no random numbers: same seed, same bits as the bare constructor."""
    from neurosim.models.registry import _REGISTRY

    for name in list_models():
        torch.manual_seed(3)
        a = get_model(name).state_dict()
        torch.manual_seed(3)
        b = _REGISTRY[name]().state_dict()
        assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), name


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_and_feature_layers(name):
    cfg, shape = TINY[name]
    torch.manual_seed(0)
    m = get_model(name, **cfg)
    y = m(torch.rand(*shape) * 3)
    b = shape[0] if name in ("mlp", "convnet", "resnet18", "resnet34", "resnet_small") else shape[1]
    assert tuple(y.shape) == (b, 3)
    for layer in m.feature_layers + (m.distill_layer,):
        m.get_submodule(layer)  # every named feature layer exists
    reset_states(m)


def test_per_step_output_and_time_mean():
    torch.manual_seed(1)
    m = get_model("spiking_convnet", input_size=8, channels=(4,), hidden=(8,), num_classes=3, mean_output=False)
    x = torch.rand(5, 2, 1, 8, 8) * 3
    y = m(x)
    assert y.shape == (5, 2, 3)
    reset_states(m)
    m.mean_output = True
    torch.testing.assert_close(m(x), y.mean(0))


@pytest.mark.parametrize("name", ["spiking_mlp", "spiking_convnet", "sew_resnet18", "lorafb_snet18"])
def test_reset_states_really_resets(name):
    cfg, shape = TINY[name]
    torch.manual_seed(2)
    m = get_model(name, **cfg)  # train-mode BN: normalised by the batch, so spikes occur
    for mod in m.modules():
        if isinstance(mod, torch.nn.Linear):  # strong enough weights for the hidden FC layers to spike
            torch.nn.init.normal_(mod.weight, 0.1, 0.5)
    x = torch.rand(*shape) * 4
    with torch.no_grad():
        a = m(x)
        m(x)  # state carried over from the first call
        held = [mod for mod in m.modules() if isinstance(mod, Stateful) and mod.state is not None]
        m.reset_states()
        assert all(mod.state is None for mod in m.modules() if isinstance(mod, Stateful))
        c = m(x)
    assert held, "the model should hold neuron state between calls"
    torch.testing.assert_close(a, c, rtol=0, atol=0)


def test_wrong_input_is_rejected():
    m = get_model("spiking_convnet", input_size=8, channels=(4,), hidden=(), num_classes=2)
    with pytest.raises(ValueError, match="x must have rank"):
        m(torch.rand(2, 1, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        m(torch.ones(2, 2, 1, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="T = 0"):
        m(torch.rand(0, 2, 1, 8, 8))
    with pytest.raises(ValueError, match="input_size"):
        get_model("spiking_convnet", input_size=2, channels=(4, 4))
    with pytest.raises(ValueError, match="channels"):
        get_model("spiking_convnet", channels=())
    with pytest.raises(ValueError, match="base_width"):
        get_model("sew_resnet18", base_width=0)
    with pytest.raises(KeyError, match="IAND"):
        get_model("sew_resnet18", connect="OR")
    with pytest.raises(TypeError, match="neuron"):
        get_model("spiking_mlp", neuron="lif")


def test_sew_connect_truth_tables():
    a = torch.tensor([0.0, 0.0, 1.0, 1.0])
    s = torch.tensor([0.0, 1.0, 0.0, 1.0])
    expect = {
        "ADD": [int(x) + int(y) for x, y in zip(a, s)],
        "AND": [int(bool(x) and bool(y)) for x, y in zip(a, s)],
        "IAND": [int((not bool(x)) and bool(y)) for x, y in zip(a, s)],
    }
    assert set(CONNECT_FUNCTIONS) == set(expect)
    for name, want in expect.items():
        assert sew_connect(name)(a, s).tolist() == want


@pytest.mark.parametrize("connect", ["ADD", "AND", "IAND"])
@pytest.mark.parametrize("stride,cin,cout", [(1, 3, 3), (2, 3, 5)])
def test_sew_block_matches_functional_reference(connect, stride, cin, cout):
    torch.manual_seed(3)
    blk = SEWBasicBlock(cin, cout, stride, connect)
    for p in blk.parameters():
        torch.nn.init.normal_(p, 0.3, 0.5)
    x = (torch.rand(4, 2, cin, 7, 7) < 0.5).float()
    t, b = x.shape[:2]

    def merged(fn, z):
        y = fn(z.reshape(t * b, *z.shape[2:]))
        return y.reshape(t, b, *y.shape[1:])

    c1, n1 = blk.conv1[0], blk.bn1[0]
    c2, n2 = blk.conv2[0], blk.bn2[0]
    h = naive_lif(merged(lambda z: bn_train(F.conv2d(z, c1.weight, None, stride, 1), n1), x))
    out = naive_lif(merged(lambda z: bn_train(F.conv2d(z, c2.weight, None, 1, 1), n2), h))
    if stride == 1 and cin == cout:
        ident = x
    else:
        cd, nd = blk.downsample[0], blk.downsample[1]
        ident = naive_lif(merged(lambda z: bn_train(F.conv2d(z, cd.weight, None, stride, 0), nd), x))
    want = {"ADD": out + ident, "AND": out * ident, "IAND": (1 - out) * ident}[connect]
    got = blk(x)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("stride,size", [(2, 7), (2, 8), (1, 6)])
def test_lorafb_container_matches_hand_unrolled_recurrence(stride, size):
    torch.manual_seed(4)
    cin, cout = 3, (5 if stride > 1 else 3)
    conv = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    stage = torch.nn.Sequential(SeqToANN(conv), LIFLayer(tau=2.0, detach_reset=True))
    cont = ConvRecurrentContainer(stage, cin, cout, stride)
    for p in cont.parameters():
        torch.nn.init.normal_(p, 0.4, 0.6)
    T, B = 5, 2
    x = (torch.rand(T, B, cin, size, size) < 0.4).float()
    got = cont(x)

    # hand-unrolled reference: R_t = SN(BN(DW(O_{t-1}))), A_t = SN(BN(PW([x_t, R_t]))), O_t = SN(conv(A_t))
    ho = (size + stride - 1) // stride
    y = torch.zeros(B, cout, ho, ho)
    v_fb = torch.zeros(B, cout, size, size)
    v_pw = torch.zeros(B, cin, size, size)
    v_st = torch.zeros(B, cout, ho, ho)

    def lif_step(inp, v):
        h = v + (inp - v) / 2.0
        s = (h >= 1.0).float()
        return s, (1 - s) * h

    outs = []
    for t in range(T):
        if stride > 1:
            d = F.conv_transpose2d(y, cont.dwconv.weight, None, stride, 1, output_padding=size - (2 * ho - 1),
                                   groups=cout)
            assert d.shape[-1] == size
            r, v_fb = lif_step(bn_train(d, cont.dwbn), v_fb)
        else:
            r = y
        a, v_pw = lif_step(bn_train(F.conv2d(torch.cat([x[t], r], 1), cont.pwconv.weight), cont.pwbn), v_pw)
        o, v_st = lif_step(F.conv2d(a, conv.weight, None, stride, 1), v_st)
        outs.append(o)
        y = o
    want = torch.stack(outs)
    assert want.sum() > 0 and (1 - want).sum() > 0  # the test exercises spikes and silence
    torch.testing.assert_close(got, want)
    # the feedback state persists; reset_states clears it
    assert cont.state is not None
    reset_states(cont)
    assert cont.state is None


def test_lorafb_paper_layer_shapes():
    """Feature shapes of LoRaFB-SNet18 at 224x224 (ALGORITHMS.md §1.4), width scaled by 1/16."""
    torch.manual_seed(5)
    m = get_model("lorafb_snet18", base_width=4, num_classes=7)
    shapes = {}
    hooks = [m.get_submodule(n).register_forward_hook(
        lambda mod, i, o, n=n: shapes.__setitem__(n, tuple(o.shape[2:]))) for n in m.feature_layers]
    with torch.no_grad():
        m(torch.rand(1, 1, 3, 224, 224))
    for h in hooks:
        h.remove()
    c = 4
    want = {"sn1": (c, 112, 112), "maxpool": (c, 56, 56), "avgpool": (8 * c, 1, 1)}
    for i, (ch, s) in enumerate([(c, 56), (2 * c, 28), (4 * c, 14), (8 * c, 7)], 1):
        for j in (0, 1):
            want[f"recurrent_layer{i}.sub_module.{j}"] = (ch, s, s)
    assert list(m.feature_layers) == ["sn1", "maxpool"] + [f"recurrent_layer{i}.sub_module.{j}"
                                                          for i in range(1, 5) for j in (0, 1)] + ["avgpool"]
    assert shapes == want


def _n_params(m):
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_resnet():
    assert _n_params(get_model("resnet18")) == 11_689_512
    assert _n_params(get_model("sew_resnet18")) == 11_689_512
    assert _n_params(get_model("sew_resnet34")) == 21_797_672
    # LoRaFB adds per stage: PW 1x1 (C_in + C_out) * C_in + BN(C_in); for stride 2 also DW 9 * C_out + BN(C_out)
    extra = 0
    for cin, cout, stride in [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]:
        extra += (cin + cout) * cin + 2 * cin
        if stride > 1:
            extra += 9 * cout + 2 * cout
    assert _n_params(get_model("lorafb_snet18", num_classes=1000)) == 11_689_512 + extra


def test_teacher_and_student_features_align():
    torch.manual_seed(6)
    cfg = dict(input_size=8, channels=(4, 6), hidden=(10,), num_classes=3)
    s, t = get_model("spiking_convnet", **cfg), get_model("convnet", **cfg)
    assert s.distill_layer == t.distill_layer
    feats = {}
    s.get_submodule(s.distill_layer).register_forward_hook(lambda m, i, o: feats.__setitem__("s", o))
    t.get_submodule(t.distill_layer).register_forward_hook(lambda m, i, o: feats.__setitem__("t", o))
    x = torch.rand(2, 1, 8, 8)
    s(x.expand(3, *x.shape))
    t(x)
    assert feats["s"].shape[1:] == feats["t"].shape  # [T, B, C, H, W] vs [B, C, H, W]
    # a teacher given a sequence averages the logits of each step
    torch.testing.assert_close(t(x.expand(3, *x.shape)), t(x))


@pytest.mark.parametrize("kind,cls", [("lif", "LIFLayer"), ("plif", "ParametricLIFLayer"), ("if", "IFLayer"),
                                      ("cuba", "CubaLIFLayer"), ("alif", "AdaptiveLIFLayer")])
def test_neuron_kinds(kind, cls):
    m = get_model("spiking_mlp", in_shape=(4,), hidden=(5,), num_classes=2, neuron={"kind": kind, "v_th": 0.5})
    assert type(m.net.sn1).__name__ == cls and m.net.sn1.spec.v_th == 0.5
    m(torch.rand(3, 2, 4)).sum().backward()
    if kind == "plif":
        assert m.net.sn1.w.grad is not None  # the time constant is learned


def test_unknown_neuron_kind():
    with pytest.raises(KeyError, match="plif"):
        get_model("spiking_mlp", neuron={"kind": "hodgkin"})


def test_spiking_convnet_fused_pool_is_the_same_network():
    """fuse_pool=True (LIF + avgpool in one kernel) gives the same logits, gradients and distill map."""
    torch.manual_seed(7)
    cfg = dict(input_size=8, channels=(4, 6), hidden=(10,), num_classes=3)
    a, b = get_model("spiking_convnet", **cfg), get_model("spiking_convnet", fuse_pool=True, **cfg)
    b.load_state_dict(a.state_dict())
    assert type(b.features.sn1).__name__ == "LIFAvgPoolLayer"
    feats = {}
    a.get_submodule(a.distill_layer).register_forward_hook(lambda m, i, o: feats.__setitem__("a", o))
    b.get_submodule(b.distill_layer).register_forward_hook(lambda m, i, o: feats.__setitem__("b", o))
    x = torch.rand(3, 2, 1, 8, 8) * 2
    oa, ob = a(x), b(x)
    # exact: the same spikes (same LIF operations), and the mean of four 0/1 spikes is exact in
    # either pooling, so the layers after it see identical inputs
    assert torch.equal(oa, ob) and torch.equal(feats["a"], feats["b"])
    oa.square().sum().backward()
    ob.square().sum().backward()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-6, atol=1e-7, msg=name)
    with pytest.raises(ValueError, match="pool='avg'"):
        get_model("spiking_convnet", pool="max", fuse_pool=True, **cfg)


def test_spiking_convnet_static_input_runs_the_first_conv_once():
    """static_input=True on a repeated image == the ordinary path (up to BN/summation rounding)."""
    torch.manual_seed(8)
    cfg = dict(input_size=8, channels=(4, 6), hidden=(10,), num_classes=3)
    for fuse in (False, True):
        a = get_model("spiking_convnet", fuse_pool=fuse, **cfg)
        b = get_model("spiking_convnet", fuse_pool=fuse, static_input=True, **cfg)
        b.load_state_dict(a.state_dict())
        calls = []
        b.features.conv1.register_forward_hook(lambda m, i, o: calls.append("seq"))
        b.features.conv1[0].register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
        x = torch.rand(5, 1, 8, 8) * 2
        xs = x.unsqueeze(0).expand(3, *x.shape)
        oa, ob = a(xs), b(xs)
        assert calls == [(5, 1, 8, 8)]  # conv1 ran once on the images, not on [T * B, ...]
        torch.testing.assert_close(ob, oa, rtol=1e-5, atol=1e-5)
        oa.square().sum().backward()
        ob.square().sum().backward()
        for (name, p), q in zip(a.named_parameters(), b.parameters()):
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5, msg=name)
        a.reset_states()
        b.reset_states()
        torch.testing.assert_close(b(xs.contiguous()), a(xs.contiguous()))  # not stride 0: ordinary path
