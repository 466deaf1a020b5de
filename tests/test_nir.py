"""neurosim.snn.nir (re-exported lazily by neurosim.io.nir): export/import round trips, physical constants,
plain-NIR semantics, snntorch, the type registries."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nir = pytest.importorskip("nir")
from torch import nn  # noqa: E402

from neurosim.io.nir import export_nir, import_nir, read_nir, write_nir  # noqa: E402
from neurosim.models import get_model  # noqa: E402
from neurosim.snn.containers import SeqToANN, reset_states  # noqa: E402
from neurosim.snn.functional import LIFSpec  # noqa: E402
from neurosim.snn.modules import CubaLIFLayer, IFLayer, LIFLayer, ParametricLIFLayer  # noqa: E402

DT = 1e-4


def _conv_stack(**lif):
    torch.manual_seed(0)
    m = nn.Sequential(
        SeqToANN(nn.Conv2d(1, 4, 3, padding=1), nn.AvgPool2d(2)), LIFLayer(**lif),
        nn.Flatten(2), nn.Linear(4 * 4 * 4, 6), LIFLayer(**lif), nn.Linear(6, 3))
    for p in m.parameters():
        nn.init.normal_(p, 0.1, 0.8)
    return m


def _grid(t: torch.Tensor) -> torch.Tensor:
    """``t`` rounded to multiples of 1/16: products and sums of a few hundred such values are exact
    in float32, so a layer's output does not depend on its summation order or algorithm."""
    return (t * 16).round() / 16


def _on_grid(net: nn.Module) -> None:
    with torch.no_grad():
        for p in net.parameters():
            if p.is_floating_point():
                p.copy_(_grid(p))


def _run(m, x):
    reset_states(m)
    with torch.no_grad():
        out = m(x)
    reset_states(m)
    return out


# Round trips compare a model with its re-import bit for bit: the same torch layers and neuron
# code with exactly copied parameters compute both sides.
@pytest.mark.parametrize("lif", [
    dict(tau=2.0),
    dict(tau=3.0, reset="subtract", v_th=0.7),
    dict(tau=5.0, decay_input=False, fire=">", v_reset=-0.2, v_rest=0.1),
    dict(tau=2.0, reset="none", surrogate="sigmoid"),
    dict(convention="snntorch", beta=0.8),
])
def test_round_trip_gives_identical_spikes(lif, tmp_path):
    m = _conv_stack(**lif)
    x = torch.rand(8, 2, 1, 8, 8) * 2
    g = export_nir(m, (1, 8, 8))
    m2 = import_nir(g)
    torch.testing.assert_close(_run(m2, x), _run(m, x), rtol=0, atol=0)
    # through a file, and the LIF options survive
    write_nir(m, tmp_path / "net.nir", (1, 8, 8))
    m3 = read_nir(tmp_path / "net.nir")
    torch.testing.assert_close(_run(m3, x), _run(m, x), rtol=0, atol=0)
    assert m3[2].spec == m[1].spec


def test_physical_constants_written():
    m = nn.Sequential(nn.Linear(3, 2), LIFLayer(tau=4.0, v_th=1.5, v_reset=-0.5, v_rest=0.25),
                      nn.Linear(2, 2), LIFLayer(tau=4.0, decay_input=False))
    g = export_nir(m, (3,), dt=1e-3)
    a, b = g.nodes["1"], g.nodes["3"]
    assert isinstance(a, nir.LIF) and a.tau.shape == (2,)
    # Euler: tau_c = tau * dt, R = 1 (decay_input) or tau (not), v_leak = v_rest
    np.testing.assert_allclose(a.tau, 4e-3)
    np.testing.assert_allclose(a.r, 1.0)
    np.testing.assert_allclose(a.v_leak, 0.25)
    np.testing.assert_allclose(a.v_threshold, 1.5)
    np.testing.assert_allclose(a.v_reset, -0.5)
    np.testing.assert_allclose(b.r, 4.0)
    assert g.metadata["neurosim"]["dt"] == 1e-3
    # exact (zero-order hold): exp(-dt / tau_c) = 1 - 1/tau
    ge = export_nir(m, (3,), dt=1e-3, discretization="exact")
    np.testing.assert_allclose(ge.nodes["1"].tau, -1e-3 / math.log(0.75))
    np.testing.assert_allclose(ge.nodes["1"].r, 1.0)
    x = torch.rand(5, 2, 3) * 3
    torch.testing.assert_close(_run(import_nir(ge), x), _run(m, x), rtol=0, atol=0)


