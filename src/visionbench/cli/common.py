"""Helpers shared by subcommands: key=value options, JSON or table output."""

from __future__ import annotations

import json
import sys

import yaml
from rich.console import Console
from rich.table import Table

from ..errors import VisionbenchError

console = Console()


def parse_kv(items: list[str] | None, what: str) -> dict:
    """['a=1', 'b=x'] -> {'a': 1, 'b': 'x'} with YAML typing of the values."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise VisionbenchError(f"{what} must be KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return "" if v is None else str(v)


def print_table(rows: list[dict], columns: list[str], title: str = "") -> None:
    table = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(fmt(r.get(c)) for c in columns))
    console.print(table)


def print_json(data) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
