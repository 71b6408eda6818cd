"""Protocols: t intervals, bootstrap, and CV / repeated-seed orchestration (training stubbed)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from visionbench.api import RunResult, load_dataset
from visionbench.config import TrainConfig
from visionbench.errors import VisionbenchError
from visionbench.protocols import bootstrap_ci, cross_validate, repeated_seeds, t_interval


def test_t_interval_hand_computed():
    out = t_interval([1.0, 2.0, 3.0, 4.0])
    sd = math.sqrt(5 / 3)
    half = 3.182446305284263 * sd / 2  # t(0.975, 3)
    assert out["mean"] == 2.5 and out["std"] == pytest.approx(sd)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx((2.5 - half, 2.5 + half))
    assert t_interval([0.7])["ci_low"] is None


def test_bootstrap_is_seeded_and_covers_the_mean():
    rng = np.random.default_rng(0)
    correct = rng.random(400) < 0.8
    a, b = bootstrap_ci(correct, seed=1), bootstrap_ci(correct, seed=1)
    assert a == b
    assert a["ci_low"] < correct.mean() < a["ci_high"]
    # the percentile interval of a mean of Bernoulli(0.8), n=400, is about +-1.96*0.02
    assert 0.06 < a["ci_high"] - a["ci_low"] < 0.1
    same = bootstrap_ci(np.ones(10))
    assert same["ci_low"] == same["ci_high"] == 1.0


def _fake_train(calls: list):
    def train(cfg: TrainConfig) -> RunResult:
        calls.append(cfg)
        bundle = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
        acc = 0.9 + 0.01 * len(calls)
        test_idx = bundle.test.labels.numpy().tolist()
        return RunResult(
            Path(cfg.run_dir or f"s{cfg.seed}"),
            {"accuracy": acc, "n_test": len(test_idx), "per_class": [1, 2]},
            {},
        )

    return train


def test_cross_validation_runs_each_fold_and_writes_a_summary(tmp_path):
    calls: list[TrainConfig] = []
    cfg = TrainConfig(task="classification", model="lenet5", data="digits", out=str(tmp_path))
    summary = cross_validate(cfg, 3, train=_fake_train(calls))
    assert [c.data_options["fold"] for c in calls] == [[3, 0], [3, 1], [3, 2]]
    names = [Path(c.run_dir).name for c in calls]
    assert names == [f"lenet5__digits__s0__cv3f{i}" for i in range(3)]
    acc = summary["metrics"]["accuracy"]
    assert acc["values"] == pytest.approx([0.91, 0.92, 0.93])
    assert acc["mean"] == pytest.approx(0.92) and acc["std"] == pytest.approx(0.01)
    assert acc["ci_low"] < 0.92 < acc["ci_high"]
    assert sum(summary["metrics"]["n_test"]["values"]) == 1797  # folds cover the data once
    assert "per_class" not in summary["metrics"]
    saved = json.loads(Path(summary["summary_path"]).read_text())
    assert Path(summary["summary_path"]).name == "lenet5__digits__s0__cv3.json"
    assert saved["metrics"]["accuracy"]["values"] == acc["values"]


def test_repeated_seeds_keep_the_split(tmp_path):
    calls: list[TrainConfig] = []
    cfg = TrainConfig(
        task="classification", model="lenet5", data="digits", seed=4, run_dir=str(tmp_path / "r")
    )
    summary = repeated_seeds(cfg, 3, train=_fake_train(calls))
    assert [c.seed for c in calls] == [4, 5, 6]
    assert {c.split_seed for c in calls} == {0}
    assert [Path(c.run_dir).name for c in calls] == ["r__s4", "r__s5", "r__s6"]
    assert summary["metrics"]["accuracy"]["n"] == 3
    written = json.loads(Path(summary["summary_path"]).read_text())
    assert written["runs"] == summary["runs"] and written["metrics"] == summary["metrics"]


def test_cv_refuses_a_dataset_without_folds(tmp_path):
    cfg = TrainConfig(task="restoration", model="lenet5", data="photos", out=str(tmp_path))
    with pytest.raises(VisionbenchError, match="does not support --cv"):
        cross_validate(cfg, 3, train=_fake_train([]))
    with pytest.raises(VisionbenchError, match="at least 2"):
        cross_validate(cfg, 1, train=_fake_train([]))


def test_cli_cv_prints_mean_std_and_interval(tmp_path, monkeypatch, capsys):
    import visionbench.api
    from visionbench.cli import main

    calls: list[TrainConfig] = []
    monkeypatch.setattr(visionbench.api, "train", _fake_train(calls))
    args = ["train", "classification", "--model", "lenet5", "--data", "digits"]
    assert main([*args, "--out", str(tmp_path), "--cv", "3"]) == 0
    out = capsys.readouterr().out
    assert "0.9200 ± 0.0100" in out and "95% CI" in out and "__cv3.json" in out
    assert len(calls) == 3
    assert main([*args, "--cv", "3", "--seeds", "2"]) == 2
    assert "not both" in capsys.readouterr().err
