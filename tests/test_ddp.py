"""DDP on CPU (gloo, 2 processes): ranks agree, a 2-process run matches a 1-process run with the
same global batch, resume under DDP is exact and really resumes, GAN steps (two optimizers, two
networks) are all-reduced like any other step, and `visionbench train --devices 2` works end to end.

All the 2-process jobs run in one spawn (the module fixture), one after the other.

Tolerance: with augmentation off, a 2-process step averages the same 64 samples' gradients as a
1-process step, in a different summation order, so weights agree to 1e-4 and validation accuracy
to 1 percentage point after 2 epochs (they are usually identical). SRGAN (GroupNorm, deterministic
sr:2 degradation) is held to the same 1e-4. DCGAN cannot be: its BatchNorm layers normalise with
each rank's own 32 samples (SyncBatchNorm is CUDA-only) and each rank draws its own latent codes,
as each rank reads its own images; its ranks must still hold bit-identical parameters.
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
DCGAN = dict(
    task="generation",
    model="dcgan",
    data="digits",
    batch_size=64,
    epochs=1,
    task_options={"val_samples": 50, "n_samples": 50, "inpaint": "none"},
    quiet=True,
    threads=1,
)
SRGAN = dict(
    task="restoration",
    model="srgan",
    data="photos",
    batch_size=8,
    epochs=1,  # 5 steps: the adversarial term starts at step 2 (ESRGAN's warm start is half)
    augment="none",
    data_options={"patches_per_image": 8, "patch_size": 32},
    task_options={"degradation": "sr:2"},
    quiet=True,
    threads=1,
)

# whichever test comes first pays for the one 2-process spawn of every job (minutes when loaded)
pytestmark = pytest.mark.timeout(900)

# name -> (config, phases); a phase is (epochs, resume, stop after this many epochs or None)
JOBS = {
    "lenet": (BASE, [(2, False, None)]),
    "lenet_resumed": (BASE, [(2, False, 1), (2, True, None)]),
    "dcgan": (DCGAN, [(1, False, None)]),
    "srgan": (SRGAN, [(1, False, None)]),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fit(cfg: TrainConfig, run: Path):
    """One Trainer.fit through the library; the rank's final weights and its FitResult."""
    spec, task, bundle, recipe, model, device = api.prepare_run(cfg)
    fit = Trainer(task, model, bundle, recipe, cfg, RunDir(run).create(), device).fit()
    state = {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()}
    return state, fit


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


def _checkpointed_epoch(run: Path) -> int | None:
    state = run / "checkpoint" / "state.pt"
    if not state.exists():
        return None
    return int(torch.load(state, map_location="cpu", weights_only=True)["epoch"])


def _worker(rank: int, world: int, port: int, out: str, jobs: dict) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    for name, (base, phases) in jobs.items():
        run = Path(out) / name
        report: dict = {"interrupted_at": [], "resumed_from": []}
        for epochs, resume, stop_after in phases:
            cfg = TrainConfig(**{**base, "epochs": epochs}, resume=resume)
            if stop_after is None:
                state, fit = _fit(cfg, run)
                report["resumed_from"].append(fit.resumed_from)
                continue
            original = _interrupt_after(stop_after)
            try:
                _fit(cfg, run)
            except _Interrupted:
                distributed.barrier()  # rank 0 wrote the checkpoint before the interruption
                report["interrupted_at"].append(_checkpointed_epoch(run))
            finally:
                Trainer.validate = original
        save_file(state, str(Path(out) / f"{name}_rank{rank}.safetensors"))
        report["last"] = fit.history[-1]
        (Path(out) / f"{name}_rank{rank}.json").write_text(json.dumps(report))
    distributed.shutdown()


@pytest.fixture(scope="module")
def ddp(tmp_path_factory):
    """Every 2-process job, in one spawn; the folder holding each rank's weights and report."""
    out = tmp_path_factory.mktemp("ddp")
    # the domain classifier behind generation's FID is trained once here, not on both ranks
    api.prepare_run(TrainConfig(**DCGAN))
    mp.spawn(_worker, args=(2, _free_port(), str(out), JOBS), nprocs=2, join=True)
    return out


