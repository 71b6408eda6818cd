"""The challenges battery on a trained run (corruptions, attacks, saliency, groups, energy
through the task's own evaluator), the `challenges` command, training-set fractions and the
report section. Offline, seeded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from visionbench.analysis.challenges import FULL, QUICK, challenges_run
from visionbench.analysis.corruptions import CORRUPTIONS
from visionbench.cli import main as cli
from visionbench.errors import VisionbenchError


# a trained run ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """A LeNet-5 trained for 3 epochs on digits (seconds on one thread), then analysed (quick)."""
    import visionbench as vb

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
    result = challenges_run(trained.run_dir, form=QUICK)
    return Path(trained.run_dir), result, time.perf_counter() - t0, trained.metrics


def test_the_battery_measures_every_challenge_through_the_task_evaluator(analysed):
    run, c, seconds, metrics = analysed
    assert json.loads((run / "challenges.json").read_text()) == c
    assert c["images"] == QUICK.max_images and c["test_images"] == 360
    assert c["batches"] == "challenge"  # the task's quick-challenge batches (here: the test ones)
    assert c["input_size"] == [32, 32]  # LeNet-5's input: the digits upsampled
    assert c["metric"] == "accuracy" and 0.5 < c["clean"]["accuracy"] <= 1
    cor = c["corruptions"]
    assert list(cor["table"]) == list(CORRUPTIONS)
    assert all(list(row) == ["1", "3", "5"] for row in cor["table"].values())
    assert cor["relative"] is True
    # the strongest fog and brightness cost accuracy; errors are 1 - accuracy
    assert cor["table"]["fog"]["5"] < c["clean"]["accuracy"] - 0.05
    e = cor["errors"]
    cells = [1 - v for row in cor["table"].values() for v in row.values()]
    assert e["mean_error"] == pytest.approx(np.mean(cells))
    adv = {(r["attack"], r["eps"]): r["score"] for r in c["adversarial"]["rows"]}
    assert adv[("pgd", 0.0)] == c["clean"]["accuracy"]
    assert adv[("pgd", 8 / 255)] <= adv[("fgsm", 8 / 255)] + 1e-9
    assert adv[("pgd", 8 / 255)] < c["clean"]["accuracy"]
    sal = c["saliency"]
    assert set(sal["methods"]) == {"input gradient", "Grad-CAM"}  # LeNet-5: a CNN
    assert sal["methods"]["input gradient"]["beats_random"]
    assert (run / "samples" / "challenges-saliency.png").stat().st_size > 2000
    assert "groups" not in c  # digits carry no groups
    assert c["energy"]["inference"]["kind"] in ("measured", "estimated")
    assert c["energy"]["training"]["kind"] in ("measured", "estimated")


def test_groups_are_measured_on_colored_digits(tmp_path):
    import visionbench as vb

    r = vb.train(
        task="classification",
        model="lenet5",
        data="colored_digits",
        epochs=2,
        threads=1,
        out=str(tmp_path),
        quiet=True,
    )
    c = challenges_run(r.run_dir, form=QUICK)
    g = c["groups"]
    assert set(g["groups"]) == {"bias-aligned", "bias-conflicting"}
    assert sum(v["images"] for v in g["groups"].values()) == c["images"]
    assert 0 <= g["worst_group_accuracy"] <= g["accuracy"]
    assert g["demographic_parity_difference"] >= 0


def test_a_reference_run_gives_mce_one_to_itself(analysed):
    run, c, _, _ = analysed
    again = challenges_run(run, form=QUICK, reference=run)
    assert again["corruptions"]["table"] == c["corruptions"]["table"]  # seeded
    assert again["corruptions"]["errors"]["mce"] == pytest.approx(1.0)


def test_published_cifar10_c_layout_is_scored(analysed, tmp_path):
    """A CIFAR-10-C-shaped folder (digits stand in for CIFAR: 8x8 gray saved as RGB) goes
    through the same evaluator, one table cell per corruption and severity."""
    from visionbench.data.registry import load_dataset

    run = analysed[0]
    test = load_dataset("digits", "classification").test
    x = (test.images[:20].repeat(1, 3, 1, 1).permute(0, 2, 3, 1) * 255).round()
    block = np.concatenate([x.numpy().astype(np.uint8)] * 5)
    np.save(tmp_path / "fog.npy", block)
    np.save(tmp_path / "labels.npy", np.tile(test.labels[:20].numpy().astype(np.uint8), 5))
    c = challenges_run(run, form=QUICK, data=f"cifar10-c:{tmp_path}")
    t = c["corruptions"]["table"]["fog"]
    assert list(t) == ["1", "2", "3", "4", "5"] and len(set(t.values())) == 1  # same images
    assert c["corruptions"]["source"] == f"cifar10-c:{tmp_path}"


def test_challenges_command_prints_a_table_and_fails_in_one_line(analysed, tmp_path, capsys):
    run = analysed[0]
    assert cli(["challenges", str(run), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "mean corruption error" in out and "PGD linf" in out and "Grad-CAM" in out
    assert cli(["challenges", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"visionbench: error: no such run directory: {tmp_path / 'missing'}"
    assert cli(["challenges", str(run), "--quick", "--data", "cifar10-c"]) == 2
    assert "KIND:PATH" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli(["challenges", "--help"])
    assert e.value.code == 0 and "ImageNet-C" in capsys.readouterr().out


def test_full_form_is_the_paper_grid():
    assert FULL.severities == (1, 2, 3, 4, 5) and set(FULL.eps) == {"linf", "l2"}
    assert QUICK.severities == (1, 3, 5) and QUICK.max_images < FULL.max_images


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


def test_review_suite_declares_data_efficiency_jobs():
    from visionbench.bench.suites import quick_selection, review_jobs

    jobs, _ = quick_selection(review_jobs()[0])
    side = [j for j in jobs if "train_fraction" in j.quick and j.task == "classification"]
    assert {(j.model, j.quick["train_fraction"]) for j in side} == {
        (m, f) for m in ("lenet5", "vit_nano", "hybrid_nano", "mae_vit_nano") for f in (0.1, 0.25)
    }
    assert all(j.seed == 0 for j in side)  # --quick: one seed; --full adds seeds 1 and 2
    # the model's recipe on less data: fixed work, no seconds
    assert all("time_budget" not in j.quick and j.setting.startswith("digits-frac") for j in side)


def test_the_quick_suite_trains_the_mce_reference_beside_the_classic_cnn():
    """mCE needs the suite's AlexNet on the same data: without it make bench showed no mCE."""
    from visionbench.bench.report_challenges import REFERENCE_MODELS
    from visionbench.bench.suites import quick_selection, review_jobs

    quick = {(j.model, j.setting) for j in quick_selection(review_jobs()[0])[0]}
    refs = {s for m, s in quick if m in REFERENCE_MODELS}
    assert refs == {"digits"} and ("lenet5", "digits") in quick


