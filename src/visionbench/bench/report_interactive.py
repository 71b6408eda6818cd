"""The data behind report.html's interactive parts: sortable, filterable leaderboards, a family
toggle across tables and plots, and plots drawn in the page (SVG) that show values on hover.

The page stays one offline file: this data goes in as JSON inside a <script type=
"application/json"> block (Jinja's tojson escapes it for HTML) and the page's own inline script
draws from it; nothing is fetched.
"""

from __future__ import annotations

import math


def _num(v) -> float | None:
    """A JSON-safe number: NaN and infinities (invalid in JSON) become null."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def board_id(index: int) -> str:
    return f"board-{index}"


def board_dataset(board: dict) -> str:
    """The dataset a board's runs read (a setting such as photos-noise25 names more than that)."""
    runs = [run for row in board["rows"] for run in row["runs"]] + board["failed"]
    return next((r.get("dataset") for r in runs if r.get("dataset")), board["setting"] or "")


def interactive_data(boards: list[dict], families) -> dict:
    """Per board: its rows' quality, latency and size, and every model's validation curve."""
    out = []
    for i, b in enumerate(boards):
        rows, curves = [], []
        for r in b["rows"]:
            p = r["profile"] or {}
            params = p.get("params")
            rows.append(
                {
                    "model": r["model"],
                    "family": r["family"],
                    "value": _num(r["value"]),
                    "latency_ms": _num((p.get("latency_ms") or {}).get("median")),
                    "params_m": _num(params / 1e6) if isinstance(params, (int, float)) else None,
                }
            )
            points = [
                [_num(h.get("epoch")), _num(h.get(f"val_{b['metric']}"))]
                for h in r["runs"][0]["history"]
            ]
            points = [pt for pt in points if None not in pt]
            if points:
                curves.append({"model": r["model"], "family": r["family"], "points": points})
        out.append(
            {
                "id": board_id(i),
                "task": b["task"],
                "setting": b["setting"],
                "dataset": board_dataset(b),
                "metric": b["metric"],
                "higher_is_better": bool(b["higher_is_better"]),
                "rows": rows,
                "curves": curves,
            }
        )
    return {"boards": out, "families": {f.key: f.name for f in families}}
