"""User-facing errors: one line that says what is wrong and what to do, never a bare traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VisionbenchError(Exception):
    """An error the user can act on; the CLI prints its message on one line and exits non-zero."""

    exit_code = 2


class UnknownNameError(VisionbenchError, KeyError):
    """An unknown model, dataset, task, metric, family or suite name."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        valid = sorted(valid)
        close = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        shown = ", ".join(valid) if len(valid) <= 40 else ", ".join(valid[:40]) + ", ..."
        super().__init__(f"unknown {kind} '{name}'.{hint} Valid {kind}s: {shown}")
        self.kind, self.name, self.valid = kind, name, valid

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.args[0]


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a scheduler or container runtime sends): handled like Ctrl-C, so a run
    records "interrupted" and releases its lock, then the process exits with 143."""


class DataError(VisionbenchError):
    """Broken or unreadable data: the message names the file and the reason."""


def require_file(path, what: str = "file"):
    """Return `path` as a Path if it is a readable file, else raise a one-line error naming it."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise VisionbenchError(f"{what} not found: {p}")
    if p.is_dir():
        raise VisionbenchError(f"{what} is a directory, expected a file: {p}")
    try:
        with p.open("rb"):
            pass
    except OSError as e:
        raise VisionbenchError(f"cannot read {what} {p}: {e.strerror}") from None
    return p
