"""The review's challenges, measured: corruptions, per-class disparity, saliency and its deletion
check, training-set fractions, the `challenges` command and the report section. Offline, seeded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from visionbench.analysis.challenges import (
    class_disparity,
    corrupt,
    deletion_check,
    input_saliency,
)
from visionbench.cli import main as cli
from visionbench.errors import VisionbenchError


def images(n: int = 16, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


# corruptions -----------------------------------------------------------------------------------
def test_gaussian_noise_has_the_intended_std_and_is_seeded():
    x = torch.full((64, 1, 16, 16), 0.5)  # mid-grey: clamping at 0 and 1 is rare at std 0.1
    a, b = corrupt(x, "gaussian_noise", 0.1, seed=3), corrupt(x, "gaussian_noise", 0.1, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, corrupt(x, "gaussian_noise", 0.1, seed=4))
    assert (a - x).std().item() == pytest.approx(0.1, rel=0.03)
    assert a.min() >= 0 and a.max() <= 1


def test_contrast_scales_deviations_from_each_images_mean():
    x = images()
    y = corrupt(x, "contrast", 0.25)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(y.mean(dim=(1, 2, 3), keepdim=True), mean)
    torch.testing.assert_close(y - mean, 0.25 * (x - mean))


def test_blur_keeps_flat_images_and_smooths_edges():
    flat = torch.full((2, 1, 8, 8), 0.3)
    torch.testing.assert_close(corrupt(flat, "gaussian_blur", 1.0), flat)
    checker = ((torch.arange(8)[:, None] + torch.arange(8)[None]) % 2).float().expand(1, 1, 8, 8)
    soft = corrupt(checker, "gaussian_blur", 1.0)
    assert soft.std() < 0.2 * checker.std()  # a 1-px checkerboard nearly vanishes at sigma 1
    assert corrupt(checker, "gaussian_blur", 0.5).std() > soft.std()  # milder severity, less blur


@pytest.mark.parametrize("pixels", [1, 2])
def test_shift_moves_each_image_by_exactly_n_pixels(pixels):
    x = images(32)
    y = corrupt(x, "shift", pixels, seed=1)
    assert torch.equal(y, corrupt(x, "shift", pixels, seed=1))
    pad = torch.nn.functional.pad(x, (pixels,) * 4)
    moves = set()
    for i in range(len(x)):
        match = [
            (dy, dx)
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if (dy, dx) != (0, 0)
            and torch.equal(
                y[i],
                pad[i, :, pixels - dy * pixels :, pixels - dx * pixels :][:, :8, :8],
            )
        ]
        assert len(match) == 1
        moves.add(match[0])
    assert len(moves) > 3  # directions are drawn per image, not one for the batch


# bias ------------------------------------------------------------------------------------------
def test_class_disparity_matches_a_hand_computed_confusion_matrix():
    # class a: 4/4 right, b: 2/4 (two called c), c: 3/4 (one called a)
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    p = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 0])
    d = class_disparity(y, p, ["a", "b", "c"])
    assert d["per_class_recall"] == {"a": 1.0, "b": 0.5, "c": 0.75}
    assert (d["worst_class"], d["worst_class_accuracy"]) == ("b", 0.5)
    assert (d["best_class"], d["best_class_accuracy"]) == ("a", 1.0)
    assert d["gap"] == 0.5
    assert d["std"] == pytest.approx(np.std([1.0, 0.5, 0.75]))
    assert d["support"] == {"a": 4, "b": 4, "c": 4}


# saliency and deletion -------------------------------------------------------------------------
class OnePixel(nn.Module):
    """Two classes decided by pixel (3, 5) alone: class 1 when it is brighter than 0.5."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = 10 * (x[:, 0, 3, 5] - 0.5)
        return torch.stack([-v, v], dim=1)


