"""The suite report: results.json for tools, report.md for people."""

from __future__ import annotations

import json
from pathlib import Path

from ..families import FAMILIES
from ..runs import RunDir
from .suites import Suite


def collect(suite_dir: Path) -> list[dict]:
    """One record per run folder under the suite: config, metrics, status."""
    records = []
    for status_file in sorted(suite_dir.glob("*/*/status.json")):
        run = RunDir(status_file.parent)
        meta = run.read_json(run.path / "run.json")
        records.append(
            {
                "run_dir": str(run.path),
                "task": meta.get("task", run.path.parent.name),
                "model": meta.get("model", run.path.name.split("__")[0]),
                "family": meta.get("family"),
                "dataset": meta.get("dataset"),
                "seed": meta.get("seed"),
                "protocol": (meta.get("data") or {}).get("split"),
                "ranking_metric": meta.get("ranking_metric"),
                "metrics": run.read_json(run.metrics),
                "profile": run.read_json(run.profile),
                "status": run.status().get("status"),
                "error": run.status().get("error"),
                "train_seconds": run.status().get("train_seconds"),
            }
        )
    return records


def write_report(suite: Suite, suite_dir: Path, quick: bool = True) -> Path:
    records = collect(suite_dir)
    (suite_dir / "results.json").write_text(json.dumps(records, indent=2) + "\n")
    lines = [f"# visionbench report: suite `{suite.name}`", "", suite.description, ""]
    lines += [
        "## Table 1: families",
        "",
        "| family | review's strengths | measured best |",
        "|---|---|---|",
    ]
    for fam in FAMILIES:
        done = [r for r in records if r["family"] == fam.key and r["status"] == "done"]
        best = ", ".join(
            f"{r['task']}: {r['model']} {r['ranking_metric']}={r['metrics'].get(r['ranking_metric'], float('nan')):.4g}"
            for r in done
        )
        lines.append(f"| {fam.name} | {fam.strengths} | {best or 'no runs yet'} |")
    for task in sorted({r["task"] for r in records}):
        rows = [r for r in records if r["task"] == task]
        key = rows[0]["ranking_metric"] or ""
        rows.sort(key=lambda r: -(r["metrics"].get(key) or float("-inf")))
        lines += [
            "",
            f"## Leaderboard: {task} (ranked by {key})",
            "",
            f"| model | family | dataset | {key} | status |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            v = r["metrics"].get(key)
            lines.append(
                f"| {r['model']} | {r['family']} | {r['dataset']} | {'' if v is None else f'{v:.4g}'} | {r['status']} |"
            )
    path = suite_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
