"""Run a suite: each job in its own run folder, failures recorded, finished jobs skipped on rerun.

A killed suite loses nothing: finished jobs keep status "done" and are skipped, and an unfinished
job resumes from its last per-epoch checkpoint. In quick mode every job trains a fixed amount of
work (its quick epochs, sized once so the suite fits about 10 minutes on 2 idle CPU cores) on one
thread, so the metrics are the same on a busy machine as on an idle one; only the times differ.
A wall-clock cap per job stays as a safety net, and a job it cuts is marked "cut, not comparable".
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import sys
import time
from pathlib import Path

from ..config import TrainConfig, check_options
from ..engine.progress import console
from ..errors import VisionbenchError
from ..files import write_json
from ..runs import FolderLock, RunDir, path_under, read_record, safe_name
from .executors import check_executor, execute
from .shards import shard_meta_path, shard_of
from .suites import Job, Suite, get_suite, quick_selection

# Quick mode's safety net: seconds of training after which a job is cut (and then marked "cut,
# not comparable"). Far above any quick job's need: the longest, esrgan x2, trained 280 s on one
# idle core of the development machine (2026-12-02), so a machine about six times slower than
# that, or a hung job, reaches it; 300 s cut that job and Mask R-CNN's beside two CPU hogs.
QUICK_JOB_CAP_SECONDS = 1800.0
# Quick mode trains on one thread, whatever the load: the thread count changes float reduction
# order (measured: mobilenetv4 digits after 1 epoch, 0.158 on 1 thread vs 0.136 on 2), and on
# cores already busy OpenMP's barriers make multi-threaded small ops up to 20x slower.
QUICK_THREADS = 1
# ...and runs that many jobs at a time, each in its own process: 2 idle cores do two jobs at once.
QUICK_WORKERS = 2


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


def train_command(cfg: TrainConfig) -> str:
    """The `visionbench train` line that reruns one job (time budget included)."""
    parts = ["visionbench", "train", cfg.task, "--model", cfg.model, "--data", cfg.data]
    parts += ["--seed", str(cfg.seed)]
    for name in ("epochs", "batch_size", "lr", "time_budget", "img_size", "train_fraction"):
        v = getattr(cfg, name)
        if v is not None:
            parts += [f"--{name.replace('_', '-')}", f"{v:g}" if isinstance(v, float) else str(v)]
    if cfg.device != "cpu":
        parts += ["--device", cfg.device]
    for k, v in cfg.task_options.items():
        parts += ["--degradation", str(v)] if k == "degradation" else ["--task-option", f"{k}={v}"]
    for k, v in cfg.data_options.items():
        parts += ["--data-option", f"{k}={v}"]
    for k, v in cfg.model_kwargs.items():
        parts += ["--model-arg", f"{k}={v}"]
    return shlex.join(parts)


class Phases:
    """Where a suite's time goes: training, evaluation (validation, test scoring, sampling and
    FID, pictures), profiling, challenge analyses, report, and the rest (planning, start-up).

    Totals go to suite.json and the console; each run's own share to its status.json (and so
    to results.json): `train_seconds`, `evaluation_seconds`, `profiling_seconds`, ...
    """

    ORDER = ("training", "evaluation", "profiling", "challenges", "report")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(self.ORDER, 0.0)
        self.evaluation_by_task: dict[str, float] = {}

    def add_training(self, run: RunDir, status: dict, wall: float) -> None:
        """Split one `train()` call into training (the loop) and evaluation (everything else)."""
        train = float(status.get("train_seconds") or 0.0)
        evaluation = max(0.0, wall - train)
        self.seconds["training"] += train
        self.seconds["evaluation"] += evaluation
        task = run.path.parent.name
        self.evaluation_by_task[task] = self.evaluation_by_task.get(task, 0.0) + evaluation
        _update_status(run, evaluation_seconds=round(evaluation, 3))

    @contextlib.contextmanager
    def timed(self, phase: str, run: RunDir | None = None):
        t0 = time.time()
        try:
            yield
        finally:
            seconds = time.time() - t0
            self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
            if run is not None:
                _update_status(run, **{f"{phase}_seconds": round(seconds, 3)})

    def raw(self) -> dict:
        return {"seconds": dict(self.seconds), "evaluation_by_task": dict(self.evaluation_by_task)}

    def merge(self, raw: dict) -> None:
        """Add a job's phases (from run_job, possibly in another process)."""
        for k, v in raw.get("seconds", {}).items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v
        for k, v in raw.get("evaluation_by_task", {}).items():
            self.evaluation_by_task[k] = self.evaluation_by_task.get(k, 0.0) + v

    def summary(self, total: float) -> dict:
        out = {k: round(v, 1) for k, v in self.seconds.items()}
        out["other"] = round(max(0.0, total - sum(self.seconds.values())), 1)
        out["total"] = round(total, 1)
        out["evaluation_by_task"] = {k: round(v, 1) for k, v in self.evaluation_by_task.items()}
        return out

    def table(self, total: float) -> str:
        s = self.summary(total)
        by_task = ", ".join(f"{k} {v:.0f} s" for k, v in s["evaluation_by_task"].items())
        summed = sum(s[k] for k in (*self.ORDER, "other"))  # > total when jobs overlap
        lines = ["where the time went (seconds summed over jobs, share of that sum):"]
        for phase in (*self.ORDER, "other"):
            share = 100 * s[phase] / summed if summed > 0 else 0.0
            note = f"  ({by_task})" if phase == "evaluation" and by_task else ""
            lines.append(f"  {phase:<11} {s[phase]:7.1f} s {share:5.1f}%{note}")
        lines.append(f"  {'wall':<11} {s['total']:7.1f} s")
        return "\n".join(lines)


