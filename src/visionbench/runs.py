"""A run directory: what one training job leaves behind, readable by eval, predict and the report.

runs/<task>/<model>__<setting>__s<seed>/
  config.yaml  run.json  task_state.json  metrics.json  history.csv  model.safetensors
  status.json  profile.json  challenges.json  checkpoint/  samples/
  .lock (while a process writes the folder)

This module is the one place for run-folder names, for the record the runs index and the report
read (`RunRecord`), and for the lock that keeps a folder to one writer.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import VisionbenchError
from .files import read_json_dict, read_yaml, write_json

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "data"


def safe_name(name: str, what: str) -> str:
    """`name` if it can be one path component (letters, digits, _ . + -, no leading dot or
    separator), else one line saying what is wrong: user names never climb out of their folder."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise VisionbenchError(
            f"{what} {name!r} is not a safe name: use letters, digits, '_', '.', '+', '-' "
            "(at most 128, not starting with '.' or '-', no '..')"
        )
    return name


def path_under(root: str | Path, *names: str) -> Path:
    """root/names..., resolved, and refused when it lands outside root (links included)."""
    base = Path(root).resolve()
    p = base.joinpath(*names).resolve()
    if p != base and base not in p.parents:
        raise VisionbenchError(f"{'/'.join(names)} would be written outside {root}")
    return p


def run_name(model: str, setting: str, seed: int) -> str:
    """The folder name of one run: <model>__<setting>__s<seed>."""
    return f"{model}__{slug(setting)}__s{seed}"


def data_setting(data: str) -> str:
    """The setting of a plain `train`: the dataset's name (NAME, NAME:PATH or PATH)."""
    return Path(data.split(":", 1)[-1]).name if ":" in data or "/" in data else data


def default_run_dir(out: str | Path, task: str, model: str, data: str, seed: int) -> Path:
    return Path(out) / task / run_name(model, data_setting(data), seed)


