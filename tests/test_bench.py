"""The bench: a suite runs end to end into a report whose tables match the runs, survives a kill,
and the review suite covers every registered model."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import yaml
from conftest import FakeClock, checkpointed_epoch, start_and_hold_after_checkpoint

from visionbench.bench.report import collect, leaderboards, mean_ci, wilson
from visionbench.bench.runner import Budget, run_suite, select
from visionbench.bench.store import RunStore
from visionbench.bench.suites import SUITES, job_from_overrides, review_jobs
from visionbench.errors import VisionbenchError

LENET = {"task": "classification", "model": "lenet5", "data": "digits", "threads": 1}
DAE = {
    "task": "restoration",
    "model": "dae",
    "data": "photos",
    "threads": 1,
    "data_options": {"patches_per_image": 8},
}


def write_suite(path: Path, name: str, jobs: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"name": name, "description": "test suite", "jobs": jobs}))
    return path


def test_two_job_suite_report_matches_the_runs(tmp_path):
    suite = write_suite(tmp_path / "two.yaml", "two", [LENET | {"epochs": 1}, DAE | {"epochs": 1}])
    report = run_suite(str(suite), tmp_path / "runs", quick=True)
    suite_dir = tmp_path / "runs" / "two"
    assert report == suite_dir / "report.html"
    results = json.loads((suite_dir / "results.json").read_text())
    assert {(r["task"], r["model"]) for r in results} == {
        ("classification", "lenet5"),
        ("restoration", "dae"),
    }
    md = (suite_dir / "report.md").read_text()
    html = report.read_text()
    for r in results:
        run_dir = suite_dir / r["run"]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        profile = json.loads((run_dir / "profile.json").read_text())
        assert r["status"] == "done" and r["error"] is None
        assert r["metrics"] == metrics and r["profile"]["flops"] == profile["flops"] > 0
        assert r["seed"] == 0 and r["protocol"] and r["family"]
        value = f"{metrics[r['ranking_metric']]:.4g}"
        # leaderboard row in the markdown: rank 1, the model, its family and its measured value
        assert f"| 1 | {r['model']} | {r['family']} | {value} |" in md
        assert value in html
        # quick mode gives every job a time budget
        assert r["time_budget"] and r["time_budget"] > 0
    # Table 1: measured families carry their numbers, the others say they have no runs
    lenet = next(r for r in results if r["model"] == "lenet5")
    acc = f"{lenet['metrics']['accuracy']:.4g}"
    table1 = md.split("## 2.")[0]
    classic = next(line for line in table1.splitlines() if line.startswith("| Classic CNN"))
    assert f"lenet5 accuracy {acc}" in classic
    vit = next(line for line in table1.splitlines() if line.startswith("| Vision Transformer"))
    assert "| no runs yet |" in vit
    # ... beside the review's own cells, quoted, and our notes in their own column
    assert (
        "| “Vision Transformer (ViT)” | “Self-attention on image patches, no convolutions” |" in vit
    )
    assert "“Requires large data and compute”" in vit and "Strengths (ours):" in vit
    # Table 2: the review's rows, and what stood in for them
    table2 = md.split("## 2.")[1].split("## 3.")[0]
    cifar = next(line for line in table2.splitlines() if line.startswith("| “CIFAR-10/100”"))
    assert "embedded stand-in, not CIFAR-10/100: digits" in cifar
    coco = next(line for line in table2.splitlines() if line.startswith("| “COCO”"))
    assert "nothing in this suite" in coco
    # ... and the dataset sizes are the runs' own
    sizes = lenet_sizes = json.loads((suite_dir / lenet["run"] / "run.json").read_text())
    lenet_sizes = sizes["data"]["sizes"]
    assert (
        f"| digits | classification | {lenet_sizes['train']} | {lenet_sizes['val']} | "
        f"{lenet_sizes['test']} |" in md
    )
    # self-contained HTML: pictures inline, nothing fetched
    assert "data:image/png;base64," in html and "https://" not in html
    assert "http://" not in html.replace('"http://www.w3.org/2000/svg"', "")  # a name, not a fetch
    # the index sees both runs
    rows = RunStore(tmp_path / "runs").query(suite="two")
    assert {r["model"] for r in rows} == {"lenet5", "dae"}
    assert RunStore(tmp_path / "runs").resolve("lenet5__digits__s0") == suite_dir / lenet["run"]


def test_killed_suite_resumes_and_loses_nothing(tmp_path):
    suite = write_suite(
        tmp_path / "kill.yaml",
        "kill",
        [LENET | {"epochs": 1}, LENET | {"epochs": 3, "seed": 1}],
    )
    out = tmp_path / "runs"
    first = out / "kill" / "classification" / "lenet5__digits__s0"
    second = out / "kill" / "classification" / "lenet5__digits__s1"
    argv = ["bench", "--suite", str(suite), "--out", str(out), "--no-profile"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    # killed right after the second job checkpointed its first epoch
    proc = start_and_hold_after_checkpoint(argv, second.name, 1, env)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert checkpointed_epoch(second) == 1
    assert json.loads((first / "status.json").read_text())["status"] == "done"
    assert json.loads((second / "status.json").read_text())["status"] != "done"
    before = (first / "metrics.json").read_bytes(), (first / "metrics.json").stat().st_mtime_ns
    history_before = (second / "history.csv").read_text().splitlines()

    run_suite(str(suite), out, quick=True, profile=False)

    assert (first / "metrics.json").read_bytes() == before[0]
    assert (first / "metrics.json").stat().st_mtime_ns == before[1]  # skipped, not rerun
    status = json.loads((second / "status.json").read_text())
    assert status["status"] == "done" and status["epochs"] == 3
    assert status["resumed_from"] == 1  # continued from its checkpoint, not restarted
    history = (second / "history.csv").read_text().splitlines()
    assert history[: len(history_before)] == history_before  # resumed, finished epochs kept
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2", "3"]
    assert [r["status"] for r in collect(out / "kill")] == ["done", "done"]


def test_review_suite_covers_every_registered_model_on_its_tasks():
    from visionbench.data.registry import DATASETS
    from visionbench.models.registry import MODELS
    from visionbench.tasks.base import TASKS

    jobs, notes = review_jobs()
    assert SUITES.get("review").jobs == tuple(jobs)
    covered = {(j.model, j.task) for j in jobs}
    for spec in MODELS:
        wanted = [e.get("task", spec.tasks[0]) for e in spec.bench_jobs] or list(spec.tasks)
        for task in wanted:
            if task in TASKS:
                assert (spec.name, task) in covered or any(spec.name in n for n in notes)
    assert all(j.data in DATASETS and j.task in TASKS for j in jobs)
    assert len({(j.task, j.run_name(j.seed)) for j in jobs}) == len(jobs)  # one folder per job


def test_bench_jobs_entries_split_quick_and_full():
    job = job_from_overrides(
        "m", "restoration", {"epochs": 3, "task_options": {"degradation": "sr:2"}}
    )
    assert job.data == "photos" and job.variant == "sr2"
    assert job.quick == {"epochs": 3, "task_options": {"degradation": "sr:2"}}
    assert job.full == {"task_options": {"degradation": "sr:2"}}  # full keeps the recipe's length
    default = job_from_overrides("m", "restoration", {})
    assert default.quick["task_options"] == {"degradation": "noise:25"}
    assert default.run_name(2) == "m__photos-noise25__s2"


def test_only_filters_jobs_and_rejects_unknown_keys():
    jobs = list(SUITES.get("smoke").jobs)
    assert [j.model for j in select(jobs, {"family": "classic_cnn"})] == ["lenet5"]
    assert [j.model for j in select(jobs, {"task": "restoration|classification"})] == [
        "lenet5",
        "dae",
    ]
    assert select(jobs, {"model": "nope"}) == []
    with pytest.raises(VisionbenchError, match="--only takes"):
        select(jobs, {"colour": "red"})


def test_budget_shares_the_suite_time_and_respects_a_job_own_budget():
    clock = FakeClock()
    plan = Budget(total=100.0, jobs=4, clock=clock)
    assert plan.next(None) == 100 / 4 - 8.0  # 8 s: the first guess of a job's overhead
    assert plan.next(5.0) == 5.0  # a job's own, shorter budget wins
    clock.now += 30.0
    plan.finished(wall=30.0, train=20.0)  # 10 s of that job's 30 were overhead
    assert plan.next(None) == round((100 - 30) / 3 - 10.0, 1)
    clock.now += 1000.0  # far over the total: every job still gets the floor
    assert plan.next(None) == 4.0
    assert Budget(total=None, jobs=3).next(None) is None  # --full: no budget


def test_statistics_of_the_leaderboard():
    m, half = mean_ci([0.9, 0.92, 0.94])
    assert m == pytest.approx(0.92) and half == pytest.approx(4.303 * 0.02 / 3**0.5, rel=1e-3)
    assert mean_ci([0.5]) == (0.5, None)
    lo, hi = wilson(0.9, 100)
    assert lo < 0.9 < hi and hi - lo == pytest.approx(0.118, abs=0.005)


def test_leaderboard_ranks_by_direction_and_groups_seeds():
    def rec(model, value, seed=0, higher=True, status="done"):
        return {
            "task": "t",
            "setting": "d",
            "model": model,
            "family": "f",
            "ranking_metric": "m",
            "higher_is_better": higher,
            "metrics": {"m": value},
            "profile": {},
            "status": status,
            "data": {},
            "stopped": None,
            "seed": seed,
        }

    board = leaderboards(
        [rec("a", 1.0), rec("b", 3.0), rec("b", 5.0, seed=1), rec("c", 0, status="failed")]
    )[0]
    assert [r["model"] for r in board["rows"]] == ["b", "a"]
    assert board["rows"][0]["value"] == 4.0 and board["rows"][0]["seeds"] == 2
    assert "2 seeds" in board["rows"][0]["ci"]
    assert [r["model"] for r in board["failed"]] == ["c"]
    low = leaderboards([rec("a", 1.0, higher=False), rec("b", 3.0, higher=False)])[0]
    assert [r["model"] for r in low["rows"]] == ["a", "b"]


def test_pareto_front_marks_only_undominated_points():
    from visionbench.analysis.report_plots import pareto_front

    pts = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (0.5, 0.4)]
    assert pareto_front(pts, higher_is_better=True) == [3, 0, 1]
    assert pareto_front(pts, higher_is_better=False) == [3]
