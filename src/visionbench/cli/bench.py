"""visionbench bench: the main job."""

from __future__ import annotations

import argparse

from ..bench.runner import run_suite
from .common import console, parse_kv


def cmd_bench(args: argparse.Namespace) -> int:
    only = {
        k: str(v) for k, v in parse_kv(args.only.split(",") if args.only else [], "--only").items()
    }
    report = run_suite(
        args.suite,
        args.out,
        quick=not args.full,
        device=args.device,
        only=only,
        seeds=args.seeds,
        force=args.force,
    )
    console.print(f"report: [bold]{report}[/bold]")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="run a suite (default: the review suite) and write its report",
        description="Train and evaluate every job of a suite into OUT/<suite>/, then write "
        "report.md and results.json there. Finished jobs are skipped on rerun; a failed job is "
        "recorded and the suite goes on.",
        epilog="Example: visionbench bench --suite review --quick --only family=classic_cnn",
    )
    p.add_argument("--suite", default="review", help="suite name (see: visionbench list suites)")
    p.add_argument("--out", default="runs", help="output folder (default runs/)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick", action="store_true", default=True, help="configs sized for 2 CPU cores (default)"
    )
    mode.add_argument("--full", action="store_true", help="fuller configs, for a GPU")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument(
        "--only", help="filter: family=...,task=...,model=...,data=... ('|' separates alternatives)"
    )
    p.add_argument("--seeds", type=int, default=1, help="repeat each job with N seeds")
    p.add_argument("--force", action="store_true", help="rerun jobs that finished before")
    p.set_defaults(func=cmd_bench)
