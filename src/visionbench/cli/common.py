"""Helpers shared by subcommands: key=value options, JSON or table output."""

from __future__ import annotations

import argparse
import json
import sys

import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from ..errors import VisionbenchError

console = Console()
MIN_FOLD = 24  # narrowest useful width for a folded free-text column


def parse_kv(items: list[str] | None, what: str) -> dict:
    """['a=1', 'b=x'] -> {'a': 1, 'b': 'x'} with YAML typing of the values."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise VisionbenchError(f"{what} must be KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def at_least(low: float, kind: type = int, inclusive: bool = True):
    """An argparse `type` that refuses numbers below `low` (or equal, when not inclusive)."""

    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {_kind(kind)}, got {text!r}") from None
        if v != v or v < low or (v == low and not inclusive):  # v != v: NaN
            sign = ">=" if inclusive else ">"
            raise argparse.ArgumentTypeError(f"must be {_kind(kind)} {sign} {low:g}, got {text}")
        return v

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _kind(kind: type) -> str:
    return "an integer" if kind is int else "a number"


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return "" if v is None else str(v)


def print_table(
    rows: list[dict], columns: list[str], title: str = "", optional: tuple[str, ...] = ()
) -> None:
    """A table whose short columns never wrap. In a terminal too narrow for every column, the
    `optional` ones are left out, last first, and a caption says so (a name folded over five
    lines is worse than a missing description); a long free-text one stays, folded, where at
    least MIN_FOLD characters are left for it."""
    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    natural = {c: max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)}

    def width(cols) -> int:
        return sum(min(natural[k], 40) + 2 for k in cols) + 1

    shown = [c for c in columns if c not in optional]
    for c in [c for c in columns if c in optional]:
        room = console.width - width(shown)
        if natural[c] + 2 <= room or (natural[c] > 26 and room - 2 >= MIN_FOLD):
            shown.append(c)
    shown = [c for c in columns if c in shown]
    hidden = [c for c in columns if c not in shown]
    caption = f"not shown: {', '.join(hidden)} (wider terminal or --json)" if hidden else None
    table = Table(
        title=title,
        caption=caption,
        box=box.SIMPLE_HEAD,
        header_style="bold",
        pad_edge=False,
        collapse_padding=True,
    )
    for c in shown:
        table.add_column(
            c, overflow="fold", no_wrap=natural[c] <= 26, min_width=min(natural[c], 24)
        )
    for row in cells:
        table.add_row(*(v for v, c in zip(row, columns) if c in shown))
    console.print(table)


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
