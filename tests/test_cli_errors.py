"""The CLI's last lines of defence: an unexpected exception is one line naming it (exit 1), its
traceback only under --debug / VISIONBENCH_DEBUG; Ctrl-C is exit 130 with one line, no traceback.
A command is made to fail through monkeypatch on the api function `visionbench list` calls."""

from __future__ import annotations

import pytest

from visionbench import api
from visionbench.cli import main


class Surprise(RuntimeError):
    """An exception no code in visionbench raises or catches on purpose."""


def _raise(exc: BaseException):
    def fail(*_args, **_kwargs):
        raise exc

    return fail


def test_an_unexpected_exception_is_one_line_naming_it(monkeypatch, capsys):
    monkeypatch.delenv("VISIONBENCH_DEBUG", raising=False)
    monkeypatch.setattr(api, "list_entries", _raise(Surprise("the disk sneezed")))
    assert main(["list", "tasks"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines == [
        "visionbench: error: Surprise: the disk sneezed (rerun with --debug for the traceback)"
    ]
    assert captured.out == ""


def test_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.delenv("VISIONBENCH_DEBUG", raising=False)
    monkeypatch.setattr(api, "list_entries", _raise(Surprise("the disk sneezed")))
    with pytest.raises(Surprise, match="the disk sneezed"):
        main(["--debug", "list", "tasks"])
    monkeypatch.setenv("VISIONBENCH_DEBUG", "1")
    with pytest.raises(Surprise):
        main(["list", "tasks"])
    assert "visionbench: error" not in capsys.readouterr().err


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(api, "list_entries", _raise(KeyboardInterrupt()))
    assert main(["list", "tasks"]) == 130
    assert capsys.readouterr().err.splitlines() == ["visionbench: interrupted"]
    # even under --debug: an interruption is not a bug to trace
    assert main(["--debug", "list", "tasks"]) == 130
