"""DDP on CPU (gloo, 2 processes): ranks agree, a 2-process run matches a 1-process run with the
same global batch, resume under DDP is exact, and `visionbench train --devices 2` works end to end.

Tolerance: with augmentation off, a 2-process step averages the same 64 samples' gradients as a
1-process step, in a different summation order, so weights agree to 1e-4 and validation accuracy
to 1 percentage point after 2 epochs (they are usually identical).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file

from visionbench import api
from visionbench.config import TrainConfig
from visionbench.engine import distributed
from visionbench.engine.checkpoint import unwrap
from visionbench.engine.trainer import Trainer
from visionbench.runs import RunDir

BASE = dict(
    task="classification",
    model="lenet5",
    data="digits",
    batch_size=64,  # the global batch: 32 per rank under 2 processes
    augment="none",
    quiet=True,
    threads=1,
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fit(cfg: TrainConfig, run: Path) -> tuple[dict, dict]:
    """One Trainer.fit through the library; the rank's final weights and last history row."""
    spec, task, bundle, recipe, model, device = api.prepare_run(cfg)
    fit = Trainer(task, model, bundle, recipe, cfg, RunDir(run).create(), device).fit()
    state = {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()}
    return state, fit.history[-1]


class _Interrupted(Exception):
    pass


def _interrupt_after(epochs: int):
    """Make every rank stop at the same point, after `epochs` epochs were checkpointed."""
    calls = {"n": 0}
    original = Trainer.validate

    def validate(self):
        calls["n"] += 1
        if calls["n"] > epochs:
            raise _Interrupted
        return original(self)

    Trainer.validate = validate
    return original


def _worker(rank: int, world: int, port: int, out: str, phases: list) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    for epochs, resume, stop_after in phases:
        cfg = TrainConfig(**BASE, epochs=epochs, resume=resume)
        if stop_after is None:
            state, last = _fit(cfg, Path(out) / "run")
            continue
        original = _interrupt_after(stop_after)
        try:
            _fit(cfg, Path(out) / "run")
        except _Interrupted:
            pass
        finally:
            Trainer.validate = original
    save_file(state, str(Path(out) / f"rank{rank}.safetensors"))
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(last))
    distributed.shutdown()


def _spawn(out: Path, phases: list) -> None:
    mp.spawn(_worker, args=(2, _free_port(), str(out), phases), nprocs=2, join=True)


@pytest.fixture(scope="module")
def ddp_two_epochs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    _spawn(out, [(2, False, None)])
    return out


def test_ranks_hold_identical_weights(ddp_two_epochs):
    w0 = load_file(str(ddp_two_epochs / "rank0.safetensors"))
    w1 = load_file(str(ddp_two_epochs / "rank1.safetensors"))
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # both ranks saw rank 0's validation metrics and the all-reduced training loss
    h0 = json.loads((ddp_two_epochs / "rank0.json").read_text())
    h1 = json.loads((ddp_two_epochs / "rank1.json").read_text())
    assert h0 == h1
    assert h0["epoch"] == 2 and h0["val_accuracy"] > 0.5


def test_two_processes_match_one_process(ddp_two_epochs, tmp_path):
    single, last = _fit(TrainConfig(**BASE, epochs=2), tmp_path / "run")
    w0 = load_file(str(ddp_two_epochs / "rank0.safetensors"))
    ddp_last = json.loads((ddp_two_epochs / "rank0.json").read_text())
    moved = max((single[k].float() - w0[k].float()).abs().max().item() for k in w0)
    assert moved < 1e-4, f"2-process weights differ from 1-process weights by {moved}"
    assert abs(last["val_accuracy"] - ddp_last["val_accuracy"]) <= 0.01
    assert abs(last["train_loss"] - ddp_last["train_loss"]) < 1e-3
    # and training did something: the weights left their initialisation
    init = api.prepare_run(TrainConfig(**BASE, epochs=2))[4].state_dict()
    assert max((init[k] - w0[k]).abs().max().item() for k in w0) > 1e-2


def test_resume_under_ddp_is_exact(ddp_two_epochs, tmp_path):
    # a 2-epoch run interrupted during epoch 2, then resumed from its epoch-1 checkpoint
    _spawn(tmp_path, [(2, False, 1), (2, True, None)])
    resumed = load_file(str(tmp_path / "rank0.safetensors"))
    straight = load_file(str(ddp_two_epochs / "rank0.safetensors"))
    for k in straight:
        assert torch.equal(resumed[k], straight[k]), k


def test_cli_devices_launches_torchrun(tmp_path):
    cmd = [sys.executable, "-m", "visionbench", "train", "classification"]
    cmd += ["--model", "lenet5", "--data", "digits", "--epochs", "1", "--batch-size", "64"]
    cmd += ["--augment", "none", "--threads", "1", "--quiet", "--out", str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [*cmd, "--devices", "2"], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run = tmp_path / "classification" / "lenet5__digits__s0"
    assert json.loads((run / "run.json").read_text())["world_size"] == 2
    ddp = json.loads((run / "metrics.json").read_text())
    single = api.train(TrainConfig(**BASE, epochs=1, out=str(tmp_path / "single")))
    assert abs(ddp["accuracy"] - single.metrics["accuracy"]) <= 0.01
    assert done.stdout.count("accuracy") >= 1  # rank 0 printed the table, once
    assert done.stdout.count("Run directory") == 1
