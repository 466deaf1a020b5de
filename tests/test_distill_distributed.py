"""Two gloo processes on 127.0.0.1 give the same result as one process with the same global batch.

The models have no BatchNorm (per-process batch statistics would differ; use SyncBatchNorm for
that). Spawned with ``torch.multiprocessing`` on a free localhost port.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from test_distill_trainer import TinySNN, TinyTeacher, toy_data
from neurosim.distill import Trainer, make_objective

EPOCHS, BATCH = 2, 11  # 40 samples -> global batches 11, 11, 11, 7 -> per-rank 6/5 and 4/3


def _train(out_dir):
    torch.manual_seed(0)
    student, teacher = TinySNN(), TinyTeacher()
    obj = make_objective("bkd+wsld", student_channels=4, teacher_channels=6, feature_layers=("act1", "relu1"),
                         alpha=0.05)
    tr = Trainer(student, obj, teacher=teacher, epochs=EPOCHS, batch_size=BATCH, timesteps=2, seed=3,
                 out_dir=out_dir, progress=False, device="cpu",
                 optimizer=lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9))
    tr.fit(toy_data(40), val=toy_data(13, seed=1))
    return tr


def _worker(rank, world, port, out_dir, done_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=world)
    try:
        _train(out_dir)
        (Path(done_dir) / str(rank)).touch()  # training finished; only the process group's teardown is left
    finally:
        torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    single = _train(tmp_path / "one")
    done = tmp_path / "done"
    done.mkdir()
    try:
        mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "two"), str(done)), nprocs=2, join=True)
    except mp.ProcessExitedException as exc:
        # gloo's C++ threads can abort a child at process-group teardown ("terminate called without
        # an active exception", SIGABRT; 1 of ~15 runs under a loaded suite, 0 of 13 alone). Only
        # that is tolerated: both ranks must have finished training; the results are checked below.
        if exc.signal_name != "SIGABRT" or sorted(p.name for p in done.iterdir()) != ["0", "1"]:
            raise
    state = torch.load(tmp_path / "two" / "checkpoint.pt", weights_only=True)
    ref = single.state_dict()
    for key in ("student", "objective"):
        for name, v in ref[key].items():
            torch.testing.assert_close(state[key][name], v, rtol=1e-5, atol=1e-6, msg=f"{key}.{name}")
    # rank 0 alone writes the metrics: one line per epoch, not one per process
    lines = [json.loads(s) for s in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2]
    for a, b in zip(lines, single.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_acc"] == b["val_acc"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["checkpoint.pt", "metrics.jsonl"]