def _update_status(run: RunDir, **fields) -> None:
    run.write_json(run.status_file, {**run.status(), **fields})


def _work_note(status: dict) -> str:
    """', 1.2k steps, 3.4 TFLOP' for the progress line: the work the job did."""
    steps, flops = status.get("steps"), status.get("train_flops")
    note = f", {steps} steps" if steps is not None else ""
    return note + (f", {flops / 1e12:.3g} TFLOP" if flops else "")


@dataclasses.dataclass(frozen=True)
class SuiteOptions:
    """How a suite runs (run_suite's options past the suite and the output folder)."""

    quick: bool = True
    device: str = "cpu"
    seeds: int = 1
    force: bool = False
    cap: float | None = None  # quick mode's per-job training safety net, seconds
    workers: int | None = None  # jobs at a time (a local Ray instance: its CPUs)
    profile: bool = True
    command: str | None = None
    shard: tuple[int, int] | None = None
    data_root: str | Path | None = None
    executor: str = "local"  # see executors.EXECUTORS
    address: str | None = None  # executor "ray": the cluster to join; None starts one here

    def resolved(self) -> SuiteOptions:
        """The defaults that depend on the mode filled in: quick mode's cap and workers."""
        cap = QUICK_JOB_CAP_SECONDS if self.cap is None and self.quick else self.cap
        workers = self.workers
        if workers is None:
            workers = min(QUICK_WORKERS, os.cpu_count() or 1) if self.quick else 1
        return dataclasses.replace(self, cap=cap, workers=workers)


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


