"""Run a suite: each job in its own run folder, failures recorded, finished jobs skipped on rerun."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from ..config import TrainConfig
from ..engine.progress import console
from ..errors import VisionbenchError
from ..runs import RunDir
from .suites import SUITES, Job, Suite


def select(suite: Suite, only: dict[str, str] | None) -> list[Job]:
    """Filter jobs by `family=...,task=...,model=...,data=...` (comma-separated values allowed)."""
    from ..models.registry import MODELS

    if not only:
        return list(suite.jobs)
    jobs = []
    for job in suite.jobs:
        fields = {
            "task": job.task,
            "model": job.model,
            "data": job.data,
            "family": MODELS.get(job.model).family,
        }
        unknown = set(only) - set(fields)
        if unknown:
            raise VisionbenchError(
                f"--only takes family, task, model or data; got {', '.join(sorted(unknown))}"
            )
        if all(fields[k] in v.split("|") for k, v in only.items()):
            jobs.append(job)
    return jobs


def job_config(job: Job, suite_dir: Path, seed: int, quick: bool, device: str) -> TrainConfig:
    cfg = TrainConfig(
        task=job.task, model=job.model, data=job.data, seed=seed, device=device, quiet=True
    )
    cfg = dataclasses.replace(cfg, **job.overrides(quick))
    cfg.run_dir = str(suite_dir / job.task / f"{job.model}__{job.data}__s{seed}")
    return cfg


def run_suite(
    suite_name: str = "review",
    out: str | Path = "runs",
    *,
    quick: bool = True,
    device: str = "cpu",
    only: dict[str, str] | None = None,
    seeds: int = 1,
    force: bool = False,
) -> Path:
    """Run (or finish) a suite into OUT/<suite>/ and write its report; returns the suite folder."""
    from .report import write_report

    suite = SUITES.get(suite_name)
    suite_dir = Path(out) / suite.name
    suite_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(job, s) for job in select(suite, only) for s in range(job.seed, job.seed + seeds)]
    if not jobs:
        raise VisionbenchError("no job of the suite matches --only")
    started = time.time()
    for i, (job, seed) in enumerate(jobs, 1):
        cfg = job_config(job, suite_dir, seed, quick, device)
        run = RunDir(Path(cfg.run_dir))
        label = f"[{i}/{len(jobs)}] {job.task} · {job.model} · {job.data} · seed {seed}"
        if not force and run.status().get("status") == "done":
            console.print(f"{label}: done earlier, skipped")
            continue
        t0 = time.time()
        try:
            from ..api import train

            with console.status(f"{label} …"):
                result = train(cfg)
            m = result.metrics
            from ..tasks.base import TASKS

            key = TASKS.get(job.task).ranking_metric
            key = key if key in m else next(iter(m))
            console.print(f"{label}: {key} {m[key]:.4g} in {time.time() - t0:.0f} s")
        except Exception as e:  # a failed job is recorded and the suite goes on
            run.create()
            run.set_status("failed", error=f"{type(e).__name__}: {e}")
            console.print(f"{label}: [red]failed[/red]: {type(e).__name__}: {e}")
    console.print(f"suite '{suite.name}' finished in {time.time() - started:.0f} s")
    return write_report(suite, suite_dir, quick=quick)
