"""Fuzz census entries: every option of every ``neurosim`` subcommand, run in-process with
typer's ``CliRunner``.

A clear error is exit code 2 with ``error: ...`` (or click's own ``Error: Invalid value for
'--opt'``) on stderr, no traceback, and the option (``--opt`` or its name) or the offending
path in the message. Exit 0 on an invalid value is a silent wrong answer; an exception, a
traceback or any other exit code is a crash. Each probe corrupts one option of a cheap base
command line (tiny sizes, embedded data); a few probes run the base line itself and check
its ``summary.json`` (finite numbers).
"""
from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

from hypothesis import strategies as st

from fuzz_gen import CLIResult, Entry, FileCase, Probe, corrupt_variants, finite_tree, names_in, origin, write_case

H2, H3, H4, LEAD = "H2", "H3", "H4", "lead"
DATA = Path(os.environ.get("NEUROSIM_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")))
_ids = itertools.count()

INT_BAD = [("-1", "error"), ("0", "error"), ("abc", "error"), ("1.5", "error"), ("", "error"), ("nan", "error")]
FLOAT_BAD = [("nan", "error"), ("inf", "error"), ("-inf", "error"), ("-1", "error"), ("0", "error"),
             ("abc", "error"), ("1e400", "error")]
CHOICE_BAD = [("bogus", "error"), ("", "error"), ("MNIST_X", "error")]


def _int(min_value=1, huge=None):
    bad = [(v, e) for v, e in INT_BAD if not (v == "0" and min_value <= 0)]
    if huge:
        bad.append((huge, "either"))
    return bad


def _float(zero_ok=False, extra=()):
    return [(v, e) for v, e in FLOAT_BAD if not (v == "0" and zero_ok)] + list(extra)


def _classify(result, names, expect, out: Path):
    out_text = (result.stdout or "") + (getattr(result, "stderr", "") or "")
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        return CLIResult("crash", f"{type(exc).__name__}: {msg[:300]}{origin(exc)}")
    code = result.exit_code
    if code == 0:
        if expect == "error":
            return CLIResult("silent", "exit 0 for an invalid value")
        summary = out / "summary.json"
        if summary.is_file():
            bad = finite_tree(json.loads(summary.read_text()))  # json reads NaN/Infinity as floats
            if bad:
                return CLIResult("silent", f"summary.json: {bad}")
        return CLIResult("correct")
    err = getattr(result, "stderr", "") or out_text
    if "Traceback" in out_text:
        return CLIResult("crash", f"exit {code} with a traceback: {err.strip()[-300:]}")
    if code != 2:
        return CLIResult("crash", f"exit {code} (expected 2): {err.strip()[-300:]}")
    line = err.strip()
    if not ("error:" in line or "Error" in line):  # ours, or click's usage-error box
        return CLIResult("crash", f"exit 2 without an 'error:' line: {line[-300:]}")
    if not names_in(line, names):
        return CLIResult("crash", f"error does not name {'/'.join(map(str, names[:4]))}: {line[-300:]}")
    return CLIResult("clear", line[-200:])


def _invoke(args, out, names, expect, env=None):
    from typer.testing import CliRunner

    from neurosim.cli import app

    env = dict(env or {})
    env.setdefault("NEUROSIM_DEBUG", "")
    runner = CliRunner()
    result = runner.invoke(app, args, env=env, catch_exceptions=True)
    return _classify(result, names, expect, Path(out))


_ALIASES = {"-T": "--timesteps"}


def _option_names(opt: str) -> tuple:
    long = _ALIASES.get(opt, opt)
    bare = long.lstrip("-")
    return (opt, long, bare, bare.replace("-", "_"))


