"""Shared fixtures: small trained runs reused across tests so the suite stays fast."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module's tests (`pytestmark = pytest.mark.usefixtures(...)`): the
    same numbers whatever the core count, and no oversubscribed cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_worker():
    """`make test` runs one pytest-xdist worker per core: each computes on one torch thread (and
    so do the processes it starts), since two-thread workers on two cores spin in each other's
    OpenMP barriers. A plain `pytest` run keeps torch's default."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"
    yield


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Every cache (domain classifiers, measured costs) goes to a temporary folder, never into
    the user's ~/.cache/visionbench; shared by the whole session and by spawned processes."""
    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("VISIONBENCH_CACHE")
    os.environ["VISIONBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VISIONBENCH_CACHE", None)
    else:
        os.environ["VISIONBENCH_CACHE"] = old


@pytest.fixture(scope="session")
def lenet_run(tmp_path_factory):
    """LeNet-5 on digits with its real recipe: the foundation's accuracy acceptance run."""
    import visionbench as vb

    out = tmp_path_factory.mktemp("runs")
    return vb.train(task="classification", model="lenet5", data="digits", out=str(out), quiet=True)


@pytest.fixture(scope="session")
def dae_run(tmp_path_factory):
    """A short denoising-autoencoder run (a few epochs on few patches)."""
    import visionbench as vb

    out = tmp_path_factory.mktemp("runs")
    return vb.train(
        task="restoration",
        model="dae",
        data="photos",
        out=str(out),
        quiet=True,
        epochs=8,
        batch_size=16,
        data_options={"patches_per_image": 64, "patch_size": 32},
        task_options={"degradation": "noise:25"},
    )


# Runs the CLI with the Trainer's save_checkpoint wrapped: after writing the checkpoint of
# epoch EPOCH of the run folder named RUN, it prints one line and waits to be killed.
_HOLD_AFTER_CHECKPOINT = """
import sys, threading
from visionbench.cli import main
from visionbench.engine import trainer

run, epoch = sys.argv[1], int(sys.argv[2])
save = trainer.save_checkpoint

def save_then_hold(folder, *args):
    save(folder, *args)
    if folder.parent.name == run and args[-1]["epoch"] == epoch:
        print("checkpointed", flush=True)
        threading.Event().wait()

trainer.save_checkpoint = save_then_hold
sys.exit(main(sys.argv[3:]))
"""


def start_and_hold_after_checkpoint(argv: list[str], run: str, epoch: int, env=None):
    """Start `visionbench ARGV` in a process that holds still right after the run folder named
    `run` checkpointed `epoch`; return the process once it is there (an event, not a polling
    loop: nothing depends on how fast the machine is). Fails if the process ends first."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AFTER_CHECKPOINT, run, str(epoch), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()  # blocks until the line or the process's end
    if line.strip() != "checkpointed":
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"the process ended before epoch {epoch} of {run}: {err[-2000:]}")
    return proc


def checkpointed_epoch(run_dir: Path) -> int | None:
    """The epoch recorded in a run folder's checkpoint; None when there is none."""
    import torch

    state = Path(run_dir) / "checkpoint" / "state.pt"
    if not state.exists():
        return None
    return int(torch.load(state, map_location="cpu", weights_only=True)["epoch"])


class FakeClock:
    """A clock the test moves by hand: budgets are checked exactly, whatever the machine's load."""

    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now
