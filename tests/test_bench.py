"""The bench: a suite runs end to end into a report whose tables match the runs, survives a kill,
and the review suite covers every registered model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import checkpointed_epoch, start_and_hold_after_checkpoint

from visionbench.bench.report import collect, leaderboards, mean_ci, wilson
from visionbench.bench.runner import Phases, run_suite, select
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
        # quick mode: a fixed amount of work, recorded, under a wall-clock safety cap
        assert r["time_budget"] and r["time_budget"] > 0 and not r["cut"]
        assert r["steps"] > 0 and r["train_samples"] >= r["steps"] and r["train_flops"] > 0
        assert f"{r['epochs']} ep · " in md
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
    # one job at a time, in this process: the first finishes before the second starts
    argv = ["bench", "--suite", str(suite), "--out", str(out), "--no-profile", "--workers", "1"]
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


def test_sigterm_stops_a_two_worker_suite_and_its_running_jobs(tmp_path):
    """SIGTERM to `bench` with two worker processes ends it as terminated (143) with both running
    jobs interrupted and resumable, instead of waiting for them to finish (they would train for
    many minutes: the pool's exit used to join its busy workers)."""
    suite = write_suite(
        tmp_path / "term.yaml",
        "term",
        [LENET | {"epochs": 1000}, LENET | {"epochs": 1000, "seed": 1}],
    )
    out = tmp_path / "runs"
    runs = [out / "term" / "classification" / f"lenet5__digits__s{s}" for s in (0, 1)]
    cmd = [sys.executable, "-m", "visionbench", "bench", "--suite", str(suite), "--out", str(out),
           "--no-profile", "--workers", "2"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        deadline = time.time() + 600  # a safety net for a hung start, not a speed check
        while not all((r / "checkpoint" / "state.pt").exists() for r in runs):
            assert proc.poll() is None, proc.stderr.read()
            assert time.time() < deadline, "the jobs never checkpointed"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=300) == 143, proc.stderr.read()
    finally:
        proc.kill()
    for run in runs:
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "interrupted", status
        assert not (run / ".lock").exists()
        assert checkpointed_epoch(run) >= 1  # resumable


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


def test_every_quick_job_trains_a_fixed_amount_of_work_never_a_number_of_seconds():
    from visionbench.bench.suites import quick_selection

    jobs, _ = quick_selection(review_jobs()[0])
    assert jobs
    for job in jobs:  # the work is the epochs (the job's or its recipe's); seconds only cap
        assert "time_budget" not in job.quick, job.key
        assert job.quick.get("epochs", 1) >= 1


def test_busy_cpu_gives_the_same_metrics_as_an_idle_one(tmp_path):
    """Issue 20: same seed, same code, same results.json metrics whatever else the machine does.
    The second suite runs beside CPU hogs this test starts (one per core)."""
    jobs = [LENET | {"epochs": 2}, DAE | {"epochs": 1}]
    for job in jobs:
        job.pop("threads")  # the suite's own fixed thread count, not the test's
    suite = write_suite(tmp_path / "busy.yaml", "busy", jobs)
    results = []
    for busy in (False, True):
        hogs = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range((os.cpu_count() or 1) if busy else 0)
        ]
        try:
            run_suite(str(suite), tmp_path / f"runs{int(busy)}", quick=True, profile=False)
        finally:
            for hog in hogs:
                hog.kill()
                hog.wait()
        path = tmp_path / f"runs{int(busy)}" / "busy" / "results.json"
        results.append(sorted(json.loads(path.read_text()), key=lambda r: r["run"]))
    idle, busy = results
    assert [r["run"] for r in idle] == [r["run"] for r in busy] and len(idle) == 2
    for a, b in zip(idle, busy):
        assert a["status"] == b["status"] == "done" and not a["cut"] and not b["cut"]
        assert a["metrics"] == b["metrics"]  # every digit
        for key in ("epochs", "steps", "train_samples", "train_flops"):
            assert a[key] == b[key] and a[key] > 0, key


def test_a_job_cut_by_the_time_cap_is_shown_but_never_ranked(tmp_path):
    suite = write_suite(tmp_path / "cut.yaml", "cut", [LENET | {"epochs": 50}])
    run_suite(str(suite), tmp_path / "runs", quick=True, profile=False, cap=0.05, workers=1)
    suite_dir = tmp_path / "runs" / "cut"
    (r,) = json.loads((suite_dir / "results.json").read_text())
    assert r["cut"] and r["stopped"] == "time_budget" and r["time_budget"] == 0.05
    assert 0 < r["epochs"] < 50 and r["steps"] > 0  # the work it did, recorded
    md = (suite_dir / "report.md").read_text()
    assert f"| 1 | {r['model']} |" not in md  # not ranked
    assert "| – | lenet5 |" in md and "cut by the time cap: not comparable" in md
    assert "cut by the time cap: not comparable" in (suite_dir / "report.html").read_text()