@dataclass
class RunDir:
    path: Path

    config = property(lambda self: self.path / "config.yaml")
    meta_file = property(lambda self: self.path / "run.json")
    metrics = property(lambda self: self.path / "metrics.json")
    history = property(lambda self: self.path / "history.csv")
    weights = property(lambda self: self.path / "model.safetensors")
    status_file = property(lambda self: self.path / "status.json")
    profile = property(lambda self: self.path / "profile.json")
    challenges = property(lambda self: self.path / "challenges.json")
    task_state = property(lambda self: self.path / "task_state.json")
    checkpoint = property(lambda self: self.path / "checkpoint")
    samples = property(lambda self: self.path / "samples")
    lock_file = property(lambda self: self.path / ".lock")

    def __post_init__(self):
        self.path = Path(self.path)

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run; a clear error when the folder is not one."""
        p = Path(path)
        if not (p / "config.yaml").exists():
            raise VisionbenchError(f"not a run directory (no config.yaml): {p}")
        return cls(p)

    def create(self) -> RunDir:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VisionbenchError(f"cannot create run folder {self.path}: {e.strerror}") from None
        return self

    def write_json(self, path: Path, data: dict) -> None:
        write_json(path, data)

    def read_json(self, path: Path) -> dict:
        return read_json_dict(path)

    def meta(self) -> dict:
        return read_json_dict(self.meta_file)

    def status(self) -> dict:
        return read_json_dict(self.status_file)

    def set_status(self, status: str, **extra) -> None:
        try:
            old = self.status()
        except VisionbenchError:  # a damaged status.json is replaced, not kept
            old = {}
        data = {**old, "status": status, "updated": time.strftime("%Y-%m-%dT%H:%M:%S")}
        data.update(extra)
        self.write_json(self.status_file, data)

    def check_can_train(self, resume: bool, force: bool) -> None:
        """A finished run is only replaced on request: --resume continues it, --force restarts."""
        if resume or force:
            return
        try:
            status = self.status().get("status")
        except VisionbenchError:
            status = None
        if status == "done":
            raise VisionbenchError(
                f"run {self.path} is finished; pass --resume to continue it or --force to "
                "replace it (or choose another --run-dir / --seed)"
            )

    def lock(self) -> FolderLock:
        return FolderLock(self.path, "run")

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


# the one run record ----------------------------------------------------------------------------
@dataclass
class RunRecord:
    """What one run folder says about itself, from its files; the runs index and the report
    both read this. Everything comes from run.json / config.yaml, never from the folder name."""

    path: Path
    task: str | None
    model: str | None
    family: str | None
    dataset: str | None
    setting: str | None
    seed: int | None
    ranking_metric: str | None
    higher_is_better: bool
    data: dict
    meta: dict  # all of run.json (report facts such as baselines, also_shown)
    config: dict
    metrics: dict
    profile: dict
    status: dict
    challenges: dict

    @property
    def score(self):
        v = self.metrics.get(self.ranking_metric) if self.ranking_metric else None
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def read_record(path: str | Path) -> RunRecord:
    """The record of a run folder; one line naming the file when one of its files is damaged."""
    run = RunDir(Path(path))
    meta = run.meta()
    config = read_yaml(run.config) if run.config.exists() else {}
    for name, d in (("run.json", meta), ("status.json", run.status())):
        if not isinstance(d, dict):
            raise VisionbenchError(f"{run.path / name} must hold a JSON object")
    return RunRecord(
        path=run.path,
        task=meta.get("task", config.get("task")),
        model=meta.get("model", config.get("model")),
        family=meta.get("family"),
        dataset=meta.get("dataset"),
        # runs written before `setting` was stored: the dataset, or config's explicit setting
        setting=meta.get("setting") or config.get("setting") or meta.get("dataset"),
        seed=meta.get("seed", config.get("seed")),
        ranking_metric=meta.get("ranking_metric"),
        higher_is_better=bool(meta.get("higher_is_better", True)),
        data=meta.get("data") or {},
        meta=meta,
        config=config,
        metrics=run.read_json(run.metrics),
        profile=run.read_json(run.profile),
        status=run.status(),
        challenges=run.read_json(run.challenges),
    )


def run_folders(root: str | Path, pattern: str = "**/status.json") -> list[Path]:
    """Run folders under root (a status.json beside a config.yaml or run.json marks one)."""
    return [
        p.parent
        for p in sorted(Path(root).glob(pattern))
        if (p.parent / "config.yaml").exists() or (p.parent / "run.json").exists()
    ]


# one writer per folder -------------------------------------------------------------------------
_HELD: set[Path] = set()
# The executor task this process runs for (`bench --executor ray`), written into the locks it
# takes; see `executor_task`.
_TASK: str | None = None


@contextlib.contextmanager
def executor_task(token: str):
    """Locks taken inside carry `token`, and a lock that carries it already is taken over: an
    executor retries a task only after the process that ran it died (Ray's `max_retries`), so a
    lock left by an earlier attempt of the same task is stale, on whichever host it ran."""
    global _TASK
    old, _TASK = _TASK, token
    try:
        yield
    finally:
        _TASK = old


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, ValueError):
        return False
    return True


class FolderLock:
    """An exclusive lock on a folder: `.lock` holds the owner's pid and host, created with
    O_EXCL (atomic). A lock left by a process that no longer runs on this host is stale and is
    taken over, and so is one left by an earlier attempt of the executor task this process runs
    (`executor_task`, any host); a live owner's lock makes a second writer fail with one line
    naming it."""

    def __init__(self, folder: str | Path, what: str = "folder", name: str = ".lock"):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.what = what
        self.created = False  # the folder was made by acquire: removed again if left empty

    def owner(self) -> dict:
        try:
            d = read_json_dict(self.path)
        except VisionbenchError:
            return {}
        return d

    def _stale(self, owner: dict) -> bool:
        pid, host = owner.get("pid"), owner.get("host")
        mine = pid == os.getpid() and host == socket.gethostname()
        if _TASK is not None and owner.get("task") == _TASK and not mine:
            return True  # left by an earlier attempt of this task, which is dead
        if not isinstance(pid, int) or host != socket.gethostname():
            # unreadable (a writer died mid-write) is stale; another host's lock is not ours to judge
            return not isinstance(pid, int)
        if pid == os.getpid():
            return self.path.resolve() not in _HELD
        return not _alive(pid)

    def acquire(self) -> FolderLock:
        try:
            self.created = not self.folder.exists()
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VisionbenchError(f"cannot create {self.folder}: {e.strerror}") from None
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.owner()
                if not self._stale(owner):
                    raise VisionbenchError(
                        f"{self.what} folder {self.folder} is in use by process "
                        f"{owner.get('pid')} on {owner.get('host')} since {owner.get('since')} "
                        f"(lock {self.path}); wait for it, or delete the lock if that process "
                        "is gone"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: the owner is gone
                continue
            except OSError as e:
                raise VisionbenchError(f"cannot lock {self.folder}: {e.strerror}") from None
            owner = {"pid": os.getpid(), "host": socket.gethostname()}
            owner["since"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            if _TASK is not None:
                owner["task"] = _TASK
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(owner) + "\n")
            _HELD.add(self.path.resolve())
            return self
        raise VisionbenchError(f"cannot lock {self.folder}: the lock {self.path} keeps changing")

    def release(self) -> None:
        key = self.path.resolve()
        if key in _HELD:
            _HELD.discard(key)
            if self.owner().get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            if self.created and not any(self.folder.iterdir()):
                self.folder.rmdir()  # nothing was written: leave no trace

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
