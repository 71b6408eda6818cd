"""visionbench datasets inspect PATH: detect, validate and summarise a dataset on disk."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DataError
from .common import console, print_json, print_table


def _show(rep: dict) -> None:
    console.print(f"[bold]{rep['path']}[/bold]: format [bold]{rep['format']}[/bold]")
    splits = rep["splits"]
    rows = [{"split": s, "images": n} for s, n in splits.items()]
    rows.append({"split": "total", "images": sum(splits.values())})
    print_table(rows, ["split", "images"], title="images per split")
    classes = rep["classes"]
    if classes:
        names = list(dict.fromkeys(c for per in classes.values() for c in per))
        cols = list(classes)
        shown = names if len(names) <= 30 else names[:30]
        table = [{"class": c, **{s: classes[s].get(c, 0) for s in cols}} for c in shown]
        title = "per class" + ("" if len(names) <= 30 else f" (first 30 of {len(names)})")
        print_table(table, ["class", *cols], title=title)
    sizes = list(rep["image_sizes"].items())
    size_rows = [{"size (WxH)": k, "images": v} for k, v in sizes[:8]]
    if len(sizes) > 8:
        size_rows.append(
            {
                "size (WxH)": f"... {len(sizes) - 8} more sizes",
                "images": sum(v for _, v in sizes[8:]),
            }
        )
    if size_rows:
        print_table(size_rows, ["size (WxH)", "images"], title="image sizes")
    if rep["modes"]:
        console.print("modes: " + ", ".join(f"{m} {n}" for m, n in rep["modes"].items()))
    if rep["annotations"]:
        console.print(
            "annotations: " + ", ".join(f"{k} {v}" for k, v in rep["annotations"].items())
        )
    for w in rep["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}", soft_wrap=True)
    for p in rep["problems"][:20]:
        console.print(f"[red]problem:[/red] {p}", highlight=False, soft_wrap=True)
    if len(rep["problems"]) > 20:
        console.print(f"[red]... and {len(rep['problems']) - 20} more problems[/red]")
    if not rep["problems"]:
        console.print("[green]ok:[/green] no problems found")


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..data.validate import inspect

    rep = inspect(Path(args.path).expanduser(), args.format, decode=not args.headers_only)
    if args.json:
        print_json(rep)
    else:
        _show(rep)
    problems = rep["problems"]
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "datasets",
        help="inspect datasets on disk",
        description="Work with datasets on disk. See also: visionbench list datasets.",
    )
    dsub = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    i = dsub.add_parser(
        "inspect",
        help="detect a dataset's format, validate every file, print a summary",
        description="Detect the format of PATH, open every image and annotation, and print counts "
        "per split and class, image sizes and modes. Exits non-zero naming the first broken "
        "file and the reason.",
        epilog="Example: visionbench datasets inspect ~/data/fashion-mnist",
    )
    i.add_argument("path", help="dataset folder (or a COCO JSON file)")
    i.add_argument("--format", help="dataset name when detection guesses wrong (e.g. cifar10)")
    i.add_argument(
        "--headers-only",
        action="store_true",
        help="read image headers instead of decoding every image (fast; misses truncation)",
    )
    i.add_argument("--json", action="store_true", help="print the summary as JSON")
    i.set_defaults(func=cmd_inspect)
