"""`train --weights` starts any model from a local file and reports what fitted; `--logger`
writes TensorBoard event files and an MLflow file store that read back with what was trained."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from visionbench import api
from visionbench.engine.pretrained import init_from_weights
from visionbench.errors import VisionbenchError
from visionbench.models.registry import create_model


def _lenet(seed: int):
    torch.manual_seed(seed)
    return create_model("lenet5", num_classes=10, in_chans=1, img_size=8)


def test_safetensors_and_wrapped_torch_files_load_every_tensor(tmp_path):
    src, dst = _lenet(0), _lenet(1)
    state = {k: v.clone() for k, v in src.state_dict().items()}
    save_file(state, str(tmp_path / "w.safetensors"))
    report = init_from_weights(dst, tmp_path / "w.safetensors")
    assert report.loaded == report.total == len(state) and not report.missing
    assert all(torch.equal(dst.state_dict()[k], v) for k, v in state.items())
    # a training checkpoint: DDP's module. prefix inside a state_dict entry
    torch.save(
        {"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}},
        tmp_path / "w.pth",
    )
    other = _lenet(2)
    report = init_from_weights(other, tmp_path / "w.pth")
    assert report.loaded == len(state) and not report.unexpected
    assert all(torch.equal(other.state_dict()[k], v) for k, v in state.items())


def test_timm_checkpoint_with_another_head_and_rgb_stem(tmp_path):
    import timm

    torch.manual_seed(0)
    imagenet_like = timm.create_model("resnet10t", num_classes=1000, in_chans=3)
    torch.save(imagenet_like.state_dict(), tmp_path / "resnet10t.pth")
    mine = timm.create_model("resnet10t", num_classes=10, in_chans=1)
    report = init_from_weights(mine, tmp_path / "resnet10t.pth")
    # the 1000-class head does not fit 10 classes: reported, not loaded, not silently dropped
    assert sorted(m.split(":")[0] for m in report.mismatched) == ["fc.bias", "fc.weight"]
    assert report.missing == ["fc.bias", "fc.weight"]
    assert report.adapted == ["conv1.0.weight"]  # RGB stem summed to one channel, as timm does
    rgb = imagenet_like.state_dict()["conv1.0.weight"]
    assert torch.allclose(mine.state_dict()["conv1.0.weight"], rgb.sum(1, keepdim=True))
    assert torch.equal(
        mine.state_dict()["layer1.0.conv1.weight"],
        imagenet_like.state_dict()["layer1.0.conv1.weight"],
    )
    assert report.loaded == report.total - 2
    assert "missing (2): fc.bias, fc.weight" in report.summary()


def test_weights_one_level_down_get_their_prefix(tmp_path):
    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = _lenet(3)

    save_file(dict(_lenet(4).state_dict()), str(tmp_path / "bare.safetensors"))
    report = init_from_weights(Wrapper(), tmp_path / "bare.safetensors")
    assert report.prefix == "+backbone." and report.loaded == report.total


class RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_unsafe_or_unrelated_files_fail_with_one_clear_error(tmp_path, capsys):
    torch.save({"x": RunsCodeWhenUnpickled(), "w": torch.zeros(1)}, tmp_path / "code.pt")
    with pytest.raises(VisionbenchError, match="weights_only=True"):
        init_from_weights(_lenet(0), tmp_path / "code.pt")
    assert "must never run" not in capsys.readouterr().out
    save_file({"unrelated.weight": torch.zeros(3)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(VisionbenchError, match="match none of the model"):
        init_from_weights(_lenet(0), tmp_path / "other.safetensors")
    with pytest.raises(VisionbenchError, match="not found"):
        init_from_weights(_lenet(0), tmp_path / "missing.safetensors")


COMMON = dict(task="classification", model="lenet5", data="digits", threads=1, quiet=True)


def test_fine_tuning_from_weights_starts_where_they_left_and_trackers_read_back(tmp_path):
    first = api.train(**COMMON, epochs=2, out=str(tmp_path / "a"))
    weights = first.run_dir / "model.safetensors"
    assert weights.exists()
    # one epoch at a learning rate too small to move anything: the test accuracy is the file's
    tuned = api.train(
        **COMMON,
        epochs=1,
        lr=1e-12,
        schedule="constant",
        weights=str(weights),
        loggers=["tensorboard", "mlflow"],
        out=str(tmp_path / "b"),
    )
    assert tuned.metrics["accuracy"] == pytest.approx(first.metrics["accuracy"], abs=1e-9)
    init = json.loads((tuned.run_dir / "run.json").read_text())["init_weights"]
    assert init["loaded"] == init["total"] and init["missing"] == [] and init["unexpected"] == []

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tuned.run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert {"lr", "train_loss", "val_accuracy", "test_accuracy"} <= set(tags["scalars"])
    (test_acc,) = events.Scalars("test_accuracy")
    assert test_acc.value == pytest.approx(tuned.metrics["accuracy"], abs=1e-6)
    assert events.Scalars("lr")[0].value == pytest.approx(1e-12)
    assert tags["images"] and "config" in "".join(tags["tensors"])

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=(tuned.run_dir / "mlruns").resolve().as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("visionbench").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "lenet5" and run.data.params["weights"] == str(weights)
    assert run.data.metrics["test_accuracy"] == pytest.approx(tuned.metrics["accuracy"])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1]
    artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
    assert any(a.endswith(".png") for a in artifacts)