def command_probes(tmp, cmd: list, base: dict, options: dict, *, valid=True, positional=(), files=None):
    """Probes for ``neurosim <cmd>``: ``base`` {option: value} is a cheap valid command line,
    ``options`` {option: [(bad value, expect), ...]}; ``files`` {option: strategy of FileCase}."""
    opts = sorted(options) + sorted(files or {})

    @st.composite
    def strat(draw):
        out = Path(tmp) / f"out{next(_ids)}"
        target = draw(st.sampled_from(([None] if valid else []) + opts))
        args = dict(base)
        label, expect, names = "valid command line", "ok", ()
        pre = None
        if target is not None and target in options:
            value, expect = draw(st.sampled_from(options[target]))
            args[target] = value
            label, names = f"{target} {value!r}", _option_names(target)
        elif target is not None:
            case = draw(files[target])
            folder = Path(tmp) / f"f{next(_ids)}"
            name = case.extra.get("name", "input.bin")
            path = folder / name

            def pre(case=case, folder=folder, name=name):
                for rel, content in case.extra.get("siblings", {}).items():
                    (folder / rel).parent.mkdir(parents=True, exist_ok=True)
                    (folder / rel).write_bytes(content)
                p = write_case(case, folder / case.extra.get("sub", ""), name)
                return p

            args[target] = case.extra.get("prefix", "") + str(folder if case.extra.get("pass_folder") else path)
            label = f"{target} <{case.label}>"
            expect = case.expect
            names = _option_names(target) + (name, str(path), str(folder))
        argv = list(cmd) + list(positional)
        for k, v in args.items():
            if v is None:
                continue
            if v is True:
                argv.append(k)
            else:
                argv += [k, str(v)]
        if "--out" not in args:
            argv += ["--out", str(out)]

        def thunk(argv=argv, pre=pre):
            if pre is not None:
                pre()
            return _invoke(argv, out if "--out" not in args else args["--out"], names, expect)

        return Probe(label, thunk, expect, names, None, "neurosim " + " ".join(repr(a) if " " in a or not a else a
                                                                              for a in argv))

    return strat()


# ------------------------------------------------------------------------------ file variants

def _idx_files():
    import numpy as np

    from fuzz_entries_data import _idx_bytes

    rng = np.random.default_rng(0)
    img = _idx_bytes(rng.integers(0, 255, (64, 28, 28)).astype(np.uint8))
    lab = _idx_bytes(rng.integers(0, 10, 64).astype(np.uint8))
    return {"train-images-idx3-ubyte": img, "train-labels-idx1-ubyte": lab, "t10k-images-idx3-ubyte": img,
            "t10k-labels-idx1-ubyte": lab}


def _data_folder_cases(dataset="mnist"):
    """A --data folder whose ``<dataset>/`` holds IDX files, one of them corrupt."""
    files = _idx_files()

    @st.composite
    def strat(draw):
        target = draw(st.sampled_from(sorted(files)))
        case = draw(corrupt_variants(files[target]))
        sib = {f"{dataset}/{k}": v for k, v in files.items() if k != target}
        return FileCase(f"{dataset}/{target}: {case.label}", case.content, case.expect,
                        extra={"name": target, "sub": dataset, "siblings": sib, "pass_folder": True})

    return st.one_of(strat(), st.sampled_from([
        FileCase("a missing folder", None, "error", extra={"name": "nodata", "pass_folder": False}),
        FileCase("a file instead of a folder", b"x", "error", extra={"name": "data.txt", "pass_folder": False}),
        FileCase("an empty folder", "dir", "error", extra={"name": "empty", "pass_folder": False})]))


def _model_cases(prefix=""):
    """Variants of a model.pt; ``prefix``: put before the path on the command line (``converted:``)."""
    from fuzz_entries_torch import _ckpt_bytes, _model_bytes

    valid = _model_bytes()
    extra = {"name": "model.pt", "prefix": prefix}
    return st.one_of(corrupt_variants(valid).map(lambda c: FileCase(c.label, c.content, c.expect, extra=extra)),
                     st.just(FileCase("a checkpoint of another kind", _ckpt_bytes(), "error", extra=extra)))


def _nwb_cases():
    import numpy as np

    return st.sampled_from([FileCase("random bytes", np.random.default_rng(0).bytes(3000), "error",
                                     extra={"name": "session.nwb"}),
                            FileCase("an empty file", b"", "error", extra={"name": "session.nwb"}),
                            FileCase("a text file", b"not nwb\n", "error", extra={"name": "session.nwb"}),
                            FileCase("a missing file", None, "error", extra={"name": "session.nwb"})])


