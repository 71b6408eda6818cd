"""Files a user hands over never run code: a hostile checkpoint `state.pt` and a hostile
Inception-V3 weights file are refused with a one-line error, and their payload never runs.

torch >= 2.6 loads with weights_only=True by default, but pyproject allows torch 2.4, where the
default unpickles anything; TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 restores that old default (it
changes only calls that do not pass weights_only), so a call that forgot weights_only=True fails
here on any torch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn as nn

from visionbench.engine.checkpoint import load_checkpoint, save_checkpoint
from visionbench.errors import VisionbenchError


class Evil:
    """A pickle payload that writes a file when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.fixture
def old_torch_default(monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")


def _hostile(path: Path, marker: Path, state: dict) -> None:
    torch.save({**state, "note": Evil(marker)}, path)
    # the fixture is real: a plain load runs the payload
    torch.load(path, weights_only=False)
    assert marker.read_text() == "pwned"
    marker.unlink()


def _checkpoint(folder: Path) -> tuple[nn.Module, list]:
    model = nn.Linear(3, 2)
    opt = [torch.optim.SGD(model.parameters(), lr=0.1)]
    save_checkpoint(folder, model, opt, [None], None, {"epoch": 1, "elapsed": 0.0, "history": []})
    return model, opt


def test_a_real_checkpoint_loads_under_the_old_default(tmp_path, old_torch_default):
    model, opt = _checkpoint(tmp_path / "ckpt")
    state = load_checkpoint(tmp_path / "ckpt", model, opt, [None], None)
    assert state is not None and state["epoch"] == 1


def test_a_hostile_checkpoint_is_refused_and_never_runs(tmp_path, old_torch_default):
    folder, marker = tmp_path / "ckpt", tmp_path / "pwned.txt"
    model, opt = _checkpoint(folder)
    real = torch.load(folder / "state.pt", weights_only=True)
    _hostile(folder / "state.pt", marker, real)
    with pytest.raises(VisionbenchError, match=r"state\.pt holds Python objects"):
        load_checkpoint(folder, model, opt, [None], None)
    assert not marker.exists()


def test_a_hostile_checkpoint_stops_a_resumed_run(tmp_path, old_torch_default, capsys):
    """The same refusal, as a user meets it: `train --resume` on a run folder with that file."""
    from visionbench.cli import main

    run, marker = tmp_path / "run", tmp_path / "pwned.txt"
    argv = ["train", "classification", "--model", "lenet5", "--data", "digits"]
    argv += ["--run-dir", str(run), "--quiet", "--threads", "1"]
    assert main([*argv, "--epochs", "1"]) == 0
    real = torch.load(run / "checkpoint" / "state.pt", weights_only=True)
    _hostile(run / "checkpoint" / "state.pt", marker, real)
    assert main([*argv, "--epochs", "2", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "state.pt holds Python objects" in err
    assert not marker.exists()


def test_hostile_inception_weights_are_refused_and_never_run(tmp_path, old_torch_default):
    from visionbench.metrics.generation import InceptionFeatures

    path, marker = tmp_path / "inception.pth", tmp_path / "pwned.txt"
    _hostile(path, marker, {"fc.weight": torch.zeros(1000, 2048)})
    with pytest.raises(VisionbenchError, match=r"inception\.pth holds Python objects"):
        InceptionFeatures(path)
    assert not marker.exists()
