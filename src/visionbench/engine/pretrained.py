"""`train --weights PATH`: start any model from a local weights file, and say what fitted.

The file is read without running code: safetensors, or a torch file through
torch.load(weights_only=True). Training checkpoints that wrap the state dict (timm's
`state_dict` / `state_dict_ema`, `model`, `module.` and `_orig_mod.` prefixes) are unwrapped,
and a whole-key prefix is matched when the model holds the checkpoint's network one level down
(or the other way round). Tensors whose shape differs (a new classifier head, another number of
input channels) are not loaded but reported; an input conv that differs only in its channel
count is adapted with timm's adapt_input_conv, as timm does for its own pretrained weights.
Nothing is silent: `WeightsReport` lists loaded, missing, unexpected and mismatched keys.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import VisionbenchError
from .checkpoint import unwrap

WRAPPER_KEYS = ("state_dict_ema", "model_ema", "state_dict", "model", "model_state_dict", "net")
STRIP_PREFIXES = ("module.", "_orig_mod.")


@dataclass
class WeightsReport:
    path: str
    loaded: int
    total: int  # tensors in the model's state dict
    prefix: str = ""  # added to (+) or removed from (-) the file's keys to match the model's
    adapted: list[str] = field(default_factory=list)  # input convs adapted to in_chans
    missing: list[str] = field(default_factory=list)  # model keys the file did not fill
    unexpected: list[str] = field(default_factory=list)  # file keys the model has no place for
    mismatched: list[str] = field(default_factory=list)  # "key: file shape -> model shape"

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self, limit: int = 4) -> str:
        def few(keys: list[str]) -> str:
            if not keys:
                return "none"
            more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
            return ", ".join(keys[:limit]) + more

        return (
            f"initialised from {self.path}: {self.loaded}/{self.total} tensors loaded"
            + (f" (key prefix {self.prefix})" if self.prefix else "")
            + (f"; input conv adapted: {few(self.adapted)}" if self.adapted else "")
            + f"; missing ({len(self.missing)}): {few(self.missing)}"
            + f"; unexpected ({len(self.unexpected)}): {few(self.unexpected)}"
            + f"; shape mismatch, not loaded ({len(self.mismatched)}): {few(self.mismatched)}"
        )


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A flat name -> tensor mapping from a safetensors or torch file, without running code."""
    p = Path(path)
    if not p.is_file():
        raise VisionbenchError(f"weights file not found: {p}")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(p))
        except Exception as e:  # safetensors raises its own error types
            raise VisionbenchError(f"cannot read safetensors weights {p}: {e}") from None
    else:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle errors, unsafe globals refused by weights_only, ...
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise VisionbenchError(
                f"cannot read weights {p} with torch.load(weights_only=True): {first}"
            ) from None
    while isinstance(state, dict):
        inner = next((k for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None or any(isinstance(v, torch.Tensor) for v in state.values()):
            break
        state = state[inner]
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise VisionbenchError(f"weights file {p} holds no tensors by name (not a state dict)")
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        for pre in STRIP_PREFIXES:
            while k.startswith(pre):
                k = k[len(pre) :]
        out[k] = v
    return out


def _best_prefix(model_keys: set[str], file_keys: set[str]) -> tuple[str, str]:
    """(add, strip): the key prefix to add to / strip from file keys that matches most keys."""
    direct = len(model_keys & file_keys)
    votes: Counter = Counter()
    for m in model_keys:
        for k in file_keys:
            if m != k and m.endswith("." + k):
                votes[("add", m[: -len(k)])] += 1
            elif m != k and k.endswith("." + m):
                votes[("strip", k[: -len(m)])] += 1
    if votes:
        (kind, prefix), n = votes.most_common(1)[0]
        if n > direct:
            return (prefix, "") if kind == "add" else ("", prefix)
    return "", ""


def _input_conv(have: torch.Size, want: torch.Size) -> bool:
    """A 3-channel (RGB) conv kernel where the model's has another input channel count."""
    return (
        len(have) == len(want) == 4
        and have[1] == 3 != want[1]
        and have[0] == want[0]
        and have[2:] == want[2:]
    )


def init_from_weights(model: nn.Module, path: str | Path) -> WeightsReport:
    """Copy every tensor of the file that fits into `model`; report the rest. Raises when
    nothing fits (the wrong file for this model would otherwise train from scratch silently)."""
    target = unwrap(model)
    own = target.state_dict()
    file_state = read_state_dict(path)
    add, strip = _best_prefix(set(own), set(file_state))
    renamed = {}
    for k, v in file_state.items():
        if strip and k.startswith(strip):
            k = k[len(strip) :]
        renamed[add + k] = v
    loadable, adapted, mismatched = {}, [], []
    for k, v in renamed.items():
        if k not in own:
            continue
        want = own[k].shape
        if v.shape == want:
            loadable[k] = v
        elif _input_conv(v.shape, want):
            from timm.models import adapt_input_conv

            loadable[k] = adapt_input_conv(int(want[1]), v.float()).to(v.dtype)
            adapted.append(k)
        else:
            mismatched.append(f"{k}: {tuple(v.shape)} -> {tuple(want)}")
    if not loadable:
        raise VisionbenchError(
            f"weights {path} match none of the model's {len(own)} tensors "
            f"(file keys look like {sorted(renamed)[:2]}, the model's like {sorted(own)[:2]})"
        )
    missing, _ = target.load_state_dict(loadable, strict=False)
    return WeightsReport(
        path=str(path),
        loaded=len(loadable),
        total=len(own),
        prefix=f"+{add}" if add else (f"-{strip}" if strip else ""),
        adapted=adapted,
        missing=sorted(missing),
        unexpected=sorted(k for k in renamed if k not in own),
        mismatched=mismatched,
    )