def _out_cases():
    return st.sampled_from([FileCase("an existing file", b"x", "error", extra={"name": "outfile"}),
                            FileCase("a path below a file", b"x", "error", extra={"name": "f/sub"})])


def _missing_folder():
    return st.sampled_from([FileCase("a missing folder", None, "error", extra={"name": "nodata"}),
                            FileCase("a file instead of a folder", b"x", "error", extra={"name": "data.txt"})])


def _resume_cases():
    return st.sampled_from([FileCase("a corrupt checkpoint.pt", b"garbage" * 10, "error",
                                     extra={"name": "checkpoint.pt", "pass_folder": True}),
                            FileCase("an empty checkpoint.pt", b"", "error",
                                     extra={"name": "checkpoint.pt", "pass_folder": True})])


# ---------------------------------------------------------------------------------- commands

#: entries whose valid command line reads real data: the folder under DATA each needs (left out,
#: like the tests that skip, when a checkout has no ../shared/data and NEUROSIM_DATA is unset)
NEEDS_DATA = {"cli train --model converted:": "mnist", "cli distill --student converted:": "mnist",
              "cli continual": "mnist", "cli convert": "mnist", "cli tsrsa": "allen_neuropixels_dg_spyketools",
              "cli tsrsa --neural NWB": "allen_neuropixels_dg_spyketools"}


def entries():
    return [e for e in _entries() if e.name not in NEEDS_DATA or (DATA / NEEDS_DATA[e.name]).is_dir()]


