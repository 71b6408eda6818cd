"""An index of run folders in SQLite (standard library), so `runs ls` and `compare` need no walk.

The run folders stay the truth: the index is rebuilt from them on every refresh and can be
deleted at any time. It lives at <root>/index.sqlite.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..errors import VisionbenchError
from ..runs import RunDir

COLUMNS = {
    "path": "TEXT PRIMARY KEY",  # relative to the root
    "suite": "TEXT",
    "task": "TEXT",
    "model": "TEXT",
    "family": "TEXT",
    "dataset": "TEXT",
    "seed": "INTEGER",
    "status": "TEXT",
    "ranking_metric": "TEXT",
    "score": "REAL",
    "params": "INTEGER",
    "flops": "INTEGER",
    "latency_ms": "REAL",
    "train_seconds": "REAL",
    "updated": "TEXT",
    "metrics": "TEXT",  # JSON
    "profile": "TEXT",  # JSON
}


def run_record(run: RunDir, root: Path) -> dict:
    """One index row from a run folder's files."""
    meta = run.read_json(run.path / "run.json")
    status = run.status()
    metrics = run.read_json(run.metrics)
    profile = run.read_json(run.profile)
    rel = run.path.relative_to(root)
    key = meta.get("ranking_metric")
    score = metrics.get(key) if key else None
    return {
        "path": str(rel),
        "suite": rel.parts[0] if len(rel.parts) >= 3 else "",
        "task": meta.get("task", run.path.parent.name),
        "model": meta.get("model", run.path.name.split("__")[0]),
        "family": meta.get("family"),
        "dataset": meta.get("dataset"),
        "seed": meta.get("seed"),
        "status": status.get("status"),
        "ranking_metric": key,
        "score": score if isinstance(score, (int, float)) else None,
        "params": profile.get("params"),
        "flops": profile.get("flops"),
        "latency_ms": (profile.get("latency_ms") or {}).get("median"),
        "train_seconds": status.get("train_seconds"),
        "updated": status.get("updated"),
        "metrics": json.dumps(metrics),
        "profile": json.dumps(profile),
    }


class RunStore:
    def __init__(self, root: str | Path = "runs"):
        self.root = Path(root)
        self.db = self.root / "index.sqlite"

    def _connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols})")
        return con

    def refresh(self) -> int:
        """Re-read every run folder under the root (status.json marks one); returns the count."""
        if not self.root.is_dir():
            raise VisionbenchError(f"runs folder not found: {self.root}")
        rows = [
            run_record(RunDir(p.parent), self.root)
            for p in sorted(self.root.rglob("status.json"))
            if (p.parent / "config.yaml").exists() or (p.parent / "run.json").exists()
        ]
        with self._connect() as con:
            con.execute("DELETE FROM runs")
            names = ", ".join(COLUMNS)
            marks = ", ".join("?" for _ in COLUMNS)
            con.executemany(
                f"INSERT INTO runs ({names}) VALUES ({marks})",
                [tuple(r[k] for k in COLUMNS) for r in rows],
            )
        con.close()
        return len(rows)

    def query(self, **filters) -> list[dict]:
        """Rows matching every given column=value, best score first within a task."""
        where = [(k, v) for k, v in filters.items() if v is not None]
        for k, _ in where:
            if k not in COLUMNS:
                raise VisionbenchError(f"cannot filter runs by '{k}'")
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(f"{k} = ?" for k, _ in where)
        sql += " ORDER BY suite, task, dataset, score DESC, path"
        con = self._connect()
        try:
            return [_row(r) for r in con.execute(sql, [v for _, v in where])]
        finally:
            con.close()

    def resolve(self, name: str) -> Path:
        """A run folder from a path, or from a unique suffix of an indexed path."""
        p = Path(name)
        if (p / "status.json").exists() or (p / "config.yaml").exists():
            return p
        if (self.root / p / "status.json").exists():
            return self.root / p
        paths = [r["path"] for r in self.query()]
        hits = [p for p in paths if p.endswith(name.strip("/"))]
        hits = hits or [p for p in paths if name in p]
        if len(hits) == 1:
            return self.root / hits[0]
        if not hits:
            raise VisionbenchError(f"no run matches '{name}' under {self.root}")
        raise VisionbenchError(f"'{name}' matches {len(hits)} runs: {', '.join(hits[:5])}")


def _row(r: sqlite3.Row) -> dict:
    d = dict(r)
    d["metrics"] = json.loads(d["metrics"] or "{}")
    d["profile"] = json.loads(d["profile"] or "{}")
    return d
