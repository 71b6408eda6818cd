"""Run a suite: each job in its own run folder, failures recorded, finished jobs skipped on rerun.

A killed suite loses nothing: finished jobs keep status "done" and are skipped, and an unfinished
job resumes from its last per-epoch checkpoint. In quick mode every job gets a time budget sized
so the whole suite fits the suite budget (10 minutes on 2 CPU cores by default).
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..config import TrainConfig, check_options
from ..engine.progress import console
from ..errors import VisionbenchError
from ..files import write_json
from ..runs import FolderLock, RunDir, path_under, read_record, safe_name
from .shards import shard_meta_path, shard_of
from .suites import Job, Suite, get_suite, quick_selection

QUICK_SUITE_SECONDS = 480.0  # training + evaluation + profiling of the whole quick suite
JOB_BUDGET_RANGE = (4.0, 60.0)  # seconds of training one quick job may get
FIRST_OVERHEAD_GUESS = 8.0  # data, evaluation, pictures and profile of a job, before measuring


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


def pick_threads() -> int:
    """The faster of torch's default thread count and one thread, timed on a small conv net.

    On a machine whose cores are already busy, OpenMP's barriers make many small multi-threaded
    ops up to 20x slower than one thread (measured here: DDPM sampling under a load of 10 on
    2 cores); on an idle machine the default wins. Half a second of timing decides.
    """
    import torch

    default = torch.get_num_threads()
    if default <= 1:
        return default
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 3, padding=1)
    )
    x = torch.rand(8, 3, 32, 32)
    best: dict[int, float] = {}
    with torch.no_grad():
        for n in (default, 1, default, 1):
            torch.set_num_threads(n)
            t0 = time.perf_counter()
            for _ in range(10):
                net(x)
            best[n] = min(best.get(n, float("inf")), time.perf_counter() - t0)
    torch.set_num_threads(default)
    return min(best, key=best.get)


class Budget:
    """Per-job training seconds that keep a quick suite inside its total time."""

    def __init__(
        self,
        total: float | None,
        jobs: int,
        start: float | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.total, self.left, self.clock = total, jobs, clock  # clock: injectable for tests
        self.start = clock() if start is None else start  # the suite's start: planning counts
        self.overheads: list[float] = []

    def next(self, own: float | None) -> float | None:
        if self.total is None:
            return own
        overhead = max(self.overheads[-3:], default=FIRST_OVERHEAD_GUESS)
        remaining = self.total - (self.clock() - self.start)
        share = remaining / max(1, self.left) - overhead
        lo, hi = JOB_BUDGET_RANGE
        budget = round(min(hi, max(lo, share)), 1)
        return min(budget, own) if own else budget

    def finished(self, wall: float, train: float | None) -> None:
        self.left -= 1
        if train is not None:
            self.overheads.append(max(0.0, wall - train))

    def outside(self, seconds: float) -> None:
        """Time spent outside the shared budget (side jobs, challenge analyses): the total grows
        by as much, so the suite's own jobs keep the training time they had without it."""
        if self.total is not None:
            self.total += seconds


def run_suite(
    suite_name: str = "review",
    out: str | Path = "runs",
    *,
    quick: bool | None = True,
    device: str = "cpu",
    only: dict[str, str] | None = None,
    seeds: int = 1,
    force: bool = False,
    budget: float | None = None,
    profile: bool = True,
    command: str | None = None,
    shard: tuple[int, int] | None = None,
    data_root: str | Path | None = None,
) -> Path:
    """Run (or finish) a suite into OUT/<suite>/ and write its report; returns report.html.

    With `shard=(I, N)`, run only the I-th of N slices of the jobs and write that shard's
    metadata instead of the report (`visionbench report` merges the shards); returns the folder.
    `quick=None` takes the suite's own default mode (the standard suite: full recipes);
    `data_root` is the folder a suite over real data looks in.
    One process runs a suite folder (or one shard of it) at a time: a lock, see runs.FolderLock.
    """
    from ..environment import resolve_device

    t_start = time.time()
    suite: Suite = get_suite(suite_name)
    resolve_device(device)  # fail before any job on a bad --device
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
    n_suite = len(jobs)
    if shard is not None:
        jobs = shard_of(jobs, shard)
    suite_dir = path_under(out, safe_name(suite.name, "suite name"))
    for job, seed in jobs:  # every job's options and folder checked before the first one runs
        job_config(job, suite_dir, seed, quick, device)
    lock = ".lock" if shard is None else f".lock-shard{shard[0]}of{shard[1]}"
    with FolderLock(suite_dir, "suite", lock):  # one bench per suite folder (or shard) at a time
        return _run_jobs(
            suite, suite_dir, jobs, n_suite, notes, out, quick, device, seeds, force, budget,
            profile, command, t_start, shard, data_root,
        )  # fmt: skip


