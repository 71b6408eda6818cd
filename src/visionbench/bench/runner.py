"""Run a suite: each job in its own run folder, failures recorded, finished jobs skipped on rerun.

A killed suite loses nothing: finished jobs keep status "done" and are skipped, and an unfinished
job resumes from its last per-epoch checkpoint. In quick mode every job trains a fixed amount of
work (its quick epochs, sized once so the suite fits about 10 minutes on 2 idle CPU cores) on one
thread, so the metrics are the same on a busy machine as on an idle one; only the times differ.
A wall-clock cap per job stays as a safety net, and a job it cuts is marked "cut, not comparable".
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from pathlib import Path

from ..config import TrainConfig, check_options
from ..engine.progress import console
from ..errors import VisionbenchError
from ..files import write_json
from ..runs import FolderLock, RunDir, path_under, safe_name
from .executors import check_executor, execute
from .jobs import (  # noqa: F401  (Phases, train_command, run_job: the suite's API too)
    QUICK_JOB_CAP_SECONDS,
    QUICK_THREADS,
    QUICK_WORKERS,
    Phases,
    SuiteOptions,
    _challenges,
    _profile,
    _wants_challenges,
    run_job,
    train_command,
)
from .shards import shard_meta_path, shard_of
from .suites import Job, Suite, get_suite, quick_selection


def select(jobs: list[Job], only: dict[str, str] | None) -> list[Job]:
    """Filter jobs by `family=...,task=...,model=...,data=...` ('|' separates alternatives)."""
    from ..models.registry import MODELS

    if not only:
        return list(jobs)
    allowed = {"task", "model", "data", "family"}
    unknown = set(only) - allowed
    if unknown:
        raise VisionbenchError(
            f"--only takes family, task, model or data; got {', '.join(sorted(unknown))}"
        )
    out = []
    for job in jobs:
        fields = {
            "task": {job.task},
            "model": {job.model},
            "data": {job.data, job.dataset},  # a standard-suite job also answers to 'Set5'
            "family": {MODELS.get(job.model).family},
        }
        if all(fields[k] & set(str(v).split("|")) for k, v in only.items()):
            out.append(job)
    return out


def job_config(job: Job, suite_dir: Path, seed: int, quick: bool, device: str) -> TrainConfig:
    over = check_options(job.overrides(quick), source=f"job {job.key}")
    cfg = TrainConfig(
        task=job.task, model=job.model, data=job.data, seed=seed, device=device, quiet=True
    )
    cfg = dataclasses.replace(cfg, **over, setting=job.setting)
    cfg.run_dir = str(job_dir(suite_dir, job, seed))
    return cfg


def job_dir(suite_dir: Path, job: Job, seed: int) -> Path:
    """SUITE/<task>/<run name>, refused if the job's names would leave the suite folder."""
    safe_name(job.model, "model name")
    return path_under(suite_dir, safe_name(job.task, "task"), job.run_name(seed))


def run_suite(
    suite_name: str = "review",
    out: str | Path = "runs",
    *,
    quick: bool | None = True,
    device: str = "cpu",
    only: dict[str, str] | None = None,
    seeds: int = 1,
    force: bool = False,
    cap: float | None = None,
    workers: int | None = None,
    profile: bool = True,
    command: str | None = None,
    shard: tuple[int, int] | None = None,
    data_root: str | Path | None = None,
    executor: str = "local",
    address: str | None = None,
) -> Path:
    """Run (or finish) a suite into OUT/<suite>/ and write its report; returns report.html.

    With `shard=(I, N)`, run only the I-th of N slices of the jobs and write that shard's
    metadata instead of the report (`visionbench report` merges the shards); returns the folder.
    `quick=None` takes the suite's own default mode (the standard suite: full recipes);
    `data_root` is the folder a suite over real data looks in.
    One process runs a suite folder (or one shard of it) at a time: a lock, see runs.FolderLock.
    `cap`: quick mode's per-job training safety net in seconds (default QUICK_JOB_CAP_SECONDS).
    `workers`: jobs run at a time, each in its own process (default: in quick mode one per
    CPU core up to QUICK_WORKERS, each on one thread; in full mode one).
    `executor`: "local" (this machine's processes) or "ray" (Ray tasks: a local Ray instance
    of `workers` CPUs, or the cluster at `address`; see executors.py).
    """
    from ..environment import resolve_device

    t_start = time.time()
    suite: Suite = get_suite(suite_name)
    resolve_device(device)  # fail before any job on a bad --device
    check_executor(executor, address)
    if quick is None:
        quick = not suite.default_full
    all_jobs, notes = suite.expand(data_root)
    if quick and suite.factory is not None and "model" not in (only or {}):
        all_jobs, left_out = quick_selection(all_jobs)
        notes = left_out + notes
    jobs = [(job, s) for job in select(all_jobs, only) for s in range(job.seed, job.seed + seeds)]
    # jobs that carry their own seed (learning curves) may meet --seeds N: one run per folder
    unique: dict[tuple[str, str], tuple[Job, int]] = {}
    for j, s in jobs:
        unique.setdefault((j.task, j.run_name(s)), (j, s))
    jobs = list(unique.values())
    if not jobs:
        raise VisionbenchError(f"no job of suite '{suite.name}' matches --only {only}")
    if shard is not None:
        jobs = shard_of(jobs, shard)
    suite_dir = path_under(out, safe_name(suite.name, "suite name"))
    for job, seed in jobs:  # every job's options and folder checked before the first one runs
        job_config(job, suite_dir, seed, quick, device)
    lock = ".lock" if shard is None else f".lock-shard{shard[0]}of{shard[1]}"
    opts = SuiteOptions(
        quick=quick,
        device=device,
        seeds=seeds,
        force=force,
        cap=cap,
        workers=workers,
        profile=profile,
        command=command,
        shard=shard,
        data_root=data_root,
        executor=executor,
        address=address,
    ).resolved()
    with FolderLock(suite_dir, "suite", lock):  # one bench per suite folder (or shard) at a time
        return _run_jobs(suite, suite_dir, jobs, notes, out, opts, t_start)


