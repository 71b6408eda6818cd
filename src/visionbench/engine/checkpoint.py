"""Checkpoints: safetensors weights plus optimizer, scheduler and RNG state, after every epoch.

Weights go to safetensors; the rest (tensors, numbers, dicts) is torch-saved and read back with
weights_only=True, so a checkpoint handed over by someone else cannot run code.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import torch
import torch.nn as nn
from safetensors.torch import save_file

from ..errors import VisionbenchError
from ..weights import check_finite, read_state_dict, sha256_of


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP and torch.compile wrappers."""
    while True:
        if hasattr(model, "module"):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def save_weights(model: nn.Module, path: Path) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in unwrap(model).state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp))
    os.replace(tmp, path)


def load_weights(model: nn.Module, path: Path, sha256: str | None = None) -> None:
    """Load a safetensors file into the model: the digest (when the run recorded one) must
    match, every value must be finite and every shape must fit, else one line naming the file."""
    if not Path(path).exists():
        raise VisionbenchError(f"weights not found: {path}")
    if sha256 and sha256_of(path) != sha256:
        raise VisionbenchError(
            f"weights {path} changed since the run wrote them (sha256 differs from run.json)"
        )
    state = read_state_dict(path, "weights")
    check_finite(state, path)
    try:
        missing, unexpected = unwrap(model).load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes that do not fit
        first = next((ln.strip() for ln in str(e).splitlines() if "size mismatch" in ln), str(e))
        raise VisionbenchError(f"weights {path} do not fit the model: {first[:200]}") from None
    if missing or unexpected:
        raise VisionbenchError(
            f"weights {path} do not fit the model: missing {list(missing)[:3]}, "
            f"unexpected {list(unexpected)[:3]}"
        )


def save_checkpoint(folder: Path, model, optimizers, schedulers, scaler, extra: dict) -> None:
    """Write weights then state; state.pt is replaced last, so a half-written checkpoint is never read."""
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(model, folder / "last.safetensors")
    state = {
        "optimizers": [o.state_dict() for o in optimizers],
        "schedulers": [s.state_dict() if s is not None else None for s in schedulers],
        "scaler": scaler.state_dict() if scaler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "python_rng": list(random.getstate()[1]),
        **extra,
    }
    tmp = folder / "state.tmp"
    torch.save(state, tmp)
    os.replace(tmp, folder / "state.pt")


def load_checkpoint(folder: Path, model, optimizers, schedulers, scaler) -> dict | None:
    """Restore everything saved by save_checkpoint; None when there is no checkpoint yet."""
    if not (folder / "state.pt").exists():
        return None
    state = read_state_dict(folder / "state.pt", "checkpoint state")
    load_weights(model, folder / "last.safetensors")
    for o, s in zip(optimizers, state["optimizers"]):
        o.load_state_dict(s)
    for sch, s in zip(schedulers, state["schedulers"]):
        if sch is not None and s is not None:
            sch.load_state_dict(s)
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    random.setstate((3, tuple(state["python_rng"]), None))
    return state
