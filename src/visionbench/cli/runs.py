"""visionbench runs ls | runs show RUN, and visionbench compare RUN RUN ... (over the SQLite index)."""

from __future__ import annotations

import argparse
import sys

from ..bench.store import RunStore
from .common import console, fmt, print_json, print_table


def _store(args) -> RunStore:
    """The index over --root, refreshed; damaged run folders are reported on stderr and left out."""
    store = RunStore(args.root)
    store.refresh()
    if store.rebuilt:
        print(f"visionbench: note: {store.db} was unreadable and was rebuilt", file=sys.stderr)
    for line in store.skipped:  # one plain line each, never wrapped
        print(f"visionbench: skipped {line}", file=sys.stderr)
    return store


def cmd_ls(args: argparse.Namespace) -> int:
    rows = _store(args).query(
        suite=args.suite, task=args.task, model=args.model, family=args.family, status=args.status
    )
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        r["score"] = f"{r['ranking_metric']} {fmt(r['score'])}" if r["score"] is not None else ""
        r["params"] = f"{r['params'] / 1e6:.3g} M" if r["params"] else ""
    print_table(
        rows,
        ["path", "family", "status", "score", "params", "latency_ms"],
        title=f"runs under {args.root} ({len(rows)})",
        optional=("family", "params", "latency_ms"),
    )
    return 0


def _flat(run_path) -> dict:
    from ..bench.store import run_record
    from ..runs import read_record

    r = read_record(run_path)
    rec = run_record(r.path, r.path.parent)
    rec["path"] = str(r.path)
    rec["metrics"], rec["profile"] = r.metrics, r.profile
    rec["error"], rec["command"] = r.status.get("error"), r.status.get("command")
    return rec


def comparison_rows(records: list[dict]) -> tuple[list[dict], list[str]]:
    """Quantities as rows, runs as columns: metadata, every metric, then the profile."""
    cols = [f"{i + 1}: {r['model']}" for i, r in enumerate(records)]
    rows = []
    for key in ("task", "dataset", "family", "seed", "status", "train_seconds"):
        rows.append({"quantity": key, **{c: r.get(key) for c, r in zip(cols, records)}})
    metric_keys = list(dict.fromkeys(k for r in records for k in r["metrics"]))
    for k in metric_keys:
        rows.append({"quantity": k, **{c: r["metrics"].get(k) for c, r in zip(cols, records)}})
    for label, get in (
        ("params (M)", lambda p: p.get("params", 0) / 1e6 if p.get("params") else None),
        ("GFLOPs / image", lambda p: p.get("flops", 0) / 1e9 if p.get("flops") else None),
        ("latency ms (b1, median)", lambda p: (p.get("latency_ms") or {}).get("median")),
        ("images/s", lambda p: (p.get("throughput") or {}).get("images_per_s")),
        ("weights MiB", lambda p: p.get("weights_mb")),
    ):
        rows.append({"quantity": label, **{c: get(r["profile"]) for c, r in zip(cols, records)}})
    return rows, ["quantity", *cols]


def cmd_show(args: argparse.Namespace) -> int:
    path = _store(args).resolve(args.run)
    rec = _flat(path)
    if args.json:
        print_json(rec)
        return 0
    rows, cols = comparison_rows([rec])
    print_table(rows, cols, title=str(path))
    if rec.get("error"):
        console.print(f"[red]error:[/red] {rec['error']}")
    if rec.get("command"):
        console.print(f"command: {rec['command']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    store = _store(args)
    records = [_flat(store.resolve(r)) for r in args.runs]
    if args.json:
        print_json(records)
        return 0
    rows, cols = comparison_rows(records)
    print_table(rows, cols, title="comparison")
    for i, r in enumerate(records, 1):
        console.print(f"{i}: {r['path']}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "runs",
        help="list and show runs (an SQLite index over the run folders)",
        description="List the runs under a folder, or show one. The index (ROOT/index.sqlite) "
        "is rebuilt from the run folders each time.",
    )
    rs = p.add_subparsers(dest="runs_command", metavar="ls|show")
    ls = rs.add_parser("ls", help="one line per run, best score first within a task")
    ls.add_argument("--root", default="runs", help="folder of runs (default runs/)")
    for k in ("suite", "task", "model", "family", "status"):
        ls.add_argument(f"--{k}", help=f"only runs with this {k}")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=cmd_ls)
    show = rs.add_parser("show", help="metrics, profile and command of one run")
    show.add_argument(
        "run", help="run folder, or a unique end of its path (e.g. lenet5__digits__s0)"
    )
    show.add_argument("--root", default="runs")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_show)
    p.set_defaults(func=lambda a: p.print_help() or 0)

    c = sub.add_parser(
        "compare",
        help="compare runs side by side: metrics and profile as a table",
        epilog="Example: visionbench compare review/classification/lenet5__digits__s0 "
        "review/classification/resnet18__digits__s0",
    )
    c.add_argument("runs", nargs="+", help="run folders or unique ends of their paths")
    c.add_argument("--root", default="runs", help="folder of runs (default runs/)")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_compare)
