"""One job of a suite: train, profile and analyse it, in whichever process runs it; the options
every job of a suite runs with; and where the time goes (Phases).

Apart from runner.py so that executors.py (the local process pool, Ray) can run a job without
importing the runner that imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import time
from pathlib import Path

from ..config import TrainConfig
from ..errors import VisionbenchError
from ..runs import RunDir, read_record

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
