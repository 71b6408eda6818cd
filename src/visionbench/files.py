"""One place for reading and writing the project's JSON and YAML files.

Writes are atomic (a temporary file beside the target, then a rename), so a killed process never
leaves half a file that a later reader would trip over; reads fail with one line naming the file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import yaml

from .errors import VisionbenchError


def _atomic_write(path: Path, text: str) -> None:
    """A unique temporary file beside `path` (O_EXCL: unique even for processes on several
    machines sharing the folder, as suite shards do), then an atomic rename."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise VisionbenchError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files are meant to be shared
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise VisionbenchError(f"cannot write {path}: {e.strerror or e}") from None


def write_json(path: str | Path, data, sort_keys: bool = True) -> None:
    """Pretty JSON, atomically; values json cannot hold (paths, numpy scalars) as strings."""
    text = json.dumps(data, indent=2, sort_keys=sort_keys, default=_default)
    _atomic_write(Path(path), text + "\n")


def _default(obj):
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    return str(obj)


def read_json(path: str | Path, missing=None):
    """A JSON file's content; `missing` when the file does not exist (None: that is an error)."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        if missing is not None:
            return missing
        raise VisionbenchError(f"file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise VisionbenchError(f"cannot read {p}: {getattr(e, 'strerror', None) or e}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise VisionbenchError(f"invalid JSON in {p} (line {e.lineno}: {e.msg})") from None


def read_json_dict(path: str | Path) -> dict:
    """A JSON object file ({} when missing); anything else is an error naming the file."""
    data = read_json(path, missing={})
    if not isinstance(data, dict):
        raise VisionbenchError(f"{path} must hold a JSON object, found {type(data).__name__}")
    return data


def read_yaml(path: str | Path) -> dict:
    """A YAML mapping (safe_load: no tags that build objects), failing with the file and reason."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise VisionbenchError(f"cannot read {p}: {getattr(e, 'strerror', None) or e}") from None
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise VisionbenchError(f"invalid YAML in {p}: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise VisionbenchError(f"invalid YAML in {p}: nested too deeply") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise VisionbenchError(f"{p} must be a mapping of key: value, found {type(d).__name__}")
    return d


def write_yaml(data: dict, path: str | Path) -> None:
    _atomic_write(Path(path), yaml.safe_dump(data, sort_keys=False))