def _entries():
    emb = {"--dataset": "embedded"}
    small_train = {**emb, "--model": "spiking_mlp", "--epochs": "1", "--batch-size": "32", "-T": "1",
                   "--limit": "64", "--seed": "0"}
    return [
        Entry("cli simulate", H4, lambda tmp: command_probes(
            tmp, ["simulate"], {"--neurons": "50", "--duration-ms": "5", "--no-progress": True, "--seed": "0"},
            {"--neurons": _int(huge="1000000000"), "--duration-ms": _float(), "--dt-ms": _float(),
             "--seed": [("-1", "error"), ("abc", "error"), ("1.5", "error")]},
            positional=["cuba"], files={"--out": _out_cases()}), weight=0.6, timeout=60),
        Entry("cli simulate NETWORK", H4, _network_probes, weight=0.2),
        Entry("cli train", H2, lambda tmp: command_probes(
            tmp, ["train"], small_train,
            {"--dataset": CHOICE_BAD, "--model": CHOICE_BAD, "--epochs": _int(), "--batch-size": _int(huge="10000000000"),
             "--lr": _float(), "-T": _int(huge="100000000000"), "--seed": [("-1", "error"), ("abc", "error")],
             "--limit": _int(), "--convert-mode": [("max", "error")], "--convert-calibration": [("8", "error")],
             **DEVICE_AMP},
            files={"--out": _out_cases()}, valid=True), weight=0.6, timeout=90),
        Entry("cli train --model converted:", H2, _train_converted_probes, weight=0.4, timeout=90),
        Entry("cli train --data", H3, lambda tmp: command_probes(
            tmp, ["train"], {**small_train, "--dataset": "mnist"}, {}, files={"--data": _data_folder_cases()},
            valid=False), weight=0.4, timeout=90),
        Entry("cli train --resume", H2, lambda tmp: command_probes(
            tmp, ["train"], {**small_train, "--resume": True}, {}, files={"--out": _resume_cases()}, valid=False),
            weight=0.2, timeout=90),
        Entry("cli distill", H2, lambda tmp: command_probes(
            tmp, ["distill"], {**emb, "--epochs": "1", "--teacher-epochs": "1", "--batch-size": "32", "-T": "1",
                               "--limit": "64"},
            {"--dataset": CHOICE_BAD, "--teacher": CHOICE_BAD, "--student": CHOICE_BAD, "--kd": CHOICE_BAD,
             "--epochs": _int(), "--teacher-epochs": _int(), "--batch-size": _int(), "-T": _int(),
             "--seed": [("-1", "error")], "--limit": _int(),
             "--label-smoothing": _float(zero_ok=True, extra=[("1.5", "error")]),
             "--lr-schedule": CHOICE_BAD, "--bkd-alpha": [(v, e) for v, e in _float(zero_ok=True) if v != "0"],
             "--bkd-lambda": _float(zero_ok=True, extra=[("1.5", "error")]), "--kd-temperature": _float(),
             "--convert-mode": [("max", "error")], "--convert-calibration": [("8", "error")], **DEVICE_AMP},
            files={"--data": _missing_folder(), "--out": _out_cases()}, valid=False), weight=0.8, timeout=90),
        Entry("cli distill --student converted:", H2, _distill_converted_probes, weight=0.6, timeout=90),
        Entry("cli continual", H2, lambda tmp: command_probes(
            tmp, ["continual"], {"--method": "finetune", "--benchmark": "pmnist", "--tasks": "2", "--limit": "64",
                                 "--data": str(DATA)},
            {"--method": CHOICE_BAD, "--benchmark": CHOICE_BAD, "--tasks": _int(huge="1000000000"),
             "--epochs": _int(), "--seed": [("-1", "error")], "--limit": _int(),
             "--hlop-consolidation": [("-1", "error"), ("abc", "error")],
             "--hlop-damping": [("a,b", "error"), ("1,2,3,4,5,6,7", "error"), ("-1", "error"), ("nan", "error"),
                                ("", "either")],
             "--neuron": CHOICE_BAD, **DEVICE_AMP},
            files={"--data": _missing_folder(), "--out": _out_cases()}, valid=False), weight=0.8, timeout=90),
        Entry("cli convert", H2, _convert_probes, weight=0.6, timeout=90),
        Entry("cli reservoir", H4, lambda tmp: command_probes(
            tmp, ["reservoir"], {"--kind": "ei-adaptive", "--task": "memory_capacity", "--size": "20"},
            {"--kind": CHOICE_BAD, "--task": CHOICE_BAD, "--size": _int(huge="100000"),
             "--seed": [("-1", "error"), ("abc", "error")]},
            files={"--data": _missing_folder(), "--out": _out_cases()}), weight=0.6, timeout=60),
        Entry("cli reservoir --kind lsm", H4, lambda tmp: command_probes(
            tmp, ["reservoir"], {"--kind": "lsm", "--task": "classification", "--size": "20"}, {"--task": CHOICE_BAD},
            files={"--data": _data_folder_cases()}, valid=False), weight=0.4, timeout=60),
        Entry("cli tsrsa", H3, lambda tmp: command_probes(
            tmp, ["tsrsa"], {"--model": "convnet", "--neural": "allen_dg", "--data": str(DATA)},
            {"--neural": CHOICE_BAD, "--layers": [("bogus.layer", "error")],
             "--seed": [("-1", "error"), ("abc", "error")], **DEVICE_AMP},
            files={"--model": _model_cases(), "--data": _missing_folder(), "--out": _out_cases()},
            valid=False), weight=0.8, timeout=90),
        Entry("cli tsrsa --neural NWB", H3, lambda tmp: command_probes(
            tmp, ["tsrsa"], {"--model": "convnet", "--data": str(DATA)}, {}, files={"--neural": _nwb_cases()},
            valid=False), weight=0.3, timeout=90),
        Entry("cli bench", LEAD, _bench_probes, weight=0.2),
        Entry("cli demo", H4, lambda tmp: command_probes(
            tmp, ["demo"], {"--fast": True}, {"--seed": [("-1", "error"), ("abc", "error")], **DEVICE_AMP},
            files={"--data": _data_folder_cases(), "--out": _out_cases()}, valid=False), weight=0.6, timeout=120),
    ]


#: --device / --amp of the torch commands ("cuda" and "fp16" are valid on a CUDA machine, errors here)
DEVICE_AMP = {"--device": [("cuda", "either"), ("tpu", "error"), ("", "error"), ("cuda:x", "error")],
              "--amp": [("fp8", "error"), ("fp16", "either"), ("", "error")]}


#: --mode / --convert-mode values that are not a layer-scale statistic
MODE_BAD = [("100.5%", "error"), ("0%", "error"), ("-1%", "error"), ("nan%", "error"), ("banana", "error"),
            ("", "error"), ("0", "error"), ("1.5", "error"), ("nan", "error"), ("inf", "error"), ("%", "error")]