def test_the_quick_suite_measures_bias_on_the_spurious_colour_set():
    """make bench shows bias measured: a CNN and a ViT on colored_digits (full-data runs, so the
    challenges, groups included, run on them); --full adds every classification family."""
    from visionbench.bench.suites import DATA_EFFICIENCY_MODELS, quick_selection, review_jobs

    every = [j for j in review_jobs()[0] if j.data == "colored_digits"]
    assert sorted(j.model for j in every) == sorted(DATA_EFFICIENCY_MODELS)
    quick = [j for j in quick_selection(review_jobs()[0])[0] if j.data == "colored_digits"]
    assert sorted(j.model for j in quick) == ["lenet5", "vit_nano"]
    assert all(j.task == "classification" and "train_fraction" not in j.quick for j in quick)


# the report --------------------------------------------------------------------------------------
def test_report_section_shows_challenges_and_the_data_efficiency_curve(analysed, tmp_path):
    from visionbench.bench.report import challenge_rows, efficiency_rows, leaderboards
    from visionbench.bench.report_challenges import challenge_sections, section_markdown

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
            "seed": 0,
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
    assert len(rows) == 1 and rows[0]["clean"] == c["clean"]["accuracy"]
    assert rows[0]["mean_error"] == c["corruptions"]["errors"]["mean_error"]
    assert rows[0]["picture"] == run / "samples" / "challenges-saliency.png"
    assert rows[0]["mce"] is None  # no AlexNet run in this suite
    ref = {**record(None, 0.9, c), "model": "alexnet_tiny", "run": "classification/alexnet"}
    with_ref = challenge_rows([*recs, ref])
    mine = next(r for r in with_ref if r["model"] == "lenet5")
    assert mine["mce"] == pytest.approx(1.0) and mine["reference"] == "alexnet_tiny"
    sections = challenge_sections(rows, tmp_path / "figures")
    assert [s["task"] for s in sections] == ["classification"]
    paths = {f["path"] for f in sections[0]["figures"]}
    assert "figures/challenges/classification-lenet5__digits__s0-corruptions.png" in paths
    assert "figures/challenges/classification-digits-epsilon.png" in paths
    assert all((tmp_path / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
    md = "\n".join(section_markdown(sections[0]))
    assert (
        "| lenet5 | digits, 32x32 px input |" in md and "Grad-CAM" in md
    )  # the size it was scored at

    # restoration: one section per setting (its own metric), as the leaderboards; seeds named
    def restoring(setting, metric):
        cor = {k: v for k, v in c["corruptions"].items() if k != "errors"}  # PSNR: unbounded
        r = record(None, 30.0, {**c, "metric": metric, "clean": {metric: 30.0}, "corruptions": cor})
        return {**r, "task": "restoration", "model": "unet_attention", "setting": setting,
                "run": f"restoration/unet_attention__{setting}__s0"}  # fmt: skip

    rest = [restoring("photos-sr2", "psnr_y"), restoring("photos-noise25", "psnr")]
    rest.append({**restoring("photos-noise25", "psnr"), "model": "dae"})
    rest.append({**restoring("photos-noise25", "psnr"), "model": "dae", "seed": 1})
    secs = challenge_sections(challenge_rows(rest), tmp_path / "figures")
    assert [(s["task"], s["metric"], [r["label"] for r in s["rows"]]) for s in secs] == [
        ("restoration on photos-noise25", "psnr", ["unet_attention", "dae (s0)", "dae (s1)"]),
        ("restoration on photos-sr2", "psnr_y", ["unet_attention"]),
    ]
    assert secs[0]["rows"][0]["mean_error"] is None  # no error of an unbounded metric
    rest[0]["challenges"] = {**rest[0]["challenges"], "input_size": None}  # sizes differed
    assert challenge_rows(rest[:1])[0]["scored_on"] == "digits"
    eff = efficiency_rows(recs)
    assert [(f, p["accuracy"], p["train_images"]) for f, p in eff[0]["points"].items()] == [
        (0.1, 0.7, 125),
        (0.3, 0.9, 377),
        (1.0, 0.98, 1257),
    ]
    board = leaderboards(recs)
    assert len(board) == 1 and [r["value"] for r in board[0]["rows"]] == [0.98]
