"""ONNX export of a trained run agrees with eager PyTorch, and the CLI reports both latencies."""

from __future__ import annotations

import json

import pytest

from visionbench import api
from visionbench.analysis.export import export_run
from visionbench.cli import main
from visionbench.errors import VisionbenchError

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("runs") / "lenet5"
    api.train(
        task="classification",
        model="lenet5",
        data="digits",
        epochs=1,
        run_dir=str(path),
        quiet=True,
        threads=1,
    )
    return path


def test_export_matches_eager(run_dir, tmp_path):
    r = export_run(run_dir, output=tmp_path / "m.onnx", repeats=5)
    assert (tmp_path / "m.onnx").stat().st_size > 10_000
    assert r["max_abs_diff"] < 1e-4 and r["parity_ok"]
    assert r["input_shape"] == [1, 1, 32, 32]  # LeNet-5 at its native 32x32, one channel
    assert r["eager_latency_ms"] > 0 and r["onnxruntime_latency_ms"] > 0
    assert json.loads((run_dir / "export.json").read_text())["onnx"] == str(tmp_path / "m.onnx")


def test_export_cli(run_dir, capsys):
    assert main(["export", str(run_dir), "--format", "onnx", "--repeats", "3"]) == 0
    out = capsys.readouterr().out
    assert "max abs difference" in out and "onnxruntime" in out
    # the written file is the trained model: onnxruntime on it gives the eager logits
    import onnxruntime
    import torch

    model = api.load_run(run_dir)[3].eval()
    x = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(str(run_dir / "model.onnx"))
    got = session.run(None, {"input": x.numpy()})[0]
    with torch.no_grad():
        assert abs(got - model(x).numpy()).max() < 1e-4
    assert json.loads((run_dir / "export.json").read_text())["onnx"] == str(run_dir / "model.onnx")


def test_export_of_a_missing_run_is_one_clear_error(tmp_path):
    with pytest.raises(VisionbenchError, match="not a run directory"):
        export_run(tmp_path)
