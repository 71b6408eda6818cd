"""Energy of a span of work: measured where a counter is readable, else estimated and labelled so.

- NVML (NVIDIA GPUs from Volta on): the board's cumulative energy counter, whole GPU.
- RAPL (Intel and recent AMD CPUs on Linux): /sys/class/powercap/intel-rapl:N/energy_uj of each
  CPU package, whole package (other processes included), wrap-around handled. Often readable
  only by root since 2020 (CVE-2020-8694), so "not readable" is common.
- Otherwise an estimate: FLOPs divided by an assumed efficiency, DEFAULT_EFFICIENCY, stated with
  the number and marked `"kind": "estimated"`. Training counts 3x the forward FLOPs per image
  (forward, and a backward pass about twice its cost, Kaplan et al. 2020).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

RAPL_ROOT = Path("/sys/class/powercap")
# Assumed sustained efficiency, FLOP per joule: about what a server CPU core complex
# (~10 GFLOP/s per W in FP32) and a datacentre GPU (~100 GFLOP/s per W in FP32 at realistic
# utilisation, a fraction of peak) deliver. An order of magnitude, not a measurement.
DEFAULT_EFFICIENCY = {"cpu": 10e9, "cuda": 100e9}
TRAIN_FLOPS_FACTOR = 3.0


def rapl_packages(root: Path = RAPL_ROOT) -> list[Path]:
    """The readable package-level RAPL domains (intel-rapl:0, intel-rapl:1, ...)."""
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.glob("intel-rapl:*")):
        if d.name.count(":") != 1:  # sub-domains (core, uncore, dram) are inside the package
            continue
        f = d / "energy_uj"
        try:
            int(f.read_text())
        except (OSError, ValueError):
            continue
        out.append(d)
    return out


@dataclass
class EnergyMeter:
    """`with EnergyMeter(device) as m: ...` then `m.result()`: joules and their source, or None.

    device: "cpu" or "cuda[:i]". Measured joules come with `"kind": "measured"`.
    """

    device: str = "cpu"
    rapl_root: Path = RAPL_ROOT
    source: str | None = None
    _read: object = None
    _start: float | None = None
    _ranges: dict = field(default_factory=dict)
    joules: float | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.device.startswith("cuda"):
            self._nvml()
        else:
            self._rapl()

    def _nvml(self) -> None:
        try:
            import pynvml

            pynvml.nvmlInit()
            idx = int(self.device.split(":")[1]) if ":" in self.device else 0
            handle = pynvml.nvmlDeviceGetHandleByIndex(idx)
            pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # raises where unsupported
            self._read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3  # mJ
            self.source = "NVML total energy counter (whole GPU)"
        except Exception:  # no pynvml, no driver, or a GPU without the counter
            self._read = None

    def _rapl(self) -> None:
        pkgs = rapl_packages(self.rapl_root)
        if not pkgs:
            return
        for d in pkgs:
            try:
                self._ranges[d] = int((d / "max_energy_range_uj").read_text())
            except (OSError, ValueError):
                self._ranges[d] = None
        self._read = lambda: {d: int((d / "energy_uj").read_text()) for d in pkgs}
        self.source = f"RAPL, {len(pkgs)} CPU package(s), other processes included"

    @property
    def readable(self) -> bool:
        return self._read is not None

    def __enter__(self) -> EnergyMeter:
        self._t0 = time.perf_counter()
        self._start = self._read() if self._read else None
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._t0
        if self._read is None:
            return
        end = self._read()
        if isinstance(end, dict):  # RAPL microjoules per package, each may wrap once
            total = 0
            for d, e in end.items():
                delta = e - self._start[d]
                if delta < 0 and self._ranges.get(d):
                    delta += self._ranges[d]
                total += max(delta, 0)
            self.joules = total / 1e6
        else:
            self.joules = float(end - self._start)

    def result(self, images: int | None = None) -> dict | None:
        if self.joules is None:
            return None
        out = {"kind": "measured", "joules": self.joules, "seconds": self.seconds}
        out["source"] = self.source
        if images:
            out["joules_per_image"] = self.joules / images
        return out


def estimate(
    flops_per_image: float,
    images: int,
    device: str = "cpu",
    training: bool = False,
    efficiency: float | None = None,
) -> dict:
    """Joules from FLOPs under a stated efficiency; always labelled "estimated"."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    eff = efficiency or DEFAULT_EFFICIENCY[kind]
    factor = TRAIN_FLOPS_FACTOR if training else 1.0
    flops = flops_per_image * images * factor
    return {
        "kind": "estimated",
        "joules": flops / eff,
        "joules_per_image": flops_per_image * factor / eff if images else None,
        "flops": flops,
        "assumption": f"{eff / 1e9:g} GFLOP per joule on {kind}"
        + (f", training = {factor:g}x forward FLOPs" if training else ", inference"),
    }


def energy(meter: EnergyMeter, flops_per_image: float | None, images: int, **kw) -> dict | None:
    """The measured energy when the meter could read a counter, else the FLOPs estimate."""
    measured = meter.result(images)
    if measured is not None:
        return measured
    if flops_per_image is None:
        return None
    return estimate(flops_per_image, images, meter.device, **kw)
