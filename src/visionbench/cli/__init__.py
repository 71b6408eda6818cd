"""The `visionbench` command. Each subcommand lives in its own module with a `register(sub)`."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading

from .._version import __version__
from ..errors import Terminated, VisionbenchError

# Modules under visionbench.cli that add subcommands; a missing one is skipped, so a feature
# branch can add its module and this line independently.
COMMAND_MODULES = [
    "train",
    "listing",
    "bench",
    "datasets",
    "metrics",
    "profile",
    "runs",
    "export",
    "challenges",
    "report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionbench",
        description="Train, evaluate and compare the architecture families of the review "
        "'Neural Networks in Image Processing' on its tasks, datasets and metrics, offline.",
        epilog="Start with: visionbench bench (the review suite) or "
        "visionbench train classification --model lenet5 --data digits. "
        "Each command has --help.",
    )
    parser.add_argument("--version", action="version", version=f"visionbench {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    previous = _on_sigterm()
    try:
        return int(args.func(args) or 0)
    except VisionbenchError as e:
        print(f"visionbench: error: {e}", file=sys.stderr)
        return e.exit_code
    except Terminated:
        print("visionbench: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("visionbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `visionbench list models | head`: the reader left, not an error
        with contextlib.suppress(AttributeError, OSError, ValueError):  # no later flush error
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # a bug or an unexpected failure: one line, traceback on --debug
        if args.debug or os.environ.get("VISIONBENCH_DEBUG"):
            raise
        print(
            f"visionbench: error: {type(e).__name__}: {e} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_terminated(signum, frame):
    raise Terminated("terminated by SIGTERM")


def _on_sigterm():
    """Turn SIGTERM into an exception (the main thread only can), so runs clean up; returns the
    handler it replaced, or None when none was installed."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


if __name__ == "__main__":
    sys.exit(main())