def _ann_file(tmp) -> Path:
    """A small untrained ReLU MLP file (784-16-10), as neurosim train writes model.pt."""
    from neurosim.models import build_model, input_config, save_model

    model = Path(tmp) / "ann" / "model.pt"
    if not model.is_file():
        model.parent.mkdir(parents=True, exist_ok=True)
        cfg = {**input_config("mlp"), "hidden": (16,)}
        save_model(model, build_model("mlp", seed=0, **cfg).eval(), "mlp", cfg)
    return model


def _distill_converted_probes(tmp):
    """``neurosim distill --student converted:FILE`` (the MLP converted, its ANN the teacher), 64 MNIST images."""
    model = _ann_file(tmp)
    return command_probes(
        tmp, ["distill"], {"--student": f"converted:{model}", "--dataset": "mnist", "--data": str(DATA), "--kd": "kd",
                           "--epochs": "1", "--batch-size": "32", "-T": "1", "--limit": "64",
                           "--convert-calibration": "32"},
        {"--convert-mode": MODE_BAD, "--convert-calibration": _int(huge="1000000000") + [("65", "error")],
         "--teacher": [("convnet", "error"), (str(model), "error"), ("", "error")],
         "--teacher-epochs": [("2", "error"), ("-1", "error")], "--kd": CHOICE_BAD, "-T": _int()},
        files={"--student": _model_cases("converted:")})


def _train_converted_probes(tmp):
    """``neurosim train --model converted:FILE`` (the MLP converted), 64 MNIST images."""
    model = _ann_file(tmp)
    return command_probes(
        tmp, ["train"], {"--model": f"converted:{model}", "--dataset": "mnist", "--data": str(DATA), "--epochs": "1",
                         "--batch-size": "32", "-T": "1", "--limit": "64"},
        {"--convert-mode": MODE_BAD, "--convert-calibration": _int(huge="1000000000") + [("65", "error")]},
        files={"--model": _model_cases("converted:")}, valid=False)


def _convert_probes(tmp):
    """``neurosim convert`` on a small untrained ReLU MLP file (784-16-10) and 32 MNIST images."""
    model = _ann_file(tmp)
    t_bad = [("8,16,x", "error"), ("0", "error"), ("-4", "error"), ("", "error"), ("4,,8", "error"),
             ("1e9", "error"), ("100001", "error"), ("abc", "error")]
    mode_bad = MODE_BAD
    return command_probes(
        tmp, ["convert"], {"--model": str(model), "--dataset": "mnist", "--data": str(DATA), "-T": "2,4",
                           "--calibration": "32", "--limit": "32", "--seed": "0"},
        {"--dataset": CHOICE_BAD + [("embedded", "error")], "-T": t_bad, "--mode": mode_bad,
         "--calibration": _int(huge="1000000000"), "--limit": [(v, e) for v, e in _int()],
         "--seed": [("-1", "error"), ("abc", "error")]},
        files={"--model": _model_cases(), "--data": _missing_folder(), "--out": _out_cases()})


def _network_probes(tmp):
    @st.composite
    def strat(draw):
        name = draw(st.sampled_from(["bogus", "", "CUBA", "brunel "]))
        out = Path(tmp) / f"out{next(_ids)}"
        argv = ["simulate", name, "--neurons", "50", "--duration-ms", "5", "--no-progress", "--out", str(out)]
        return Probe(f"NETWORK {name!r}", lambda: _invoke(argv, out, ("NETWORK", "network", name or "''"), "error"),
                     "error", ("NETWORK", "network"), None, "neurosim " + " ".join(argv))

    return strat()


def _bench_probes(tmp):
    @st.composite
    def strat(draw):
        what = draw(st.sampled_from(["bogus", "", "SIM", "lif", "rsa"]))
        out = Path(tmp) / f"out{next(_ids)}"
        argv = ["bench", what, "--out", str(out)]
        return Probe(f"WHAT {what!r}", lambda: _invoke(argv, out, ("WHAT", "what", "bench"), "error"), "error",
                     ("WHAT", "what"), None, "neurosim " + " ".join(argv))

    return strat()