def _run_jobs(
    suite, suite_dir, jobs, n_suite, notes, out, quick, device, seeds, force, budget, profile,
    command, t_start, shard, data_root,
) -> Path:  # fmt: skip
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..environment import describe, resolve_device
    from .report import write_report

    if budget is None and quick:
        budget = QUICK_SUITE_SECONDS * (len(jobs) / n_suite if shard else 1.0)
    threads = pick_threads() if quick else None
    if threads:
        import torch

        torch.set_num_threads(threads)
    meta = {
        "suite": suite.name,
        "description": suite.description,
        "notes": notes,
        "command": command or shlex.join(["visionbench", *sys.argv[1:]]),
        "mode": "quick" if quick else "full",
        "device": device,
        "seeds": seeds,
        "suite_budget_seconds": budget,
        "threads": threads,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "environment": describe(resolve_device(device)),
    }
    if suite.needs_data_root:
        from .standard import find_sets

        meta["data_root"] = str(data_root)
        meta["review_datasets"] = find_sets(data_root).rows()
    meta_path = suite_dir / "suite.json"
    if shard is not None:  # each shard writes only its own file; `visionbench report` merges
        meta["shard"] = list(shard)
        meta_path = shard_meta_path(suite_dir, shard)
    _write_json(meta_path, meta)
    todo = [(j, s) for j, s in jobs if force or _status(RunDir(job_dir(suite_dir, j, s))) != "done"]
    shared = sum(1 for j, _ in todo if j.shares_budget)
    plan = Budget(budget if quick else None, shared, start=t_start)
    failed = 0
    started = time.time()
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
                    extra = _profile(run, device)
                if profile and _wants_challenges(run) and not run.challenges.exists():
                    note, seconds = _challenges(run, device, quick)
                    extra += note
                    plan.outside(seconds)
                bar.console.print(f"{label}: done earlier, skipped{extra}")
                bar.advance(overall)
                continue
            cfg.threads = cfg.threads or threads
            own = cfg.time_budget
            cfg.time_budget = plan.next(own) if job.shares_budget else own
            # an unfinished job continues from its last checkpoint instead of starting over
            cfg.resume = not force and (run.checkpoint / "state.pt").exists()
            cfg.force = force or not cfg.resume  # the job is not done: an older try is replaced
            bar.update(overall, description=f"{label} (budget {cfg.time_budget or '-'} s)")
            t0 = time.time()
            train_s = None
            outside = 0.0  # seconds that do not count against the shared budget
            try:
                from ..tasks.workflow import train

                result = train(cfg)
                train_s = result.status.get("train_seconds")
                run.set_status("done", command=train_command(cfg))
                msg = _summary(run, result.metrics)
                if profile and cfg.train_fraction is None:  # same architecture as its full run
                    msg += _profile(run, device)
                if profile and _wants_challenges(run):
                    note, outside = _challenges(run, device, quick)
                    msg += note
                stop = result.status.get("stopped")
                note = f" [yellow](stopped by {stop})[/yellow]" if stop == "time_budget" else ""
                bar.console.print(f"{label}: {msg} in {time.time() - t0:.0f} s{note}")
            except KeyboardInterrupt:
                raise
            except Exception as e:  # a failed job is recorded and the suite goes on
                failed += 1
                why = str(e) if isinstance(e, VisionbenchError) else f"{type(e).__name__}: {e}"
                if not run.lock_file.exists():  # not another process's folder
                    run.create()
                    run.set_status("failed", error=why)
                bar.console.print(f"{label}: [red]failed[/red]: {why}", highlight=False)
            if job.shares_budget:
                plan.finished(time.time() - t0 - outside, train_s)
                plan.outside(outside)
            else:
                plan.outside(time.time() - t0)
            bar.advance(overall)
    meta |= {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_seconds": round(time.time() - started, 1),
    }
    _write_json(meta_path, meta)
    console.print(
        f"suite '{suite.name}': {len(jobs)} jobs, {failed} failed, {time.time() - started:.0f} s"
    )
    if shard is not None:
        return suite_dir
    report = write_report(suite_dir)
    _index(out)
    return report


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