def run_job(
    cfg: TrainConfig, device: str, profile: bool, quick: bool = True
) -> tuple[str, bool, dict]:
    """Train, profile and analyse one job: (progress-line text, succeeded, phase seconds).

    A failure is recorded in the run's status.json and returned, never raised (the suite goes
    on); an interrupt is raised, leaving the run resumable from its checkpoint.
    """
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    run = RunDir(Path(cfg.run_dir))
    phases = Phases()
    t0 = time.time()
    try:
        from ..tasks.workflow import train

        result = train(cfg)
        phases.add_training(run, result.status, time.time() - t0)
        run.set_status("done", command=train_command(cfg))
        msg = _summary(run, result.metrics) + _work_note(result.status)
        if profile and cfg.train_fraction is None:  # same architecture as its full run
            with phases.timed("profiling", run):
                msg += _profile(run, device)
        if profile and _wants_challenges(run):
            with phases.timed("challenges", run):
                msg += _challenges(run, device, quick)[0]
        stop = result.status.get("stopped")
        note = (
            f" [yellow](cut by the {cfg.time_budget:g} s cap: not comparable)[/yellow]"
            if stop == "time_budget"
            else ""
        )
        return f"{msg} in {time.time() - t0:.0f} s{note}", True, phases.raw()
    except KeyboardInterrupt:
        raise
    except Exception as e:  # a failed job is recorded and the suite goes on
        why = str(e) if isinstance(e, VisionbenchError) else f"{type(e).__name__}: {e}"
        if not run.lock_file.exists():  # not another process's folder
            run.create()
            run.set_status("failed", error=why)
        return f"[red]failed[/red]: {why}", False, phases.raw()


def _summary(run: RunDir, metrics: dict) -> str:
    """The run's ranking metric (the task instance's: super-resolution ranks by psnr_y)."""
    key = run.read_json(run.path / "run.json").get("ranking_metric")
    if key not in metrics:
        key = next((k for k in metrics if isinstance(metrics[k], (int, float))), None)
    return f"{key} {metrics[key]:.4g}" if key else "no metrics"


def _profile(run: RunDir, device: str) -> str:
    """Profile a finished run; a profiling failure is recorded, never fails the job."""
    from ..analysis.profile import profile_run

    try:
        p = profile_run(run.path, device=device, quick=True)
    except Exception as e:
        run.write_json(run.profile, {"error": f"{type(e).__name__}: {e}"})
        return f", [yellow]profile failed: {type(e).__name__}: {e}[/yellow]"
    return f", {p['params'] / 1e6:.2g} M params, {p['latency_ms']['median']:.2g} ms/image"


def _wants_challenges(run: RunDir) -> bool:
    """Finished runs of a task that measures the challenges, on the full training split
    (fraction runs feed only the data-efficiency curve; the full-data run is analysed)."""
    from ..tasks.base import TASKS

    meta = run.read_json(run.path / "run.json")
    task = meta.get("task")
    if task not in TASKS or not TASKS.get(task).challenges or not run.weights.exists():
        return False
    return _config_value(run, "train_fraction") is None


def _config_value(run: RunDir, key: str):
    try:
        return read_record(run.path).config.get(key)
    except VisionbenchError:
        return None


def _status(run: RunDir) -> str | None:
    try:
        return run.status().get("status")
    except VisionbenchError:  # a damaged status.json: the job runs again
        return None


def _challenges(run: RunDir, device: str, quick: bool = True) -> tuple[str, float]:
    """The challenges of a finished run (quick or full form); a failure is recorded, never
    fails the job. Returns the progress-line note and the seconds it took."""
    from ..analysis.challenges import FULL, QUICK, challenges_run

    t0 = time.time()
    try:
        c = challenges_run(run.path, device=device, form=QUICK if quick else FULL)
    except Exception as e:
        run.write_json(run.challenges, {"error": f"{type(e).__name__}: {e}"})
        return f", [yellow]challenges failed: {type(e).__name__}: {e}[/yellow]", time.time() - t0
    err = (c["corruptions"].get("errors") or {}).get("mean_error")
    note = ", corruption error " + (f"{err:.3f}" if err is not None else "–")
    sal = c.get("saliency")
    if sal:
        ok = sum(m["beats_random"] for m in sal["methods"].values())
        note += f", saliency beats random {ok}/{len(sal['methods'])}"
    return note, time.time() - t0


def _index(out: str | Path) -> None:
    try:
        from .store import RunStore

        RunStore(Path(out)).refresh()
    except ImportError:
        pass


def _write_json(path: Path, data: dict) -> None:
    write_json(path, data, sort_keys=False)  # a unique temporary name: shards share a folder
