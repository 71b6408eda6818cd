"""visionbench report: (re)write a suite's report from its run folders, merging shards."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import VisionbenchError
from .common import console


def cmd_report(args: argparse.Namespace) -> int:
    from ..bench.report import write_report
    from ..bench.shards import merge_meta
    from ..bench.store import RunStore

    suite_dir = Path(args.suite_dir)
    if not suite_dir.is_dir():
        raise VisionbenchError(f"no such suite folder: {suite_dir}")
    if any(suite_dir.glob("suite-shard-*-of-*.json")):
        meta = merge_meta(suite_dir)
        shards = meta["shards"]
        missing = f", missing {shards['missing']}" if shards["missing"] else ""
        console.print(f"merged {len(shards['finished'])} of {shards['of']} shards{missing}")
    elif not (suite_dir / "suite.json").exists():
        raise VisionbenchError(f"{suite_dir} is not a suite folder (no suite.json, no shards)")
    report = write_report(suite_dir)
    RunStore(suite_dir.parent).refresh()
    console.print(f"report: [bold]{report}[/bold]")
    console.print(f"        {report.with_suffix('.md')}, {report.parent / 'results.json'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write a suite's report from its run folders (merges `bench --shard` slices)",
        description="Read every run folder under SUITE_DIR (e.g. runs/review) and write "
        "report.html, report.md and results.json there. Shards written by `bench --shard I/N` "
        "into the same folder are merged first; a shard not finished yet is named in the report.",
        epilog="Example: visionbench bench --shard 1/2 & visionbench bench --shard 2/2; "
        "visionbench report runs/review",
    )
    p.add_argument("suite_dir", help="the suite's folder: OUT/SUITE (default suite: review)")
    p.set_defaults(func=cmd_report)
