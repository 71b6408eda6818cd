"""`bench --executor ray`: a suite's jobs as Ray tasks give the sequential run's numbers, and a job
whose worker process is killed mid-training is retried and resumes from its checkpoint.

One local Ray instance of 2 CPUs serves the module. Its workers install a test hook at start
(Ray's worker_process_setup_hook, nothing in visionbench): after a checkpoint is written, a
worker reads a request file and SIGKILLs itself when the request names that run and epoch, so
the kill lands at the same point of training on every machine.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from test_bench import LENET, write_suite

from visionbench.bench.runner import run_suite
from visionbench.errors import VisionbenchError
from visionbench.runs import FolderLock, executor_task

HAVE_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(
    not HAVE_RAY, reason="ray is not installed: pip install 'visionbench[ray]'"
)

# four of the smallest jobs: LeNet-5 on digits, one epoch (the killed one needs a second epoch)
JOBS = [LENET | {"epochs": 1, "seed": s} for s in (0, 1, 2)] + [LENET | {"epochs": 2, "seed": 3}]
KILLED = "lenet5__digits__s3"


def _results(suite_dir: Path) -> dict:
    rows = json.loads((suite_dir / "results.json").read_text())
    return {r["run"]: (r["status"], r["metrics"]) for r in rows}


def _kill_hook(request_file: str):
    """A Ray worker's setup hook (pickled by value: the workers never import this file)."""

    def install():
        import json
        import os
        import signal
        from pathlib import Path

        from visionbench.engine import trainer

        save = trainer.save_checkpoint

        def save_then_maybe_die(folder, *args):
            save(folder, *args)
            request = Path(request_file)
            try:
                want = json.loads(request.read_text())
            except (OSError, ValueError):
                return
            if Path(folder).parent == Path(want["run"]) and args[-1]["epoch"] == want["epoch"]:
                request.rename(request.with_suffix(".done"))  # the retry must not die again
                os.kill(os.getpid(), signal.SIGKILL)

        trainer.save_checkpoint = save_then_maybe_die

    return install


@pytest.fixture(scope="module")
def ray_instance(tmp_path_factory):
    """A local Ray instance of 2 CPUs for the module; yields the kill-request file's path."""
    import ray

    request = tmp_path_factory.mktemp("kill") / "request.json"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=128 * 2**20,
        logging_level=logging.WARNING,
        log_to_driver=False,
        runtime_env={"worker_process_setup_hook": _kill_hook(str(request))},
    )
    yield request
    ray.shutdown()


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    """The four jobs one after the other in this process: the numbers to match."""
    tmp = tmp_path_factory.mktemp("sequential")
    suite = write_suite(tmp / "four.yaml", "four", JOBS)
    run_suite(str(suite), tmp / "runs", quick=True, profile=False, workers=1)
    return suite, _results(tmp / "runs" / "four")


@needs_ray
def test_ray_tasks_give_the_sequential_runs_numbers(ray_instance, sequential, tmp_path):
    suite, expected = sequential
    out = tmp_path / "runs"
    report = run_suite(str(suite), out, quick=True, profile=False, executor="ray", workers=2)
    assert report == out / "four" / "report.html" and report.exists()
    assert len(expected) == 4 and all(status == "done" for status, _ in expected.values())
    assert _results(out / "four") == expected  # same seeds, same code: every digit
    meta = json.loads((out / "four" / "suite.json").read_text())
    assert meta["executor"] == "ray" and meta["workers"] == 2
    runs = sorted((out / "four" / "classification").iterdir())
    assert [json.loads((r / "status.json").read_text())["attempt"] for r in runs] == [1] * 4
    assert not any((r / ".lock").exists() for r in runs)
    # a rerun skips every finished job: nothing is submitted, nothing rewritten
    before = {r: (r / "metrics.json").stat().st_mtime_ns for r in runs}
    run_suite(str(suite), out, quick=True, profile=False, executor="ray", workers=2)
    assert {r: (r / "metrics.json").stat().st_mtime_ns for r in runs} == before


@needs_ray
def test_a_killed_worker_is_retried_and_the_job_resumes(ray_instance, sequential, tmp_path):
    suite = write_suite(tmp_path / "kill.yaml", "four", [JOBS[-1]])
    out = tmp_path / "runs"
    run = out / "four" / "classification" / KILLED
    ray_instance.write_text(json.dumps({"run": str(run.resolve()), "epoch": 1}))
    run_suite(str(suite), out, quick=True, profile=False, executor="ray")
    assert not ray_instance.exists() and ray_instance.with_suffix(".done").exists()  # it died
    status = json.loads((run / "status.json").read_text())
    assert status["status"] == "done" and status["attempt"] == 2
    assert status["resumed_from"] == 1 and status["epochs"] == 2  # continued, not restarted
    history = (run / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["1", "2"]
    assert not (run / ".lock").exists()  # the dead attempt's lock was taken over, then released
    # the same numbers as the uninterrupted sequential run of this job
    assert (
        _results(out / "four")[f"classification/{KILLED}"]
        == sequential[1][f"classification/{KILLED}"]
    )


def test_a_retry_takes_over_the_lock_its_dead_attempt_left_on_another_host(tmp_path):
    lock = tmp_path / "run" / ".lock"
    lock.parent.mkdir()
    other = {"pid": 1, "host": socket.gethostname() + "-elsewhere", "since": "x", "task": "t1"}
    lock.write_text(json.dumps(other))
    with pytest.raises(VisionbenchError, match="in use by process 1"):
        FolderLock(lock.parent, "run").acquire()  # another host's lock: not ours to judge
    with executor_task("t2"), pytest.raises(VisionbenchError, match="in use by process 1"):
        FolderLock(lock.parent, "run").acquire()  # another task's
    with executor_task("t1"), FolderLock(lock.parent, "run"):  # its own earlier attempt's
        mine = json.loads(lock.read_text())
        assert mine["pid"] == os.getpid() and mine["task"] == "t1"
    assert not lock.exists()


def test_ray_options_are_checked_before_any_job(tmp_path, monkeypatch, capsys):
    from visionbench.cli import main

    suite = write_suite(tmp_path / "one.yaml", "one", [LENET | {"epochs": 1}])
    argv = ["bench", "--suite", str(suite), "--out", str(tmp_path / "runs"), "--no-profile"]
    assert main([*argv, "--address", "auto"]) == 2
    assert "--address is the Ray cluster to join: use it with --executor ray" in (
        capsys.readouterr().err
    )
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert main([*argv, "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--executor ray needs the ray extra: pip install 'visionbench[ray]'")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "runs" / "one").exists()  # refused before the suite folder
