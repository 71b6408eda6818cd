"""A run directory: what one training job leaves behind, readable by eval, predict and the report.

runs/<task>/<model>__<dataset>__s<seed>/
  config.yaml  task_state.json  metrics.json  history.csv  model.safetensors  status.json  profile.json
  challenges.json (classification)
  checkpoint/  samples/
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import VisionbenchError


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "data"


def default_run_dir(out: str | Path, task: str, model: str, data: str, seed: int) -> Path:
    data_name = slug(Path(data.split(":", 1)[-1]).name if ":" in data or "/" in data else data)
    return Path(out) / task / f"{model}__{data_name}__s{seed}"


@dataclass
class RunDir:
    path: Path

    config = property(lambda self: self.path / "config.yaml")
    metrics = property(lambda self: self.path / "metrics.json")
    history = property(lambda self: self.path / "history.csv")
    weights = property(lambda self: self.path / "model.safetensors")
    status_file = property(lambda self: self.path / "status.json")
    profile = property(lambda self: self.path / "profile.json")
    challenges = property(lambda self: self.path / "challenges.json")
    task_state = property(lambda self: self.path / "task_state.json")
    checkpoint = property(lambda self: self.path / "checkpoint")
    samples = property(lambda self: self.path / "samples")

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run; a clear error when the folder is not one."""
        p = Path(path)
        if not (p / "config.yaml").exists():
            raise VisionbenchError(f"not a run directory (no config.yaml): {p}")
        return cls(p)

    def create(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    def write_json(self, path: Path, data: dict) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    def read_json(self, path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as e:
            raise VisionbenchError(f"invalid JSON in {path}: {e}") from None

    def status(self) -> dict:
        return self.read_json(self.status_file)

    def set_status(self, status: str, **extra) -> None:
        data = {**self.status(), "status": status, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        data.update(extra)
        self.write_json(self.status_file, data)

    def write_history(self, rows: list[dict]) -> None:
        if not rows:
            return
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with self.history.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)

    def read_history(self) -> list[dict]:
        if not self.history.exists():
            return []
        with self.history.open() as f:
            return [
                {k: (float(v) if v not in ("", None) else None) for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