def test_saliency_finds_the_only_pixel_a_model_looks_at_and_deleting_it_hurts_most():
    x = images(200, seed=2)
    y = (x[:, 0, 3, 5] > 0.5).long()
    fill = x.mean(dim=(0, 2, 3), keepdim=True)
    model = OnePixel()
    s = input_saliency(model, x, y, fill)
    assert s.shape == (200, 8, 8)
    assert (s.flatten(1).argmax(1) == 3 * 8 + 5).all()
    assert s[:, 3, 5].min() > 0 and s.flatten(1)[:, torch.arange(64) != 29].abs().max() == 0
    d = deletion_check(model, x, y, s, fill)
    assert d["faithful"] and d["drop_salient"] > 3 * d["drop_random"]
    # and a saliency map that points elsewhere must fail the check
    wrong = torch.zeros_like(s)
    wrong[:, 0, 0] = 1.0
    assert not deletion_check(model, x, y, wrong, fill)["faithful"]


# a trained run ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A LeNet-5 trained for 3 epochs on digits (seconds on one thread), then analysed."""
    import visionbench as vb
    from visionbench.analysis.challenges import challenges_run

    out = tmp_path_factory.mktemp("challenges")
    trained = vb.train(
        task="classification",
        model="lenet5",
        data="digits",
        epochs=3,
        threads=1,
        out=str(out),
        quiet=True,
    )
    t0 = time.perf_counter()
    result = challenges_run(trained.run_dir)
    return Path(trained.run_dir), result, time.perf_counter() - t0, trained.metrics


def test_a_trained_lenet_loses_accuracy_under_strong_noise(analysed):
    run, c, seconds, metrics = analysed
    assert json.loads((run / "challenges.json").read_text()) == json.loads(json.dumps(c))
    rob = c["robustness"]
    assert c["images"] == c["test_images"] == 360  # under the cap: every test image
    assert rob["clean_accuracy"] == pytest.approx(metrics["accuracy"], abs=1e-9)
    noise = {
        r["severity"]: r["accuracy"] for r in rob["corruptions"] if r["name"] == "gaussian_noise"
    }
    assert noise[2] < noise[1] <= rob["clean_accuracy"] + 0.01
    assert noise[2] < rob["clean_accuracy"] - 0.02
    assert 0 < rob["relative_robustness"] < 1
    assert rob["mean_corrupted_accuracy"] == pytest.approx(
        np.mean([r["accuracy"] for r in rob["corruptions"]])
    )
    bias = c["bias"]
    assert bias["worst_class_accuracy"] <= rob["clean_accuracy"] <= bias["best_class_accuracy"]
    assert bias["macro_recall"] == pytest.approx(metrics["recall_macro"], abs=1e-9)
    assert c["interpretability"]["deletion"]["faithful"]
    assert (run / "samples" / "saliency.png").stat().st_size > 2000
    assert seconds < 20  # a few seconds on 2 cores; generous for a loaded machine


def test_image_cap_takes_a_stratified_subset(analysed):
    from visionbench.analysis.challenges import challenges_run

    run = analysed[0]
    c = challenges_run(run, max_images=100)
    assert c["images"] == 100 and c["test_images"] == 360 and c["image_cap"] == 100
    assert set(c["bias"]["support"].values()) <= {9, 10, 11}