def _weights(out: Path, name: str, rank: int = 0) -> dict[str, torch.Tensor]:
    return load_file(str(out / f"{name}_rank{rank}.safetensors"))


def _report(out: Path, name: str, rank: int = 0) -> dict:
    return json.loads((out / f"{name}_rank{rank}.json").read_text())


def _parameter_names(cfg: dict) -> set[str]:
    model = api.prepare_run(TrainConfig(**cfg))[4]
    return {k for k, _ in model.named_parameters()}


def test_ranks_hold_identical_weights(ddp):
    w0, w1 = _weights(ddp, "lenet", 0), _weights(ddp, "lenet", 1)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    # both ranks saw rank 0's validation metrics and the all-reduced training loss
    h0, h1 = _report(ddp, "lenet", 0)["last"], _report(ddp, "lenet", 1)["last"]
    assert h0 == h1
    assert h0["epoch"] == 2 and h0["val_accuracy"] > 0.5


def test_two_processes_match_one_process(ddp, tmp_path):
    single, fit = _fit(TrainConfig(**BASE, epochs=2), tmp_path / "run")
    last = fit.history[-1]
    w0 = _weights(ddp, "lenet")
    ddp_last = _report(ddp, "lenet")["last"]
    moved = max((single[k].float() - w0[k].float()).abs().max().item() for k in w0)
    assert moved < 1e-4, f"2-process weights differ from 1-process weights by {moved}"
    assert abs(last["val_accuracy"] - ddp_last["val_accuracy"]) <= 0.01
    assert abs(last["train_loss"] - ddp_last["train_loss"]) < 1e-3
    # and training did something: the weights left their initialisation
    init = api.prepare_run(TrainConfig(**BASE, epochs=2))[4].state_dict()
    assert max((init[k] - w0[k]).abs().max().item() for k in w0) > 1e-2


def test_resume_under_ddp_is_exact(ddp):
    # a 2-epoch run interrupted during epoch 2, then resumed from its epoch-1 checkpoint
    report = _report(ddp, "lenet_resumed")
    assert report["interrupted_at"] == [1], "no epoch-1 checkpoint when the run was interrupted"
    assert report["resumed_from"] == [1], "the second run did not continue from epoch 1"
    assert _report(ddp, "lenet_resumed", 1)["resumed_from"] == [1]
    resumed, straight = _weights(ddp, "lenet_resumed"), _weights(ddp, "lenet")
    for k in straight:
        assert torch.equal(resumed[k], straight[k]), k


@pytest.mark.parametrize("name,cfg", [("dcgan", DCGAN), ("srgan", SRGAN)])
def test_gan_ranks_hold_identical_parameters(ddp, name, cfg):
    """Both networks' gradients are all-reduced: a step that bypasses the DDP wrapper lets each
    rank follow its own half of the batch, and the ranks drift apart from the first step."""
    w0, w1 = _weights(ddp, name, 0), _weights(ddp, name, 1)
    params = _parameter_names(cfg)
    assert {k.split(".")[0] for k in params} >= {"generator"}  # both networks are covered
    for k in sorted(params):
        assert torch.equal(w0[k], w1[k]), f"{name}: {k} differs between ranks"
    init = api.prepare_run(TrainConfig(**cfg))[4].state_dict()
    assert max((init[k] - w0[k]).abs().max().item() for k in params) > 1e-3
    assert _report(ddp, name, 0)["last"] == _report(ddp, name, 1)["last"]


def test_srgan_two_processes_match_one_process(ddp, tmp_path):
    single, fit = _fit(TrainConfig(**SRGAN), tmp_path / "run")
    w0 = _weights(ddp, "srgan")
    moved = max((single[k].float() - w0[k].float()).abs().max().item() for k in w0)
    assert moved < 1e-4, f"2-process SRGAN differs from 1-process SRGAN by {moved}"
    last, ddp_last = fit.history[-1], _report(ddp, "srgan")["last"]
    for k in ("train_loss", "train_adv", "train_d_loss"):
        assert abs(last[k] - ddp_last[k]) < 1e-3, k
    assert ddp_last["train_adv"] > 0  # the adversarial phase ran


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
