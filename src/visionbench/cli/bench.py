"""visionbench bench: the main job."""

from __future__ import annotations

import argparse
import shlex
import sys

from ..bench.jobs import QUICK_JOB_CAP_SECONDS
from .common import at_least, console, parse_kv


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench.runner import run_suite
    from ..bench.shards import parse_shard

    shard = parse_shard(args.shard) if args.shard else None
    only = {
        k: str(v) for k, v in parse_kv(args.only.split(",") if args.only else [], "--only").items()
    }
    report = run_suite(
        args.suite,
        args.out,
        quick=True if args.quick else (False if args.full else None),
        device=args.device,
        only=only,
        seeds=args.seeds,
        force=args.force,
        cap=args.cap,
        workers=args.workers,
        profile=not args.no_profile,
        command=shlex.join(["visionbench", *sys.argv[1:]]),
        shard=shard,
        data_root=args.data_root,
        executor=args.executor,
        address=args.address,
    )
    if shard is not None:
        console.print(
            f"shard {shard[0]}/{shard[1]} finished in [bold]{report}[/bold]; when every shard "
            f"has, merge them: visionbench report {report}"
        )
        return 0
    console.print(f"report: [bold]{report}[/bold]")
    console.print(f"        {report.with_suffix('.md')}, {report.parent / 'results.json'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run a suite (default: the review suite) and write its report",
        description="Train, evaluate and profile every job of a suite into OUT/<suite>/, then "
        "write report.html, report.md and results.json there. Finished jobs are skipped on "
        "rerun and an interrupted job resumes from its checkpoint; a failed job is recorded and "
        "the suite goes on.",
        epilog="Examples: visionbench bench (the review suite, quick) · "
        "visionbench bench --only family=classic_cnn,task=classification · "
        "visionbench bench --full --device cuda --seeds 3 · "
        "visionbench bench --suite my_suite.yaml · "
        "visionbench bench --executor ray --address auto · "
        "visionbench bench --suite standard --data-root /data --only data=CIFAR-10",
    )
    p.add_argument(
        "--suite",
        default="review",
        help="suite name (see: visionbench list suites) or a suite YAML file",
    )
    p.add_argument("--out", default="runs", help="output folder (default runs/)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        action="store_true",
        help="a fixed amount of training work per job, sized for 2 CPU cores (default, except "
        "for the standard suite)",
    )
    mode.add_argument(
        "--full",
        action="store_true",
        help="the models' full recipes, for a GPU (the standard suite's default)",
    )
    p.add_argument(
        "--data-root",
        metavar="DIR",
        help="standard suite: the folder holding the review's data sets under their usual "
        "names (MNIST/, cifar-10-batches-py/, VOCdevkit/, Set5/, ...); absent ones are skipped",
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument(
        "--only", help="filter: family=...,task=...,model=...,data=... ('|' separates alternatives)"
    )
    p.add_argument("--seeds", type=at_least(1), default=1, help="repeat each job with N seeds")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only the I-th of N deterministic slices of the suite (e.g. a SLURM array "
        "task: --shard $((SLURM_ARRAY_TASK_ID+1))/$SLURM_ARRAY_TASK_COUNT) into the same --out; "
        "then merge with: visionbench report OUT/SUITE",
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="where the jobs run: local (this machine's processes, default) or ray (one Ray task "
        "per job: a local Ray instance of --workers CPUs, or the cluster at --address; the "
        "output folder must be shared by every node). Needs pip install 'visionbench[ray]'",
    )
    p.add_argument(
        "--address",
        metavar="ADDR",
        help="--executor ray: the Ray cluster to join (auto: the one `ray start` began on this "
        "node; or HOST:PORT of its head)",
    )
    p.add_argument("--force", action="store_true", help="rerun jobs that finished before")
    p.add_argument(
        "--cap",
        type=at_least(0, float, inclusive=False),
        metavar="SECONDS",
        help="quick mode: a safety net of seconds of training per job (default "
        f"{QUICK_JOB_CAP_SECONDS:.0f}); a job it "
        "cuts is marked 'cut, not comparable' and not ranked. The work each job does is fixed "
        "(its quick epochs), never the seconds",
    )
    p.add_argument(
        "--workers",
        type=at_least(1, int),
        metavar="N",
        help="jobs at a time, each in its own process (default: quick mode one per CPU core, "
        "at most 2, each on one thread; full mode 1); --executor ray without --address: the "
        "CPUs of the local Ray instance",
    )
    p.add_argument(
        "--no-profile",
        action="store_true",
        help="skip profiling and the challenge analyses (robustness, bias, saliency) "
        "of each trained model",
    )
    p.set_defaults(func=cmd_bench)