def test_challenges_command_prints_a_table_and_fails_in_one_line(analysed, tmp_path, capsys):
    run = analysed[0]
    assert cli(["challenges", str(run)]) == 0
    out = capsys.readouterr().out
    assert "relative robustness" in out and "faithful" in out
    assert cli(["challenges", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"visionbench: error: no such run directory: {tmp_path / 'missing'}"
    assert cli(["challenges", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    other = tmp_path / "dae_run"
    other.mkdir()
    (other / "config.yaml").write_text("task: restoration\nmodel: dae\ndata: photos\n")
    assert cli(["challenges", str(other)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "classification runs" in err and "restoration run" in err
    with pytest.raises(SystemExit) as e:
        cli(["challenges", "--help"])
    assert e.value.code == 0 and "ImageNet-C" in capsys.readouterr().out


# data efficiency -------------------------------------------------------------------------------
def test_train_fraction_is_stratified_seeded_and_leaves_val_and_test_alone():
    from visionbench.data.registry import load_dataset, subsample_train

    full = load_dataset("digits", "classification")
    part = subsample_train(full, 0.25, seed=0)
    n = len(full.train)
    assert len(part.train) == int(0.25 * n) == part.info.sizes["train"]
    per_class = torch.bincount(part.train.labels, minlength=10)
    expected = 0.25 * torch.bincount(full.train.labels, minlength=10)
    assert (per_class - expected).abs().max() <= 1
    assert part.val is full.val and part.test is full.test
    assert part.info.sizes["val"] == full.info.sizes["val"] and "0.25" in part.info.split
    again = subsample_train(load_dataset("digits", "classification"), 0.25, seed=0)
    assert torch.equal(again.train.images, part.train.images)
    other = subsample_train(full, 0.25, seed=1)
    assert not torch.equal(other.train.images, part.train.images)
    for bad in (0.0, 1.5):
        with pytest.raises(VisionbenchError, match="train_fraction"):
            subsample_train(full, bad)


def test_a_fraction_run_records_its_smaller_training_split(tmp_path):
    import visionbench as vb
    from visionbench.bench.runner import train_command
    from visionbench.config import TrainConfig, load_yaml

    r = vb.train(
        task="classification",
        model="lenet5",
        data="digits",
        epochs=1,
        train_fraction=0.1,
        out=str(tmp_path),
        quiet=True,
        threads=1,
    )
    meta = json.loads((Path(r.run_dir) / "run.json").read_text())
    assert meta["data"]["sizes"] == {"train": 125, "val": 180, "test": 360}
    cfg = TrainConfig.from_dict(load_yaml(Path(r.run_dir) / "config.yaml"))
    assert cfg.train_fraction == 0.1 and "--train-fraction 0.1" in train_command(cfg)


def test_review_suite_declares_data_efficiency_jobs_outside_the_shared_budget():
    from visionbench.bench.runner import Budget
    from visionbench.bench.suites import quick_selection, review_jobs

    jobs, _ = quick_selection(review_jobs()[0])
    side = [j for j in jobs if not j.shares_budget and j.task == "classification"]
    assert {(j.model, j.quick["train_fraction"]) for j in side} == {
        (m, f) for m in ("lenet5", "vit_nano", "hybrid_nano") for f in (0.1, 0.25)
    }
    assert all(j.seed == 0 for j in side)  # --quick: one seed; --full adds seeds 1 and 2
    assert all(j.quick["time_budget"] and j.setting.startswith("digits-frac") for j in side)
    full = [j for j in jobs if j.task == "classification" and "train_fraction" not in j.quick]
    assert all(j.shares_budget for j in full)  # side jobs of other tasks have their own tests
    plan = Budget(total=100.0, jobs=4, start=time.time())
    before = plan.next(None)
    plan.outside(40.0)  # a side job's 40 s leave the shared jobs' budgets as they were
    assert plan.next(None) == pytest.approx(before + 10.0, abs=0.5)


# the report --------------------------------------------------------------------------------------
def test_report_section_shows_challenges_and_the_data_efficiency_curve(analysed):
    from visionbench.bench.report import challenge_rows, efficiency_rows, leaderboards

    run, c, _, metrics = analysed

    def record(fraction, acc, challenges=None):
        return {
            "run": f"classification/lenet5__digits{'-frac' if fraction else ''}__s0",
            "run_dir": str(run),
            "task": "classification",
            "model": "lenet5",
            "family": "classic_cnn",
            "dataset": "digits",
            "setting": f"digits-frac{fraction}" if fraction else "digits",
            "ranking_metric": "accuracy",
            "higher_is_better": True,
            "metrics": {"accuracy": acc},
            "profile": {},
            "status": "done",
            "data": {"sizes": {"train": int(1257 * (fraction or 1))}},
            "stopped": None,
            "epochs": 1,
            "train_fraction": fraction,
            "challenges": challenges or {},
        }

    recs = [record(None, 0.98, c), record(0.1, 0.7), record(0.3, 0.9)]
    rows = challenge_rows(recs)
    assert len(rows) == 1 and rows[0]["relative"] == c["robustness"]["relative_robustness"]
    assert rows[0]["picture"] == run / "samples" / "saliency.png"
    eff = efficiency_rows(recs)
    assert [(f, p["accuracy"], p["train_images"]) for f, p in eff[0]["points"].items()] == [
        (0.1, 0.7, 125),
        (0.3, 0.9, 377),
        (1.0, 0.98, 1257),
    ]
    board = leaderboards(recs)
    assert len(board) == 1 and [r["value"] for r in board[0]["rows"]] == [0.98]