@pytest.mark.parametrize("layer", [IFLayer, lambda: IFLayer(fire=">", reset="subtract", v_th=0.5)])
def test_integrate_and_fire_node(layer, tmp_path):
    m = nn.Sequential(nn.Linear(3, 4), layer())
    g = export_nir(m, (3,), dt=DT)
    node = g.nodes["1"]
    assert isinstance(node, nir.IF)
    np.testing.assert_allclose(node.r, 1.0 / DT)  # Euler: v += dt R I
    x = torch.rand(12, 2, 3)
    write_nir(m, tmp_path / "if.nir", (3,), dt=DT)
    back = read_nir(tmp_path / "if.nir")
    assert isinstance(back[1], IFLayer)
    torch.testing.assert_close(_run(back, x), _run(m, x), rtol=0, atol=0)
    # plain NIR IF (no metadata): v += x, fire on >, reset to v_reset
    plain = nir.IF(r=np.full(4, 1 / DT), v_threshold=np.full(4, 0.9), v_reset=np.zeros(4))
    g.nodes["1"] = plain
    xs = np.random.default_rng(2).uniform(0, 1, (15, 2, 4))
    mm = nn.Sequential(*[lay for lay in import_nir(g) if not isinstance(lay, nn.Linear)]).double()
    for lay in mm:
        lay.backend = "torch"
    v = np.zeros((2, 4))
    want = []
    for xt in xs:  # 0 ulp: the layer's IF step (snntorch form, beta 1) is this addition
        v = v + xt
        s_ = v > 0.9
        want.append(s_)
        v = np.where(s_, 0.0, v)
    np.testing.assert_array_equal(_run(mm, torch.tensor(xs)).numpy(), np.array(want, dtype=float))


@pytest.mark.parametrize("layer", [
    lambda: CubaLIFLayer(tau=3.0, tau_syn=2.0),
    lambda: CubaLIFLayer(tau=2.0, tau_syn=4.0, decay_input=False, reset="subtract"),
    lambda: CubaLIFLayer(convention="snntorch", beta=0.7, alpha=0.6),
    lambda: CubaLIFLayer(convention="norse"),
])
def test_cuba_lif_round_trip_and_constants(layer):
    torch.manual_seed(5)
    lay = layer()
    m = nn.Sequential(nn.Linear(5, 7), lay, nn.Linear(7, 3))
    g = export_nir(m, (5,), dt=1e-3)
    node = g.nodes["1"]
    assert isinstance(node, nir.CubaLIF)
    c = lay.cuba_spec
    alpha, beta = c.syn_decay, c.lif.decay
    np.testing.assert_allclose(node.tau_syn, 1e-3 / (1 - alpha))  # Euler
    np.testing.assert_allclose(node.tau_mem, 1e-3 / (1 - beta))
    np.testing.assert_allclose(node.w_in, 1 / (1 - alpha))
    x = torch.rand(20, 4, 5) * 2
    torch.testing.assert_close(_run(import_nir(g), x), _run(m, x), rtol=0, atol=0)


