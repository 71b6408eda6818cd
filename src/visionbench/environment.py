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


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of Linux's /proc/cpuinfo ({} elsewhere)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if not line.strip():
                break
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_model() -> str | None:
    """The CPU's marketing name with cpuinfo's family and model numbers (x86), since `platform.processor()` says only 'x86_64', the same suite's wall time differed
    2.3x between two 2-core machines, and two VMs both named just "AMD EPYC" gave different
    quick-suite metrics."""
    info = _cpuinfo()
    name = info.get("model name")
    if name and "cpu family" in info and "model" in info:
        return f"{name} (family {info['cpu family']}, model {info['model']})"
    return name


def cpu_capability() -> str:
    """The instruction set PyTorch's CPU kernels were dispatched for (AVX2, AVX512, ...): it
    picks the vectorised kernels, so the order of floating-point sums, so the last digits."""
    try:
        return torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        return "unknown"


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
        "cpu_capability": cpu_capability(),
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
