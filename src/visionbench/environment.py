"""Where a number was measured: device, threads, library versions. Saved beside every result."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import torch

from .errors import VisionbenchError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise VisionbenchError(
            "--device cuda asked for, but no CUDA GPU is visible; use --device cpu"
        )
    if name not in ("cpu", "mps") and not name.startswith("cuda"):
        raise VisionbenchError(f"unknown device '{name}'; use cpu, cuda, cuda:N or auto")
    return torch.device(name)


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux's /proc/cpuinfo), since `platform.processor()` says only
    'x86_64' and the same suite's wall time differed 2.3x between two 2-core machines."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def describe(device: torch.device | str = "cpu") -> dict:
    device = torch.device(device)
    from ._version import __version__

    info = {
        "visionbench": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    try:
        import timm

        info["timm"] = timm.__version__
    except ImportError:
        pass
    return info