def test_plain_nir_cuba_lif_follows_nir_euler():
    """NIR CubaLIF without metadata vs an independent Euler loop (new current drives the membrane)."""
    n, dt, ts, tm = 5, 1e-4, 4e-4, 2e-4
    nodes = {
        "in": nir.Input(input_type={"input": np.array([n])}),
        "c": nir.CubaLIF(tau_syn=np.full(n, ts), tau_mem=np.full(n, tm), r=np.full(n, tm / dt), v_leak=np.zeros(n),
                         v_threshold=np.full(n, 1.2), v_reset=np.zeros(n), w_in=np.full(n, ts / dt)),
        "out": nir.Output(output_type={"output": np.array([n])}),
    }
    m = import_nir(nir.NIRGraph(nodes=nodes, edges=[("in", "c"), ("c", "out")]), dt=dt).double()
    xs = np.random.default_rng(3).uniform(0, 0.6, (50, 2, n))
    i = np.zeros((2, n))
    v = np.zeros((2, n))
    want = []
    gap = np.inf
    for x in xs:
        i = i + dt / ts * (-i + ts / dt * x)
        v = v + dt / tm * (-v + tm / dt * i)
        gap = min(gap, np.abs(v - 1.2).min())
        s_ = v > 1.2
        want.append(s_)
        v = np.where(s_, 0.0, v)
    want = np.array(want, dtype=float)
    assert want.sum() > 0
    # the imported layer computes i - i/4 + x and v - v/2 + i, NIR's Euler lines round differently
    # (a few ulps, ~1e-15 here); no membrane comes within 1e-9 of the threshold, so no spike can differ
    assert gap > 1e-9
    np.testing.assert_array_equal(_run(m, torch.tensor(xs)).numpy(), want)


def test_parametric_lif_exports_learned_tau():
    lay = ParametricLIFLayer(init_tau=3.0)
    with torch.no_grad():
        lay.w.fill_(0.3)  # "learned": tau = 1 / sigmoid(0.3)
    g = export_nir(nn.Sequential(nn.Linear(2, 2), lay), (2,), dt=DT)
    np.testing.assert_allclose(g.nodes["1"].tau, lay.tau * DT)
    assert isinstance(import_nir(g)[1], LIFLayer) and import_nir(g)[1].spec.tau == pytest.approx(lay.tau)


def _naive_nir_lif(xs, tau, r, v_leak, v_th, v_reset, dt):
    """NIR LIF integrated with forward Euler: fire on v > v_th, reset to v_reset. Returns the
    spikes and the smallest distance of a membrane to the threshold."""
    v = np.full(xs.shape[1:], v_leak, dtype=np.float64)
    out = np.zeros_like(xs)
    gap = np.inf
    for t, x in enumerate(xs):
        v = v + dt / tau * (v_leak - v + r * x)
        gap = min(gap, np.abs(v - v_th).min())
        s = v > v_th
        out[t] = s
        v = np.where(s, v_reset, v)
    return out, gap


@pytest.mark.parametrize("r", [1.0, 5.0])
def test_plain_nir_graph_follows_nir_semantics(r):
    """A graph without neurosim metadata is read with NIR's own equations (independent loop)."""
    tau, dt, n = 5e-4, 1e-4, 6
    w = np.random.default_rng(0).normal(0.3, 1.0, (n, 3))
    nodes = {
        "in": nir.Input(input_type={"input": np.array([3])}),
        "w": nir.Linear(weight=w),
        "lif": nir.LIF(tau=np.full(n, tau), r=np.full(n, r), v_leak=np.zeros(n), v_threshold=np.full(n, 0.8),
                       v_reset=np.zeros(n)),
        "out": nir.Output(output_type={"output": np.array([n])}),
    }
    g = nir.NIRGraph(nodes=nodes, edges=[("in", "w"), ("w", "lif"), ("lif", "out")])
    m = import_nir(g, dt=dt).double()
    for layer in m:
        if isinstance(layer, LIFLayer):
            layer.backend = "torch"  # the float64 loop (no kernel compilation in this test)
    x = np.random.default_rng(1).uniform(0, 2, (40, 2, 3))
    got = _run(m, torch.tensor(x)).numpy()
    want, gap = _naive_nir_lif(x @ w.T, tau, r, 0.0, 0.8, 0.0, dt)
    assert want.sum() > 0
    # torch's GEMM and NumPy's sum in other orders and the layer's form rounds differently from
    # NIR's Euler line (a few ulps, ~1e-15); no membrane comes within 1e-9 of the threshold
    assert gap > 1e-9
    np.testing.assert_array_equal(got, want)


