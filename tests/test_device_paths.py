"""Every model trains off the CPU without device mix-ups; ``--device`` / ``--amp`` on the command line.

No GPU is needed: the models run on torch's ``meta`` device (shapes and dtypes, no values). An
operation between a ``meta`` tensor and a CPU tensor of more than one element raises, exactly as
a CPU tensor created inside a forward pass would on CUDA, so a layer that builds its buffers
with ``torch.zeros(n)`` (no ``device=``) fails here. The first test shows that the harness
catches such a layer.
"""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from neurosim import cli
from neurosim.snn.device import Precision, holds_values, module_device, resolve_device

COMMANDS = ("train", "distill", "continual", "tsrsa", "demo")
META = torch.device("meta")


def _train_step_on_meta(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Forward, cross-entropy, backward and one SGD (momentum) step of ``net`` on ``meta``."""
    from neurosim.commands.train import is_spiking
    from neurosim.snn import reset_states

    net = net.to(META).train()
    x = x.to(META)
    if is_spiking(net):
        x = x.unsqueeze(0).expand(2, *x.shape)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    out = net(x)
    out = out[0] if isinstance(out, (tuple, list)) else out
    if out.dim() == 3:
        out = out.mean(0)
    loss = nn.functional.cross_entropy(out, torch.zeros(out.shape[0], dtype=torch.long, device=META))
    loss.backward()
    opt.step()
    reset_states(net)
    return out


class _MakesCpuTensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)) + torch.zeros(10)  # the bug the test looks for: no device=


def test_the_meta_harness_catches_a_cpu_tensor_made_in_forward():
    with pytest.raises(RuntimeError, match="device"):
        _train_step_on_meta(_MakesCpuTensor(), torch.rand(2, 1, 28, 28))


def _zoo():
    from neurosim.models import list_models

    return list_models()


@pytest.mark.parametrize("name", _zoo())
def test_every_zoo_model_takes_a_training_step_on_the_meta_device(name):
    from neurosim.models import build_model, input_config

    net = build_model(name, seed=0, **input_config(name))
    out = _train_step_on_meta(net, torch.rand(2, 1, 28, 28))
    assert out.device == META and tuple(out.shape) == (2, 10)
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert grads and all(g is not None and g.device == META for g in grads), f"{name}: a parameter has no meta grad"
    assert all(b.device == META for b in net.buffers())


@pytest.mark.parametrize("name", ["convnet", "resnet_small"])
def test_a_converted_zoo_model_takes_a_training_step_on_the_meta_device(name):
    """The IF layers and scalers of ``neurosim.convert`` (fine-tuning after conversion)."""
    from neurosim.convert import ann_to_snn
    from neurosim.models import build_model, input_config

    ann = build_model(name, seed=0, **input_config(name)).eval()
    snn = ann_to_snn(ann, torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)), mode="99.9%",
                     method="_forward")
    out = _train_step_on_meta(snn, torch.rand(2, 1, 28, 28))
    assert out.device == META and tuple(out.shape) == (2, 10)
    assert all(p.grad is not None and p.grad.device == META for p in snn.parameters() if p.requires_grad)


def test_custom_cpu_layers_are_torch_off_the_cpu():
    """BatchNorm2d, Conv2d and LIFAvgPool on ``meta``: torch's shapes and dtypes, no Numba kernel."""
    from neurosim.snn import BatchNorm2d, Conv2d, LIFAvgPool

    x = torch.empty(3, 1, 8, 8, device=META)
    conv, ref_conv = Conv2d(1, 4, 3, padding=1).to(META), nn.Conv2d(1, 4, 3, padding=1).to(META)
    y = conv(x)
    assert y.device == META and y.shape == ref_conv(x).shape
    bn = BatchNorm2d(4).to(META).train()
    z = bn(y)
    assert z.device == META and z.shape == y.shape and bn.running_mean.device == META
    pooled, state = LIFAvgPool(tau=2.0)(z.unsqueeze(0).expand(2, *z.shape))
    assert pooled.shape == (2, 3, 4, 4, 4) and state.v.shape == z.shape and pooled.device == META


def test_batchnorm_under_cpu_autocast_is_torchs_batchnorm():
    """Low-precision input with float32 parameters (what autocast hands a BN) is accepted, and the
    result is torch.nn.BatchNorm2d's (the same code computes both sides: bit equality)."""
    from neurosim.snn import BatchNorm2d

    torch.manual_seed(0)
    ours, ref = BatchNorm2d(3), nn.BatchNorm2d(3)
    x = torch.randn(4, 3, 5, 5).to(torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        a, b = ours(x), ref(x)
    assert a.dtype == b.dtype and torch.equal(a, b)
    assert torch.equal(ours.running_var, ref.running_var)
    with pytest.raises(TypeError, match="dtype"):  # outside autocast the mismatch is still an error
        ours(x)


def test_resolve_device_and_precision(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(META) == META and resolve_device("meta") == META
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"^--device cuda: no CUDA device \(torch.cuda.is_available\(\) is False\); "
                                         r"use --device cpu$"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="--device cuda:1: no CUDA device"):
        resolve_device("cuda:1")
    with pytest.raises(ValueError, match="must be one of cpu, cuda, auto"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match="device must be one of"):
        resolve_device(0, flag="device")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert resolve_device("auto") == torch.device("cuda", 0)  # no CUDA call: only the name is resolved
    assert Precision.of("none", "cpu").autocast().__class__.__name__ == "nullcontext"
    assert Precision.of("bf16", "cpu").dtype is torch.bfloat16 and Precision.of("bf16", "cpu").grad_scaler() is None
    with pytest.raises(ValueError, match="--amp fp16 needs a CUDA device"):
        Precision.of("fp16", "cpu")
    with pytest.raises(ValueError, match="--amp must be one of none, bf16, fp16"):
        Precision.of("fp8", "cpu")
    assert holds_values(torch.zeros(1)) and not holds_values(torch.zeros(1, device=META))
    assert module_device(nn.Linear(2, 2).to(META)) == META and module_device(nn.ReLU()) == torch.device("cpu")


def test_lif_skips_the_nan_check_only_on_meta():
    from neurosim.snn import LIF

    lif = LIF(tau=2.0, backend="torch")
    with pytest.raises(ValueError, match="non-finite"):
        lif(torch.full((2, 1, 3), float("nan")))
    s, _ = lif(torch.empty(2, 1, 3, device=META))
    assert s.device == META


def test_to_device_moves_tasks_and_keeps_shared_images_shared():
    from neurosim.continual.protocols import Task, to_device

    x, y = torch.rand(6, 4), torch.arange(6)
    tasks = [Task(f"t{k}", x, y, x[:2], y[:2], 10, perm=torch.randperm(4)) for k in range(3)]
    moved = to_device(tasks, META)
    assert all(t.x_train.device == META and t.perm.device == META for t in moved)
    assert moved[0].x_train is moved[2].x_train  # one copy of the shared images
    gen_state = torch.Generator().get_state()
    assert to_device({"gen": gen_state}, META)["gen"].device == torch.device("cpu")  # RNG states stay


def _tiny_trainer(tmp_path, amp, epochs, resume=False):
    from neurosim.distill import Trainer

    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 3))
    return net, Trainer(net, epochs=epochs, batch_size=8, seed=0, out_dir=tmp_path, resume=resume, progress=False,
                        device="cpu", amp=amp, checkpoint_every=2)


