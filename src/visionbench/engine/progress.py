"""A progress bar that stays out of the way: rich on a terminal, nothing when disabled."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

console = Console(stderr=True)


class Progress:
    def __init__(self, total: int, done: int = 0, label: str = "", enabled: bool = True):
        self.enabled = enabled
        self.label = label
        self._bar = None
        if enabled:
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task(label, total=total, completed=done, info="")

    def __enter__(self):
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def advance(self, loss: float | None = None) -> None:
        if self._bar is not None:
            info = f"loss {loss:.4f}" if loss is not None else ""
            self._bar.update(self._task, advance=1, info=info)

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=f"{self.label} · {text}")
