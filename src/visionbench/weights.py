"""Reading weights files a user hands over, with one check for every reader.

safetensors, or torch's format read with weights_only=True: no file runs code. A file that holds
pickled objects is refused with our own line (never torch's advice to turn the protection off);
a digest pins a run's weights to the run, and NaN/inf weights are refused, so a damaged or
tampered file never evaluates to numbers.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import torch

from .errors import VisionbenchError, require_file


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_state_dict(path: str | Path, what: str = "weights file") -> dict:
    """A state dict from a .safetensors file or a torch file of plain tensors; one line naming
    the file when it is missing, unreadable, or holds anything but tensors and plain values."""
    p = require_file(path, what)
    with p.open("rb") as f:
        head = f.read(8)
    if p.suffix == ".safetensors" or (
        len(head) == 8 and int.from_bytes(head, "little") < 1 << 27 and not head.startswith(b"PK")
    ):
        from safetensors.torch import load_file

        try:
            return load_file(str(p))
        except Exception as e:  # safetensors raises its own error types
            raise VisionbenchError(
                f"cannot read {what} {p}: not a valid safetensors file "
                f"({str(e).splitlines()[0][:120]})"
            ) from None
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise VisionbenchError(
            f"{what} {p} holds Python objects besides tensors, which visionbench never loads "
            "(they could run code); save a plain state_dict or a .safetensors file"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError) as e:
        raise VisionbenchError(f"cannot read {what} {p}: {str(e).splitlines()[0][:160]}") from None
    return state


def check_finite(state: dict, path: str | Path) -> None:
    """Refuse NaN or infinite values in any floating tensor of a state dict."""
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not torch.isfinite(t).all():
            raise VisionbenchError(f"weights {path}: tensor '{name}' holds NaN or infinite values")


def check_weight_options(options: dict, source: str = "task options") -> None:
    """Every option named `*_weights` is a weights file: read it now, before any training,
    so a bad one fails in a second instead of after the run."""
    for key, value in options.items():
        if key.endswith("_weights") and value:
            read_state_dict(value, f"{key} file ({source})")
