"""What `bench --executor ray` costs over the local process pool, on one machine.

Two measurements, each printed as a table:

1. trivial jobs: N tasks that each import what a suite job imports (visionbench's training
   workflow: torch, the registries) and return, run through the process pool `bench` uses
   (ProcessPoolExecutor, spawn, W workers) and through Ray started the way `bench --executor ray`
   starts it (a local instance of W CPUs, one task per job asking for 1 CPU). Reported: start-up
   (pool created / ray.init returned), the first result (worker processes started and imported),
   the rest (N-1 tasks on warm workers, per task), shut-down, and the total per job;
2. with `--suite N`: a real suite of N of the smallest jobs (LeNet-5 on digits, one epoch, no
   profiling), `run_suite` with each executor into a fresh folder; wall seconds and their
   difference per job, and whether results.json's metrics agree.

Rounds alternate the order of the two executors.

    PYTHONPATH=src python benchmarks/ray_overhead.py --jobs 16 --workers 2 --rounds 3
    PYTHONPATH=src python benchmarks/ray_overhead.py --jobs 16 --suite 8 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def trivial_job(i: int) -> int:
    """A job that does no work: only the imports a real one pays once per worker process."""
    import visionbench.tasks.workflow  # noqa: F401  (torch, the model and task registries)

    return i


def pool_round(jobs: int, workers: int) -> dict:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from visionbench.bench.executors import _worker_init

    t0 = time.perf_counter()
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_worker_init
    )
    t_start = time.perf_counter()
    futures = [pool.submit(trivial_job, i) for i in range(jobs)]
    done = as_completed(futures)
    next(done).result()
    t_first = time.perf_counter()
    for f in done:
        f.result()
    t_all = time.perf_counter()
    pool.shutdown()
    t_end = time.perf_counter()
    return _times(t0, t_start, t_first, t_all, t_end, jobs)


def ray_round(jobs: int, workers: int) -> dict:
    import ray

    from visionbench.bench.executors import _connect
    from visionbench.bench.jobs import SuiteOptions

    t0 = time.perf_counter()
    _connect(ray, SuiteOptions(workers=workers))  # the local instance bench --executor ray starts
    t_start = time.perf_counter()
    task = ray.remote(trivial_job).options(num_cpus=1, max_retries=2)
    waiting = [task.remote(i) for i in range(jobs)]
    ready, waiting = ray.wait(waiting, num_returns=1)
    ray.get(ready)
    t_first = time.perf_counter()
    while waiting:
        ready, waiting = ray.wait(waiting, num_returns=1)
        ray.get(ready)
    t_all = time.perf_counter()
    ray.shutdown()
    t_end = time.perf_counter()
    return _times(t0, t_start, t_first, t_all, t_end, jobs)


def _times(t0, t_start, t_first, t_all, t_end, jobs) -> dict:
    return {
        "start": t_start - t0,
        "first": t_first - t_start,
        "per_warm_task_ms": 1000 * (t_all - t_first) / max(1, jobs - 1),
        "shutdown": t_end - t_all,
        "total": t_end - t0,
        "per_job": (t_end - t0) / jobs,
    }


def suite_round(executor: str, n: int, workers: int, root: Path) -> tuple[float, dict]:
    import yaml

    from visionbench.bench.runner import run_suite

    job = {"task": "classification", "model": "lenet5", "data": "digits", "epochs": 1}
    jobs = [job | {"seed": s} for s in range(n)]
    spec = root / "overhead.yaml"
    spec.write_text(yaml.safe_dump({"name": "overhead", "description": "overhead", "jobs": jobs}))
    out = root / f"runs-{executor}-{time.time_ns()}"
    t0 = time.perf_counter()
    run_suite(str(spec), out, quick=True, profile=False, workers=workers, executor=executor)
    wall = time.perf_counter() - t0
    rows = json.loads((out / "overhead" / "results.json").read_text())
    return wall, {r["run"]: r["metrics"] for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=16, help="trivial jobs per round")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--suite", type=int, default=0, help="also a real suite of N LeNet-5 jobs")
    args = ap.parse_args()
    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start, "
        f"{args.jobs} trivial jobs, {args.workers} workers, {args.rounds} rounds"
    )
    results: dict[str, list[dict]] = {"process pool": [], "ray": []}
    for r in range(args.rounds):
        order = ["process pool", "ray"] if r % 2 == 0 else ["ray", "process pool"]
        for name in order:
            fn = pool_round if name == "process pool" else ray_round
            results[name].append(fn(args.jobs, args.workers))
    keys = ("start", "first", "per_warm_task_ms", "shutdown", "total", "per_job")
    print("\nmedians over rounds (seconds unless ms):")
    print("| executor | start-up s | first result s | per warm task ms | shut-down s | total s "
          "| per job s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, rounds in results.items():
        cells = " | ".join(f"{statistics.median(x[k] for x in rounds):.3g}" for k in keys)
        print(f"| {name} | {cells} |")
    if args.suite:
        walls: dict[str, list[float]] = {"local": [], "ray": []}
        metrics: dict[str, dict] = {}
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                for ex in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                    wall, metrics[ex] = suite_round(ex, args.suite, args.workers, Path(tmp))
                    walls[ex].append(wall)
        local, ray_ = statistics.median(walls["local"]), statistics.median(walls["ray"])
        print(f"\nsuite of {args.suite} LeNet-5 jobs (1 epoch, no profiling), median wall:")
        print(f"local process pool {local:.1f} s, ray {ray_:.1f} s: ray costs "
              f"{ray_ - local:+.1f} s per suite, {(ray_ - local) / args.suite:+.2f} s per job; "
              f"metrics equal: {metrics['local'] == metrics['ray']}")  # fmt: skip
        print("walls:", {k: [round(w, 1) for w in v] for k, v in walls.items()})
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