def test_trainer_bf16_resume_is_exact_and_refuses_another_precision(tmp_path):
    from neurosim.io import CorruptFileError

    g = torch.Generator().manual_seed(1)
    data = (torch.rand(40, 1, 4, 4, generator=g), torch.randint(0, 3, (40,), generator=g))
    whole, tr = _tiny_trainer(tmp_path / "whole", "bf16", 2)
    tr.fit(data)
    _, tr = _tiny_trainer(tmp_path / "parts", "bf16", 1)
    tr.fit(data)
    resumed, tr = _tiny_trainer(tmp_path / "parts", "bf16", 2, resume=True)
    tr.fit(data)
    assert tr.resumed
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    _, tr = _tiny_trainer(tmp_path / "parts", "none", 3, resume=True)
    with pytest.raises(CorruptFileError, match="amp"):
        tr.fit(data)
    with pytest.raises(ValueError, match="amp fp16 needs a CUDA device"):
        _tiny_trainer(tmp_path / "x", "fp16", 1)


# --- the command line ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", COMMANDS)
def test_every_training_command_documents_device_and_amp(command):
    from typer.testing import CliRunner

    out = CliRunner().invoke(cli.app, [command, "--help"], env={"COLUMNS": "200"}).output
    assert "--device" in out and "--amp" in out and "torch.cuda.is_available()" in out and "GradScaler" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_device_and_amp_reach_run(monkeypatch, command):
    from typer.testing import CliRunner

    seen = {}
    monkeypatch.setattr(cli, "_call", lambda module, func="run", **kw: seen.update(kw))
    res = CliRunner().invoke(cli.app, [command, "--device", "cpu", "--amp", "bf16"])
    assert res.exit_code == 0, res.output
    assert seen["device"] == "cpu" and seen["amp"] == "bf16"
    res = CliRunner().invoke(cli.app, [command])
    assert seen["device"] == "auto" and seen["amp"] == "none"  # the defaults


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("args, msg", [
    (["--device", "cuda"], "error: --device cuda: no CUDA device (torch.cuda.is_available() is False); use --device cpu"),
    (["--device", "tpu"], "error: --device must be one of cpu, cuda, auto, got 'tpu'"),
    (["--device", "cpu", "--amp", "fp16"], "error: --amp fp16 needs a CUDA device"),
    (["--device", "cpu", "--amp", "half"], "error: --amp must be one of none, bf16, fp16, got 'half'"),
])
def test_bad_device_or_amp_exits_2_before_writing(tmp_path, capsys, monkeypatch, command, args, msg):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "out"
    code = cli.main([command, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2 and msg in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_train_on_the_cpu_in_bf16_records_device_and_precision(tmp_path):
    out = tmp_path / "run"
    code = cli.main(["train", "--dataset", "embedded", "--model", "spiking_mlp", "--limit", "64", "--batch-size", "32",
                     "--device", "cpu", "--amp", "bf16", "--checkpoint-every", "0", "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["device"] == "cpu" and summary["amp"] == "bf16"
    assert 0.0 <= summary["test_acc"] <= 1.0 and summary["history"][0]["train_loss"] > 0


@pytest.mark.parametrize("device, backend", [("cpu", "gloo"), ("cuda:1", "nccl")])
def test_ddp_backend_follows_the_device(monkeypatch, device, backend):
    """NCCL for a CUDA run, gloo for a CPU run, even where CUDA is available (a torchrun of 2)."""
    from neurosim.distill import distributed as dist_utils

    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: seen.setdefault("cuda_device", i))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: seen.setdefault("backend", backend))
    assert dist_utils.init_from_env(device=torch.device(device)) is True
    assert seen["backend"] == backend
    assert seen.get("cuda_device") == (1 if backend == "nccl" else None)


@pytest.mark.parametrize("method", ["ewc", "hlop"])
def test_continual_in_bf16_on_the_cpu_and_resume_needs_the_same_precision(tmp_path, method):
    from neurosim.commands import continual

    kw = dict(method=method, benchmark="pmnist", tasks=2, epochs=1, limit=64, embedded=True, quiet=True,
              progress=False, hidden=(300, 300), device="cpu", out=tmp_path)
    s = continual.run(amp="bf16", **kw)
    assert s["amp"] == "bf16" and s["device"] == "cpu"
    R = s["R"]
    assert all(0.0 <= v <= 1.0 for v in (R[0][0], R[1][0], R[1][1])) and R[0][1] is None
    with pytest.raises(ValueError, match="amp"):
        continual.run(amp="none", resume=True, **kw)


def test_tsrsa_demo_stage_under_bf16_autocast(tmp_path):
    import math

    from neurosim.commands import tsrsa

    res = tsrsa.demo_stage(tmp_path, fast=True, device="cpu", amp="bf16")
    assert math.isfinite(res.metrics["score"]) and -1.0 <= res.metrics["score"] <= 1.0


def test_distill_bkd_wsld_in_bf16_on_the_cpu(tmp_path):
    """Teacher and student under autocast: the blurred-KD mask, restoration block and WSLD losses."""
    import math

    from neurosim.commands import distill

    s = distill.run(dataset="embedded", limit=64, teacher_epochs=1, epochs=1, batch_size=32, timesteps=2,
                    out=tmp_path, progress=False, model_cfg={"channels": (4, 8), "hidden": (16,)}, device="cpu",
                    amp="bf16", precise_bn=64)
    assert s["amp"] == "bf16" and s["device"] == "cpu" and s["kd"] == "bkd+wsld"
    assert math.isfinite(s["history"][0]["train_loss"]) and 0.0 <= s["test_acc"] <= 1.0
    assert (tmp_path / "student" / "model.pt").is_file()
