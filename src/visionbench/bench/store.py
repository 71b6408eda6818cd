"""An index of run folders in SQLite (standard library), so `runs ls` and `compare` need no walk.

The run folders stay the truth: the index is rebuilt from them on every refresh and can be
deleted at any time; an unreadable index is deleted and rebuilt. It lives at <root>/index.sqlite.
A run folder whose files are damaged is reported (`skipped`) and left out, never fatal.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from ..errors import VisionbenchError
from ..runs import RunDir, read_record, run_folders

COLUMNS = {
    "path": "TEXT PRIMARY KEY",  # relative to the root
    "suite": "TEXT",
    "task": "TEXT",
    "model": "TEXT",
    "family": "TEXT",
    "dataset": "TEXT",
    "setting": "TEXT",
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


def run_record(run: RunDir | Path, root: Path) -> dict:
    """One index row from a run folder's record (see runs.RunRecord)."""
    r = read_record(run.path if isinstance(run, RunDir) else run)
    rel = r.path.relative_to(root) if r.path.is_relative_to(root) else r.path
    return {
        "path": str(rel),
        "suite": rel.parts[0] if len(rel.parts) >= 3 else "",
        "task": r.task,
        "model": r.model,
        "family": r.family,
        "dataset": r.dataset,
        "setting": r.setting,
        "seed": r.seed,
        "status": r.status.get("status"),
        "ranking_metric": r.ranking_metric,
        "score": r.score,
        "params": r.profile.get("params"),
        "flops": r.profile.get("flops"),
        "latency_ms": (r.profile.get("latency_ms") or {}).get("median"),
        "train_seconds": r.status.get("train_seconds"),
        "updated": r.status.get("updated"),
        "metrics": json.dumps(r.metrics),
        "profile": json.dumps(r.profile),
    }


class RunStore:
    def __init__(self, root: str | Path = "runs"):
        self.root = Path(root)
        self.db = self.root / "index.sqlite"
        self.skipped: list[str] = []  # "folder: reason" of run folders left out by refresh
        self.rebuilt = False  # True when an unreadable index was replaced

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db)
        con.row_factory = sqlite3.Row
        have = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
        if have and have != list(COLUMNS):  # written by another version: rebuilt from the runs
            con.execute("DROP TABLE runs")
        cols = ", ".join(f"{k} {v}" for k, v in COLUMNS.items())
        con.execute(f"CREATE TABLE IF NOT EXISTS runs ({cols})")
        return con

    def _connect(self) -> sqlite3.Connection:
        """The index, created if missing and rebuilt (deleted, then refilled) if unreadable."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VisionbenchError(f"cannot create runs folder {self.root}: {e.strerror}") from None
        try:
            return self._open()
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and not self.db.exists():
                raise VisionbenchError(f"cannot write the runs index {self.db}: {e}") from None
        try:  # not a database, or a damaged one: the run folders are the truth
            self.db.unlink()
            self.rebuilt = True
            return self._open()
        except (OSError, sqlite3.DatabaseError) as e:
            raise VisionbenchError(f"cannot rebuild the runs index {self.db}: {e}") from None

    def refresh(self) -> int:
        """Re-read every run folder under the root; returns the count indexed. A folder whose
        files cannot be read is listed in `self.skipped` as "folder: reason" and left out."""
        if not self.root.is_dir():
            raise VisionbenchError(f"runs folder not found: {self.root}")
        rows, self.skipped = [], []
        for folder in run_folders(self.root):
            try:
                rows.append(run_record(folder, self.root))
            except VisionbenchError as e:
                self.skipped.append(f"{folder}: {e}")
        con = self._connect()
        try:
            with con:
                con.execute("DELETE FROM runs")
                names = ", ".join(COLUMNS)
                marks = ", ".join("?" for _ in COLUMNS)
                con.executemany(
                    f"INSERT INTO runs ({names}) VALUES ({marks})",
                    [tuple(r[k] for k in COLUMNS) for r in rows],
                )
        except sqlite3.DatabaseError as e:
            raise VisionbenchError(f"cannot write the runs index {self.db}: {e}") from None
        finally:
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
