"""visionbench list families|models|datasets|metrics|tasks|suites."""

from __future__ import annotations

import argparse

from .common import print_json, print_table

COLUMNS = {
    "families": [  # review_*: the review's Table 1 cells, quoted; the rest are our notes
        "key",
        "name",
        "review_key_characteristics",
        "review_strengths",
        "review_limitations",
        "review_typical_applications",
        "review_representative_work",
        "characteristics",
        "strengths",
        "limitations",
        "applications",
        "citation",
    ],
    "models": ["name", "family", "tasks", "img", "source", "description"],
    "datasets": ["name", "tasks", "format", "embedded", "description", "how_to_point"],
    "metrics": ["name", "task", "definition", "settings", "reference", "equation"],
    "tasks": ["name", "description", "ranking_metric", "models", "datasets"],
    "suites": ["name", "description", "jobs"],
}
# Free-text columns, dropped first when the terminal is too narrow for the table.
LONG_TEXT = (
    "characteristics",
    "review_key_characteristics",
    "review_strengths",
    "review_limitations",
    "review_typical_applications",
    "review_representative_work",
    "strengths",
    "limitations",
    "applications",
    "citation",
    "description",
    "how_to_point",
    "definition",
    "settings",
    "reference",
    "equation",
    "source",
    "models",
    "datasets",
    "jobs",
)


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "families":  # plain text: no torch, no model zoo to import
        from ..families import FAMILIES

        rows = [f.to_dict() for f in FAMILIES]
    else:
        from .. import api

        rows = api.list_entries(args.what)
    for key in ("family", "task"):
        value = getattr(args, key, None)
        if value:
            rows = [r for r in rows if value == r.get(key) or value in (r.get(key + "s") or [])]
    if args.what == "models" and not args.no_costs:
        from ..models.costs import model_costs

        costs = model_costs([r["name"] for r in rows])
        rows = [r | {k: costs[r["name"]].get(k) for k in ("params", "gflops")} for r in rows]
    if args.json:
        print_json(rows)
    else:
        if args.what == "models":  # short headers and readable sizes in the table only
            rows = [
                r
                | {"img": r.get("default_img_size")}
                | ({"params": f"{r['params'] / 1e6:.2f}M"} if r.get("params") else {})
                for r in rows
            ]
        columns = [c for c in COLUMNS[args.what] if any(c in r for r in rows)] or COLUMNS[args.what]
        extra = [c for c in ("params", "gflops") if any(c in r for r in rows)]
        print_table(
            rows,
            columns[:2] + extra + columns[2:],
            title=f"visionbench {args.what} ({len(rows)})",
            optional=LONG_TEXT,
        )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "list",
        help="list families, models, datasets, metrics, tasks or suites",
        description="Print a registry as a table, or as JSON with --json.",
    )
    p.add_argument("what", choices=list(COLUMNS))
    p.add_argument("--family", help="models: only this family (e.g. capsule)")
    p.add_argument("--task", help="models/datasets/metrics: only this task")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument(
        "--no-costs",
        action="store_true",
        help="models: skip params/GFLOPs (measured once at the default input size, then cached)",
    )
    p.set_defaults(func=cmd_list)