def _run_jobs(
    suite: Suite,
    suite_dir: Path,
    jobs: list[tuple[Job, int]],
    notes: list[str],
    out: str | Path,
    opts: SuiteOptions,
    t_start: float,
) -> Path:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..environment import describe, resolve_device
    from .report import write_report

    quick, device, force, cap, shard = opts.quick, opts.device, opts.force, opts.cap, opts.shard
    profile = opts.profile
    threads = QUICK_THREADS if quick else None
    if threads:
        import torch

        torch.set_num_threads(threads)
    phases = Phases()
    meta = {
        "suite": suite.name,
        "description": suite.description,
        "notes": notes,
        "command": opts.command or shlex.join(["visionbench", *sys.argv[1:]]),
        "mode": "quick" if quick else "full",
        "device": device,
        "seeds": opts.seeds,
        "job_cap_seconds": cap,
        "threads": threads,
        "workers": opts.workers if opts.address is None else None,  # a cluster: its own
        "executor": opts.executor,
        "address": opts.address,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": describe(resolve_device(device)),
    }
    if suite.needs_data_root:
        from .standard import find_sets

        meta["data_root"] = str(opts.data_root)
        meta["review_datasets"] = find_sets(opts.data_root).rows()
    meta_path = suite_dir / "suite.json"
    if shard is not None:  # each shard writes only its own file; `visionbench report` merges
        meta["shard"] = list(shard)
        meta_path = shard_meta_path(suite_dir, shard)
    _write_json(meta_path, meta)
    todo = [(j, s) for j, s in jobs if force or _status(RunDir(job_dir(suite_dir, j, s))) != "done"]
    failed = 0
    started = time.time()
    pending: list[tuple[str, TrainConfig]] = []
    columns = (
        TextColumn("[bold]suite {task.fields[suite]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        overall = bar.add_task("", total=len(jobs), suite=suite.name)
        for i, (job, seed) in enumerate(jobs, 1):
            cfg = job_config(job, suite_dir, seed, quick, device)
            run = RunDir(Path(cfg.run_dir))
            label = f"[{i}/{len(jobs)}] {job.task} · {job.model} · {job.setting} · seed {seed}"
            if (job, seed) not in todo:
                extra = ""
                if profile and not run.profile.exists():  # killed between training and profile
                    with phases.timed("profiling", run):
                        extra = _profile(run, device)
                if profile and _wants_challenges(run) and not run.challenges.exists():
                    with phases.timed("challenges", run):
                        extra += _challenges(run, device, quick)[0]
                bar.console.print(f"{label}: done earlier, skipped{extra}")
                bar.advance(overall)
                continue
            cfg.threads = cfg.threads or threads
            if quick and cfg.time_budget is None:  # the safety net; the work is the epochs
                cfg.time_budget = cap
            # an unfinished job continues from its last checkpoint instead of starting over
            cfg.resume = not force and (run.checkpoint / "state.pt").exists()
            pending.append((label, cfg))
            cfg.force = force or not cfg.resume  # the job is not done: an older try is replaced
        jobs_done = execute(pending, opts, bar, overall)
        for label, line, ok, seconds in jobs_done:
            failed += not ok
            phases.merge(seconds)
            bar.console.print(f"{label}: {line}")
            bar.advance(overall)
    jobs_seconds = time.time() - started
    meta |= {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    meta |= {"wall_seconds": round(jobs_seconds, 1)}
    done = f"suite '{suite.name}': {len(jobs)} jobs, {failed} failed, {jobs_seconds:.0f} s"
    if shard is not None:  # no report: `visionbench report` merges the shards
        meta["phases"] = phases.summary(time.time() - t_start)
        _write_json(meta_path, meta)
        console.print(done)
        console.print(phases.table(time.time() - t_start))
        return suite_dir
    with phases.timed("report"):
        meta["phases"] = phases.summary(time.time() - t_start)  # the report shows the jobs'
        _write_json(meta_path, meta)
        report = write_report(suite_dir)
        _index(out)
    total = time.time() - t_start
    meta["phases"] = phases.summary(total)
    _write_json(meta_path, meta)
    console.print(done)
    console.print(phases.table(total))
    return report


def _status(run: RunDir) -> str | None:
    try:
        return run.status().get("status")
    except VisionbenchError:  # a damaged status.json: the job runs again
        return None


def _index(out: str | Path) -> None:
    try:
        from .store import RunStore

        RunStore(Path(out)).refresh()
    except ImportError:
        pass


def _write_json(path: Path, data: dict) -> None:
    write_json(path, data, sort_keys=False)  # a unique temporary name: shards share a folder
