"""The foundation's promises: registries, one trainer for two tasks, runs, determinism, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import checkpointed_epoch, start_and_hold_after_checkpoint

import visionbench as vb
from visionbench import api
from visionbench.cli import main
from visionbench.errors import UnknownNameError, VisionbenchError


def cli(*args: str) -> int:
    return main(list(args))


def test_families_are_the_reviews_ten_rows():
    keys = [f.key for f in vb.FAMILIES]
    assert keys == [
        "classic_cnn", "modern_cnn", "mobile_cnn", "classic_autoencoder", "modern_autoencoder",
        "classic_gan", "gan_diffusion", "capsule", "vit", "hybrid",
    ]  # fmt: skip
    for f in vb.FAMILIES:
        assert f.characteristics and f.strengths and f.limitations and f.applications and f.citation


def test_every_model_names_a_known_family_and_task():
    for spec in vb.MODELS:
        vb.FAMILIES.get(spec.family)
        for task in spec.tasks:
            assert task in vb.TASKS, f"{spec.name}: unknown task {task}"


def test_unknown_names_list_valid_ones_with_a_suggestion():
    with pytest.raises(UnknownNameError) as e:
        vb.MODELS.get("lenet6")
    assert "Did you mean 'lenet5'" in str(e.value) and "resnet18" in str(e.value)
    with pytest.raises(UnknownNameError, match="Did you mean 'digits'"):
        vb.load_dataset("digit", "classification")


def test_model_that_does_not_support_the_task_says_which_it_does(capsys):
    assert cli("train", "restoration", "--model", "lenet5", "--data", "photos") == 2
    err = capsys.readouterr().err
    assert "does not support task 'restoration'" in err and "classification" in err
    assert "Traceback" not in err


def test_list_json_matches_registries(capsys):
    for what, registry in (
        ("families", vb.FAMILIES),
        ("models", vb.MODELS),
        ("datasets", vb.DATASETS),
    ):
        assert cli("list", what, "--json") == 0
        rows = json.loads(capsys.readouterr().out)
        assert {r.get("key", r.get("name")) for r in rows} == set(registry.names())


def test_narrow_terminal_hides_free_text_not_names(monkeypatch):
    from rich.console import Console

    from visionbench.cli import common

    rows = [
        {"name": "mobilenetv4_conv_small_050", "family": "mobile_cnn", "description": "x " * 60},
        {"name": "lenet5", "family": "classic_cnn", "description": "LeNet-5"},
    ]
    for width, described in ((50, False), (80, True)):
        monkeypatch.setattr(common, "console", Console(width=width, record=True))
        common.print_table(rows, ["name", "family", "description"], optional=("description",))
        text = common.console.export_text()
        assert "mobilenetv4_conv_small_050" in text  # a name is never folded
        assert ("description" in text.splitlines()[1]) is described
        assert ("not shown: description" in text) is not described


def test_broken_pipe_is_not_an_error(monkeypatch, capfd):
    """`visionbench list models | head`: the reader leaving is no error and no traceback."""
    from visionbench.cli import listing

    def reader_gone(*_, **__):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(listing, "print_table", reader_gone)
    assert cli("list", "metrics") == 0
    assert capfd.readouterr().err == ""


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as e:
        cli("--version")
    assert e.value.code == 0 and vb.__version__ in capsys.readouterr().out
    for command in ("train", "eval", "predict", "list", "bench"):
        with pytest.raises(SystemExit) as e:
            cli(command, "--help")
        assert e.value.code == 0
        assert "usage: visionbench " + command in capsys.readouterr().out


def test_create_model_for_both_tasks():
    net = vb.create_model("lenet5", task="classification", num_classes=7, in_chans=3)
    assert net(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    dae = vb.create_model("dae", task="restoration", in_chans=3)
    assert dae(torch.rand(1, 3, 48, 64)).shape == (1, 3, 48, 64)


def test_lenet5_reaches_97_percent_on_digits(lenet_run):
    m = lenet_run.metrics
    assert m["accuracy"] >= 0.97
    assert m["accuracy"] > m["chance_accuracy"] + 0.5
    run = Path(lenet_run.run_dir)
    import yaml
    from safetensors.torch import load_file

    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["task"], config["model"], config["data"]) == (
        "classification",
        "lenet5",
        "digits",
    )
    assert json.loads((run / "metrics.json").read_text())["accuracy"] == pytest.approx(
        m["accuracy"]
    )
    epochs = (run / "history.csv").read_text().splitlines()[1:]
    assert len(epochs) == config["epochs"]
    weights = load_file(str(run / "model.safetensors"))
    model = vb.load_run(run)[3]
    assert weights.keys() == model.state_dict().keys()
    assert json.loads((run / "status.json").read_text())["status"] == "done"
    assert (run / "samples" / "confusion_matrix.png").stat().st_size > 1000
    info = json.loads((run / "run.json").read_text())["data"]
    assert info["sizes"] == {"train": 1257, "val": 180, "test": 360}  # stratified 70/10/20 of 1,797


def test_history_has_loss_and_validation_metric_per_epoch(lenet_run):
    import csv

    rows = list(csv.DictReader((Path(lenet_run.run_dir) / "history.csv").open()))
    assert len(rows) == lenet_run.status["epochs"]
    assert {"epoch", "train_loss", "val_accuracy", "lr"} <= set(rows[0])
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])


def test_eval_reproduces_the_saved_test_metrics(lenet_run, capsys):
    again = vb.evaluate(lenet_run.run_dir)
    assert again == pytest.approx(lenet_run.metrics, abs=1e-9)
    assert cli("eval", str(lenet_run.run_dir), "--json") == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == lenet_run.metrics["accuracy"]


def test_predict_prints_top5_for_a_digit_image(lenet_run, tmp_path, capsys):
    from sklearn.datasets import load_digits

    from visionbench.api import write_image

    d = load_digits()
    img = torch.tensor(d.images[0] / 16.0, dtype=torch.float32)[None]
    path = write_image(img, tmp_path / "digit.png")
    top = vb.predict(lenet_run.run_dir, path)
    assert len(top) == 5 and top[0][0] == str(d.target[0])
    assert sum(p for _, p in top) <= 1.0 + 1e-6
    assert cli("predict", str(lenet_run.run_dir), "--input", str(tmp_path / "missing.png")) == 2
    assert "input image not found" in capsys.readouterr().err


def test_denoiser_beats_the_noisy_input_and_predict_writes_an_image(dae_run, tmp_path):
    m = dae_run.metrics
    assert (
        m["psnr"] > m["noisy_psnr"] + 0.5
    )  # the full recipe gives about +4.6 dB; this is 8 short epochs
    assert 0 < m["ssim"] <= 1 and m["ssim"] > m["noisy_ssim"]
    from visionbench.api import write_image

    noisy = (torch.rand(3, 40, 44) * 0.8 + 0.1 + 0.1 * torch.randn(3, 40, 44)).clamp(0, 1)
    src = write_image(noisy, tmp_path / "noisy.png")
    out = vb.predict(dae_run.run_dir, src)
    from PIL import Image

    def pixels(path) -> torch.Tensor:
        with Image.open(path) as im:
            return torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)

    written, given = pixels(out), pixels(src)
    assert written.shape == (40, 44, 3)
    # the written image is the model's output on the input, not the input sent back
    model = vb.load_run(dae_run.run_dir)[3]
    with torch.no_grad():
        expected = model(given.permute(2, 0, 1)[None]).clamp(0, 1)[0].permute(1, 2, 0)
    assert (written - expected).abs().max() <= 1 / 255 + 1e-6
    assert (written - given).abs().mean() > 0.02


def test_same_seed_gives_identical_metrics_json(tmp_path):
    args = dict(task="classification", model="lenet5", data="digits", epochs=2, quiet=True)
    a = vb.train(run_dir=str(tmp_path / "a"), **args)
    b = vb.train(run_dir=str(tmp_path / "b"), **args)
    assert (a.run_dir / "metrics.json").read_bytes() == (b.run_dir / "metrics.json").read_bytes()
    c = vb.train(run_dir=str(tmp_path / "c"), seed=1, **args)
    assert c.metrics != a.metrics


def test_yaml_config_roundtrip_and_flags_win(tmp_path, capsys):
    run = tmp_path / "r"
    assert cli("train", "classification", "--model", "lenet5", "--data", "digits", "--epochs", "1",
               "--run-dir", str(run), "--quiet") == 0  # fmt: skip
    saved = (run / "config.yaml").read_text()
    assert "epochs: 1" in saved and "lr: 0.002" in saved  # the recipe's values are resolved
    again = tmp_path / "r2"
    assert cli("train", "-c", str(run / "config.yaml"), "--run-dir", str(again), "--quiet") == 0
    assert (run / "metrics.json").read_bytes() == (again / "metrics.json").read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1\n")
    assert cli("train", "-c", str(bad)) == 2
    assert "invalid YAML" in capsys.readouterr().err


def test_time_budget_stops_at_the_step_its_clock_says(tmp_path):
    from visionbench.engine.trainer import Trainer
    from visionbench.runs import RunDir

    ticks = iter(range(10_000))  # a clock that moves one second each time it is read

    cfg = vb.TrainConfig(task="classification", model="lenet5", data="digits", epochs=50,
                         time_budget=3.5, quiet=True)  # fmt: skip
    spec, task, bundle, recipe, model, device = api.prepare_run(cfg)
    run = RunDir(tmp_path / "t").create()
    fit = Trainer(task, model, bundle, recipe, cfg, run, device, clock=lambda: next(ticks)).fit()
    # read at the epoch's start (0), after each step (1, 2, 3, 4 > 3.5: stop), at its end (5)
    assert (fit.stopped, fit.steps, fit.epochs_done, fit.train_seconds) == ("time_budget", 4, 1, 5)


def test_time_budget_stops_cleanly_and_still_evaluates(tmp_path):
    # any real step takes longer than a nanosecond: one step, then the test evaluation
    r = vb.train(task="classification", model="lenet5", data="digits", epochs=50, time_budget=1e-9,
                 run_dir=str(tmp_path / "t"), quiet=True)  # fmt: skip
    assert (r.status["stopped"], r.status["epochs"], r.status["steps"]) == ("time_budget", 1, 1)
    assert vb.evaluate(r.run_dir)["accuracy"] == pytest.approx(r.metrics["accuracy"], abs=1e-9)


def test_resume_after_sigkill_ends_like_an_uninterrupted_run(tmp_path):
    argv = ["train", "classification", "--model", "lenet5", "--data", "digits", "--epochs", "3"]
    argv += ["--quiet", "--threads", "1"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = [sys.executable, "-m", "visionbench", *argv]
    full = tmp_path / "full"
    subprocess.run([*run, "--run-dir", str(full)], check=True, env=env, capture_output=True)

    killed = tmp_path / "killed"
    proc = start_and_hold_after_checkpoint([*argv, "--run-dir", str(killed)], "killed", 1, env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpointed_epoch(killed) == 1  # the checkpoint existed when the process died
    assert not (killed / "metrics.json").exists()
    subprocess.run(
        [*run, "--run-dir", str(killed), "--resume"], check=True, env=env, capture_output=True
    )
    status = json.loads((killed / "status.json").read_text())
    assert status["resumed_from"] == 1 and status["epochs"] == 3  # continued, not restarted
    assert json.loads((full / "status.json").read_text())["resumed_from"] == 0
    assert (killed / "metrics.json").read_bytes() == (full / "metrics.json").read_bytes()
    assert (killed / "history.csv").read_text() == (full / "history.csv").read_text()


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    assert cli("eval", str(tmp_path)) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("visionbench: error: ")
    assert "not a run directory" in lines[0] and str(tmp_path) in lines[0]
    assert (
        cli("train", "classification", "--model", "lenet5", "--data", "digits:/no/such/path") != 0
    )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "/no/such/path" in lines[0]
    with pytest.raises(VisionbenchError, match="degradation"):
        vb.train(task="restoration", model="dae", data="photos", task_options={"degradation": "blur:3"},
                 run_dir=str(tmp_path / "x"), quiet=True)  # fmt: skip


def test_eval_bootstrap_interval_brackets_the_metric(lenet_run, capsys):
    m = vb.evaluate(lenet_run.run_dir, bootstrap=500)
    ci = m["intervals"]["accuracy"]
    assert ci["n"] == 360 and ci["mean"] == pytest.approx(m["accuracy"])
    assert ci["ci_low"] < m["accuracy"] <= ci["ci_high"] <= 1.0
    assert cli("eval", str(lenet_run.run_dir), "--bootstrap", "200") == 0
    assert "95% CI" in capsys.readouterr().out


def test_restoration_metrics_are_means_of_per_image_scores(dae_run):
    run, cfg, task, model, info = vb.load_run(dae_run.run_dir)
    bundle = vb.load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
    per_image = task.per_sample(model, bundle.test, torch.device("cpu"))
    assert len(per_image["psnr"]) == 3  # the three held-out test photos
    mean = sum(per_image["psnr"]) / 3
    assert mean == pytest.approx(dae_run.metrics["psnr"], abs=1e-6)


def test_detection_batches_keep_one_target_per_image():
    from visionbench.engine.batches import iterate

    bundle = vb.load_dataset("shapes", "detection")
    images, targets = next(iterate(bundle.test, 4))
    assert images.shape[0] == 4 and len(targets) == 4
    assert all(t["boxes"].shape[1] == 4 and len(t["boxes"]) == len(t["labels"]) for t in targets)


def test_inception_weights_flag_names_a_missing_file(capsys):
    assert cli("train", "generation", "--model", "dcgan", "--data", "digits",
               "--inception-weights", "/no/such/inception.pth") == 2  # fmt: skip
    assert "Inception-V3 weights file not found: /no/such/inception.pth" in capsys.readouterr().err