def test_phases_split_a_job_into_training_and_evaluation(tmp_path):
    from visionbench.runs import RunDir

    run = RunDir(tmp_path / "classification" / "m__d__s0").create()
    run.set_status("done")
    phases = Phases()
    phases.add_training(run, {"train_seconds": 3.0}, wall=5.0)
    with phases.timed("profiling", run):
        pass
    other = Phases()
    other.merge(phases.raw())
    s = other.summary(total=10.0)
    assert s["training"] == 3.0 and s["evaluation"] == 2.0 and s["other"] == 5.0
    assert s["evaluation_by_task"] == {"classification": 2.0} and s["total"] == 10.0
    assert run.status()["evaluation_seconds"] == 2.0 and "profiling_seconds" in run.status()
    assert "training" in other.table(10.0) and "report" in other.table(10.0)


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


def test_every_review_suite_job_has_a_valid_config(tmp_path):
    """Each model's bench_jobs entries, quick and full, pass the one option validator: a stale
    key (a merged branch's `shares_budget`) once made `make bench` refuse to start."""
    from visionbench.bench.runner import job_config
    from visionbench.bench.suites import quick_selection

    jobs, _ = review_jobs()
    quick, _ = quick_selection(jobs)
    assert len(quick) >= 30 and {j.task for j in quick} >= {"detection", "segmentation"}
    for job in jobs:
        job_config(job, tmp_path, job.seed, False, "cpu")
    for job in quick:
        job_config(job, tmp_path, job.seed, True, "cpu")


def test_the_report_shows_the_confusion_matrix_of_the_main_comparison(tmp_path):
    """The bias probe's colored_digits board (2 models) sorts before digits (6): its LeNet-5 at
    0.71 was shown as "the best classifier"."""
    from visionbench.bench.report import confusion_of_best

    def board(name: str, models: int, drew: bool = True) -> dict:
        run_dir = tmp_path / name
        (run_dir / "samples").mkdir(parents=True)
        if drew:
            (run_dir / "samples" / "confusion_matrix.png").write_bytes(b"png")
        top = {"run": f"classification/{name}", "run_dir": str(run_dir)}
        return {"rows": [{"runs": [top]}] * models}

    boards = [board("lenet5__colored_digits__s0", 2), board("mobilenetv4__digits__s0", 6)]
    assert confusion_of_best(boards)["run"] == "classification/mobilenetv4__digits__s0"
    boards.append(board("segmenter__shapes__s0", 7, drew=False))  # no matrix: the next board
    assert confusion_of_best(boards)["path"].parent.parent.name == "mobilenetv4__digits__s0"
    assert confusion_of_best([{"rows": []}]) is None


def test_a_dataset_row_names_what_the_registry_says_even_under_a_reader_given_name():
    """The textures reader names its data "textures/brick": its row had no description and no
    licence, since only "textures" is registered."""
    from visionbench.bench.report import dataset_rows
    from visionbench.data.registry import DATASETS

    def record(task: str, name: str) -> dict:
        return {"task": task, "data": {"name": name, "sizes": {"train": 1}, "in_chans": 1}}

    rows = dataset_rows([record("anomaly", "textures/brick"), record("classification", "digits"),
                         record("generation", "digits"), record("classification", "mine/x")])  # fmt: skip
    assert rows["textures/brick"]["description"] == DATASETS.get("textures").description
    assert rows["textures/brick"]["license"] == DATASETS.get("textures").license != ""
    assert rows["digits"]["tasks"] == "classification, generation"
    assert rows["mine/x"]["description"] == ""  # not registered: nothing made up


def test_the_quick_suite_names_what_it_leaves_out_with_the_setting():
    """capsnet_tiny runs on digits in --quick; the note said "capsnet_tiny (classification)" as if
    it did not run at all (it is left out on colored_digits and the learning-curve shares)."""
    from visionbench.bench.suites import quick_selection

    kept, notes = quick_selection(review_jobs()[0])
    assert ("capsnet_tiny", "digits") in {(j.model, j.setting) for j in kept}
    note = notes[0]
    assert "capsnet_tiny (classification on colored_digits, digits-frac0.05" in note
    assert "capsnet_tiny (classification)" not in note and "(classification on digits)" in note