def test_spiking_convnet_with_batchnorm_folds_into_conv():
    torch.manual_seed(3)
    m = get_model("spiking_convnet", input_size=8, channels=(4, 6), hidden=(8,), num_classes=3, mean_output=False)
    x = torch.rand(6, 4, 1, 8, 8)
    m(x)  # one training-mode pass to move the BN running statistics away from (0, 1)
    for bn in (m.features.bn1[0], m.features.bn2[0]):
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, 0.0, 0.5)
    m.eval()
    g = export_nir(m, (1, 8, 8))
    assert sum(isinstance(v, nir.Conv2d) for v in g.nodes.values()) == 2
    assert not any("BatchNorm" in type(v).__name__ for v in g.nodes.values())
    want, got = _run(m, x), _run(import_nir(g), x)
    # folding changes rounding only: the readout agrees to float32 precision unless a spike flips
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def test_exported_model_runs_in_snntorch(capsys):
    """neurosim -> NIR -> snntorch.import_from_nir: same spikes (dt = 1e-4 s, hard reset to 0)."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(8, 32), LIFLayer(tau=2.0, fire=">"), nn.Linear(32, 4), LIFLayer(tau=2.0, fire=">"))
    for p in mlp.parameters():
        nn.init.normal_(p, 0.1, 1.0)
    conv = _conv_stack(tau=2.0, fire=">")
    conv.append(LIFLayer(tau=2.0, fire=">"))
    # Spikes are compared bit for bit across the two libraries. The weights and inputs lie on a
    # 1/16 grid, so every Linear/Conv2d output is exact whatever the summation order or algorithm
    # (snntorch steps batches of one step, neurosim whole sequences); the LIF updates are
    # elementwise IEEE operations, identical on every machine, and fire on v > v_th as snntorch
    # does (on grid inputs a membrane can sit exactly on the threshold).
    for net in (mlp, conv):
        _on_grid(net)

    def run_snntorch(net, x):
        outs, state = [], None
        with torch.no_grad():
            for xt in x:
                o, state = net(xt) if state is None else net(xt, state)
                outs.append(o)
        return torch.stack(outs)

    x = _grid(torch.rand(40, 3, 8) * 2)
    sn = import_from_nir(export_nir(mlp, (8,), dt=1e-4))
    want = _run(mlp, x)
    assert want.sum() > 0
    torch.testing.assert_close(run_snntorch(sn, x), want, rtol=0, atol=0)

    # snntorch maps nir.Flatten(start_dim=0) (NIR dims exclude the batch) to torch's Flatten(0):
    # a batch of one runs (the batch dim is flattened away), larger batches fail. Pinned here.
    snc = import_from_nir(export_nir(conv, (1, 8, 8), dt=1e-4))
    x1 = _grid(torch.rand(20, 1, 1, 8, 8) * 2)
    torch.testing.assert_close(run_snntorch(snc, x1), _run(conv, x1)[:, 0], rtol=0, atol=0)
    with pytest.raises(RuntimeError):
        run_snntorch(snc, torch.rand(2, 3, 1, 8, 8))
    # current-based LIF -> snntorch Synaptic (needs decay_input=False: snntorch asserts R = tau_mem / dt)
    cuba = nn.Sequential(nn.Linear(8, 32), CubaLIFLayer(tau=2.0, tau_syn=2.0, decay_input=False, fire=">"),
                         nn.Linear(32, 4), CubaLIFLayer(tau=2.0, tau_syn=4.0, decay_input=False, fire=">"))
    for p in cuba.parameters():
        nn.init.normal_(p, 0.0, 0.5)
    _on_grid(cuba)
    want = _run(cuba, x)
    assert want.sum() > 0
    torch.testing.assert_close(run_snntorch(import_from_nir(export_nir(cuba, (8,), dt=1e-4)), x), want,
                               rtol=0, atol=0)
    capsys.readouterr()  # snntorch prints warnings about threshold scaling


def test_snntorch_export_imports_into_neurosim(capsys):
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(1)
    kw = dict(init_hidden=True, reset_mechanism="zero", reset_delay=False)
    net = nn.Sequential(nn.Linear(8, 16), snn.Leaky(beta=torch.full((16,), 0.5), threshold=torch.ones(16), **kw),
                        nn.Linear(16, 4),
                        snn.Leaky(beta=torch.full((4,), 0.5), threshold=torch.ones(4), output=True, **kw))
    for p in net.parameters():
        if p.dim() == 2:
            nn.init.normal_(p, 0.1, 1.0)
    _on_grid(net)  # exact Linear outputs in either library (see test_exported_model_runs_in_snntorch)
    m = import_nir(export_to_nir(net, torch.rand(8)))
    x = _grid(torch.rand(30, 3, 8) * 2)
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, snn.Leaky):
                mod.reset_mem()
        want = torch.stack([net(xt)[0] for xt in x])
    got = _run(m, x)
    assert want.sum() > 0
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    capsys.readouterr()


def test_validation():
    m = nn.Sequential(nn.Linear(3, 2), LIFLayer())
    with pytest.raises(ValueError, match="dt"):
        export_nir(m, (3,), dt=0.0)
    with pytest.raises(ValueError, match="discretization"):
        export_nir(m, (3,), discretization="rk4")
    with pytest.raises(ValueError, match="input_shape"):
        export_nir(m, ())
    with pytest.raises(TypeError, match="MaxPool2d"):
        export_nir(nn.Sequential(SeqToANN(nn.MaxPool2d(2))), (1, 4, 4))
    with pytest.raises(ValueError, match="Flatten"):
        export_nir(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), (3,))
    with pytest.raises(ValueError, match="BatchNorm"):
        export_nir(nn.Sequential(SeqToANN(nn.BatchNorm2d(1))), (1, 4, 4))
    g = export_nir(m, (3,))
    g.nodes["1"].v_threshold[0] = 2.0
    with pytest.raises(ValueError, match="v_threshold"):
        import_nir(g)
    g = export_nir(m, (3,))
    g.edges.append(("input", "1"))  # no longer a chain: imported as a GraphNet, whose fan-in shapes must agree
    with pytest.raises(ValueError, match=r"edge \('input', '1'\) carries shape \(3,\)"):
        import_nir(g)
    with pytest.raises(TypeError, match="NIRGraph"):
        import_nir(m)
    with pytest.raises(FileNotFoundError):
        read_nir("/nonexistent/file.nir")


# -- registries ---------------------------------------------------------------------------------
def _samples():
    """For every type with a registered exporter: models that put it in a graph (with the input
    shape of one sample), covering every NIR node type its exporter declares."""
    torch.manual_seed(7)
    lin = lambda n_in, n_out, **kw: nn.Linear(n_in, n_out, **kw)  # noqa: E731
    plif = ParametricLIFLayer(init_tau=3.0)
    with torch.no_grad():
        plif.w.fill_(0.3)
    samples = {
        nn.Conv2d: [(nn.Sequential(SeqToANN(nn.Conv2d(1, 2, 3, padding=1, stride=2)), LIFLayer()), (1, 6, 6))],
        nn.Linear: [(nn.Sequential(lin(3, 4), LIFLayer()), (3,)),
                    (nn.Sequential(lin(3, 4, bias=False), LIFLayer()), (3,))],
        nn.Flatten: [(nn.Sequential(nn.Flatten(2), lin(6, 2), LIFLayer()), (2, 3))],
        nn.AvgPool2d: [(nn.Sequential(SeqToANN(nn.AvgPool2d(2)), LIFLayer()), (1, 4, 4)),
                       (nn.Sequential(SeqToANN(nn.AvgPool2d(2, divisor_override=1)), LIFLayer()), (1, 4, 4))],
        LIFLayer: [(nn.Sequential(lin(3, 4), LIFLayer(tau=3.0, reset="subtract")), (3,)),
                   # no leak: written as nir.IF
                   (nn.Sequential(lin(3, 4), LIFLayer(spec=LIFSpec(tau=math.inf, decay_input=False))), (3,))],
        IFLayer: [(nn.Sequential(lin(3, 4), IFLayer(v_th=0.5)), (3,))],
        ParametricLIFLayer: [(nn.Sequential(lin(3, 4), plif), (3,))],
        CubaLIFLayer: [(nn.Sequential(lin(3, 4), CubaLIFLayer(tau=3.0, tau_syn=2.0)), (3,))],
    }
    for cases in samples.values():
        for m, _ in cases:
            for mod in m.modules():
                if isinstance(mod, (nn.Linear, nn.Conv2d)):
                    for p in mod.parameters():
                        nn.init.normal_(p, 0.5, 0.5)
    return samples


def test_every_exported_node_type_has_an_importer():
    from neurosim.snn.nir import EXPORTERS, IMPORTERS

    for cls, entry in EXPORTERS.items():
        missing = set(entry.nodes) - set(IMPORTERS)
        assert not missing, f"{cls.__name__} exports {missing} but no importer reads them"


def test_round_trip_per_registered_type():
    """Each registered exporter writes only the node types it declares, all of them across the
    samples, and the re-import computes the same outputs: the same torch layers and neuron code
    with exactly copied parameters (ParametricLIFLayer: its leak ``k`` multiplied in, vs the
    imported ``1/tau`` divided, may differ by an ulp, which flips no spike for this seed)."""
    from neurosim.snn.nir import EXPORTERS

    samples = _samples()
    assert set(samples) == set(EXPORTERS), "add a sample for every type registered with register_exporter"
    for cls, cases in samples.items():
        written = set()
        for m, shape in cases:
            g = export_nir(m, shape, dt=1e-3)
            idx = [i for i, mod in enumerate(m) if isinstance(mod, cls) or
                   (isinstance(mod, SeqToANN) and isinstance(mod[0], cls))]
            kinds = {type(g.nodes[str(i)]).__name__ for i in idx}
            assert kinds and kinds <= set(EXPORTERS[cls].nodes), (cls.__name__, kinds)
            written |= kinds
            x = torch.rand(12, 2, *shape) * 2
            back = import_nir(g)
            assert [type(v).__name__ for v in g.nodes.values()][1:-1] == [type(v).__name__ for v in
                                                                          export_nir(back, shape).nodes.values()][1:-1]
            want = _run(m, x)
            assert want.sum() > 0, cls.__name__
            torch.testing.assert_close(_run(back, x), want, rtol=0, atol=0)
        assert written == set(EXPORTERS[cls].nodes), (cls.__name__, written)


def test_zoo_models_export_their_per_step_stack():
    torch.manual_seed(2)
    m = get_model("spiking_mlp", in_shape=(1, 4, 4), hidden=(8,), num_classes=3, mean_output=False)
    g = export_nir(m, (1, 4, 4))
    assert [type(v).__name__ for v in g.nodes.values()] == ["Input", "Flatten", "Affine", "LIF", "Affine", "Output"]
    x = torch.rand(6, 2, 1, 4, 4) * 3
    torch.testing.assert_close(_run(import_nir(g), x), _run(m, x), rtol=0, atol=0)


def test_registration_is_checked():
    from neurosim.snn.nir import register_exporter, register_importer, register_layers

    with pytest.raises(ValueError, match="LIFLayer already has a NIR exporter"):
        register_exporter(LIFLayer, nodes=("LIF",))(lambda m, step: None)
    with pytest.raises(ValueError, match="LIF already has a NIR importer"):
        register_importer("LIF")(lambda node, step: None)
    with pytest.raises(ValueError, match="Sequential already has a NIR layer order"):
        register_layers(nn.Sequential)(list)


def test_batchnorm_after_a_neuron_is_refused():
    # a BatchNorm folds only into the Conv2d/Linear before it; after a LIF layer it has no NIR form
    m = nn.Sequential(nn.Linear(3, 4), LIFLayer(), nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="BatchNorm must follow a Conv2d or Linear"):
        export_nir(m, (3,))


def test_lif_spec_nir_mapping_round_trips():
    """LIFSpec/CubaLIFSpec.to_nir -> from_nir without metadata: the same step (decay, gain, constants)."""
    from neurosim.snn import resolve_lif_spec
    from neurosim.snn.functional.cuba import CubaLIFSpec

    for dt, disc in ((1e-3, "euler"), (1e-4, "exact")):
        for spec in (LIFSpec(tau=4.0, v_th=1.5, v_reset=-0.5, v_rest=0.25), LIFSpec(tau=2.5, decay_input=False),
                     resolve_lif_spec(convention="snntorch", beta=0.8)):
            f = spec.to_nir(dt, disc)
            tau_c = dt / (1 - spec.decay) if disc == "euler" else -dt / math.log(spec.decay)
            np.testing.assert_allclose(f["tau"], tau_c, rtol=1e-15)
            back = LIFSpec.from_nir(f["tau"], f["r"], f["v_leak"], f["v_threshold"], f["v_reset"], dt=dt,
                                    discretization=disc)
            assert back.decay == pytest.approx(spec.decay, rel=1e-12)
            assert back.input_gain == pytest.approx(spec.input_gain, rel=1e-12)
            assert (back.v_th, back.v_reset, back.v_rest, back.strict) == (spec.v_th, spec.v_reset, spec.v_rest, True)
            assert LIFSpec.from_nir(f["tau"], f["r"], f["v_leak"], f["v_threshold"], f["v_reset"], dt=dt,
                                    discretization=disc, metadata=spec.nir_metadata()) == spec
        cs = CubaLIFSpec(LIFSpec(tau=3.0), tau_syn=4.0)
        f = cs.to_nir(dt, disc)
        assert CubaLIFSpec.from_nir(**f, dt=dt, discretization=disc, metadata=cs.nir_metadata()) == cs
        assert CubaLIFSpec.from_nir(**f, dt=dt, discretization=disc).syn_decay == pytest.approx(0.75, rel=1e-12)
    assert set(LIFSpec(tau=float("inf"), decay_input=False).to_nir(1e-4)) == {"r", "v_threshold", "v_reset"}


def test_surrogate_rebuilt_from_kernel_param():
    from neurosim.snn.surrogate import SURROGATES

    for name, cls in SURROGATES.items():
        sg = cls.from_kernel_param(0.37)
        assert type(sg) is cls and sg.name == name and sg.kernel_param == 0.37


def test_io_nir_is_a_lazy_reexport():
    import subprocess
    import sys

    code = ("import sys, neurosim.io, neurosim.io.nir as m; assert 'torch' not in sys.modules, 'torch imported'; "
            "f = m.export_nir; import neurosim.snn.nir as s; "
            "assert f is s.export_nir and neurosim.io.read_nir is s.read_nir and m.NIR_DT == s.NIR_DT")
    subprocess.run([sys.executable, "-c", code], check=True)
