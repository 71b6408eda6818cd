"""What a model costs: parameters, FLOPs, latency, throughput, memory, weights size, energy.

FLOPs are counted by torch.utils.flop_counter.FlopCounterMode under the MATH attention backend:
the fused CPU/GPU attention kernels are invisible to the counter, so without it a ViT's attention
would silently go missing. Numbers are FLOPs (a multiply-add counts as two), never MACs.
"""

from __future__ import annotations

import os
import statistics
import time
import weakref
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ..models.flops import count_flops  # noqa: F401  (profile_model counts FLOPs with it)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_bytes(model: nn.Module, path: Path | None = None) -> int:
    """Size of the safetensors weights: the file when there is one, else serialised in memory."""
    if path is not None and Path(path).exists():
        return Path(path).stat().st_size
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return len(save(_untied(state)))


def _untied(state: dict) -> dict:
    """safetensors refuses shared storage; clone tensors that share memory with an earlier one."""
    seen, out = set(), {}
    for k, v in state.items():
        ptr = (v.untyped_storage().data_ptr(), v.storage_offset(), v.numel())
        out[k] = v.clone() if ptr in seen else v
        seen.add(ptr)
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, precision: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _timed(fn, device: torch.device, warmup: int, repeats: int, max_seconds: float) -> list[float]:
    """Seconds per call after `warmup` calls; stops early once `max_seconds` are spent."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < max_seconds):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times


class _LiveTensorBytes(TorchDispatchMode):
    """The peak of the bytes held by tensors that torch ops create inside the mode: the activation
    memory of a forward pass, counted op by op, the same on every run. Written here because the
    CPU allocator keeps no statistics (CUDA's `max_memory_allocated` has no CPU twin), and the
    resident set measured the allocator's reuse and the sampling's timing (0.004 MiB for a ViT).
    A storage is counted once, when an op first returns it, and released when torch frees it (a
    weak reference: torch keeps one Python object per live storage); views and in-place results
    of existing tensors (weights, the input) add nothing; oneDNN's own scratch is not seen."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._refs: dict[int, weakref.ref] = {}

    def _release(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._refs.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = {id(st) for st in map(_storage, tree_flatten((args, kwargs))[0]) if st is not None}
        for st in map(_storage, tree_flatten(out)[0]):
            if st is None or id(st) in given:
                continue
            ref = self._refs.get(id(st))
            if ref is not None and ref() is st:
                continue
            n, key = st.nbytes(), id(st)
            self.live += n
            self.peak = max(self.peak, self.live)
            self._refs[key] = weakref.ref(st, lambda _, k=key, n=n: self._release(k, n))
        return out


def _storage(x):
    if not isinstance(x, torch.Tensor) or x.is_sparse or x.device.type == "meta":
        return None
    try:
        return x.untyped_storage()
    except (RuntimeError, NotImplementedError):  # nested or otherwise storage-less tensors
        return None


def _peak_memory(fn, device: torch.device) -> dict:
    """Peak memory of one call beyond what existed before it (weights, input): CUDA max
    allocated on a GPU; elsewhere the peak of live tensor bytes, op by op."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        return {"peak_memory_mb": peak / 2**20, "memory_kind": "CUDA max allocated"}
    counter = _LiveTensorBytes()
    with counter:
        fn()
    return {
        "peak_memory_mb": counter.peak / 2**20,
        "memory_kind": "peak bytes of the tensors torch ops hold during one forward pass "
        "(counted op by op, weights and input excluded)",
    }


class _Energy:
    """Joules over a span from NVML (GPU) or RAPL (CPU package); None where neither is readable."""

    RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")

    def __init__(self, device: torch.device):
        self.source, self.read = None, None
        if device.type == "cuda":
            try:
                import pynvml

                pynvml.nvmlInit()
                handle = pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)
                pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                self.read = lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1e3
                self.source = "NVML (whole GPU)"
            except Exception:  # no pynvml, or the GPU does not report energy
                pass
        elif os.access(self.RAPL, os.R_OK):
            self.read = lambda: int(self.RAPL.read_text()) / 1e6
            self.source = "RAPL (whole CPU package, other processes included)"


def profile_model(
    model: nn.Module,
    make_input,
    *,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    batch: int | None = None,
    weights_path: Path | None = None,
    quick: bool = True,
) -> dict:
    """Params, FLOPs, latency (batch 1), throughput (batch B), peak memory, weights size, energy.

    `make_input(batch)` returns an input batch on the CPU. Quick mode keeps repetitions few, so
    profiling every job of a suite on a laptop costs seconds, not minutes.
    """
    from ..environment import describe

    device = torch.device(device)
    batch = batch or (256 if device.type == "cuda" else 32)
    model = model.eval().to(device)
    one = make_input(1).to(device)
    many = make_input(batch).to(device)
    out: dict = {
        "params": count_params(model),
        "input_shape": list(one.shape[1:]),
        "flops": count_flops(model.cpu(), one.cpu()),
        "flops_note": "forward FLOPs per image (a multiply-add counts as 2), attention included",
        "weights_mb": weights_bytes(model, weights_path) / 2**20,
    }
    model.to(device)

    def run(x):
        return lambda: _forward(model, x, device, precision)

    with torch.no_grad():
        out.update(_peak_memory(run(many), device))
        reps = (15, 0.75) if quick else (100, 10.0)  # quick: seconds per job, not minutes
        lat = _timed(run(one), device, warmup=2, repeats=reps[0], max_seconds=reps[1])
        out["latency_ms"] = {
            "median": 1e3 * statistics.median(lat),
            "p90": 1e3 * _quantile(lat, 0.9),
            "batch": 1,
            "repeats": len(lat),
        }
        energy = _Energy(device)
        e0 = energy.read() if energy.read else None
        tput = _timed(run(many), device, warmup=1, repeats=3 if quick else 30, max_seconds=reps[1])
        out["throughput"] = {
            "images_per_s": batch / statistics.median(tput),
            "batch": batch,
            "repeats": len(tput),
        }
        if e0 is not None:
            joules = energy.read() - e0
            out["energy"] = {
                "joules_per_image": joules / (batch * len(tput)),
                "source": energy.source,
            }
    out["environment"] = describe(device) | {"precision": precision}
    return out


def _forward(model: nn.Module, x: torch.Tensor, device: torch.device, precision: str):
    with _autocast(device, precision):
        return model(x)


def _quantile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def profile_run(
    run_dir: str | Path, device: str = "cpu", precision: str = "fp32", quick: bool = True
) -> dict:
    """Profile a finished run's model at the input size it was trained on; writes profile.json."""
    from ..tasks.workflow import load_run

    run, cfg, task, model, info = load_run(run_dir)
    model, make_input, measures = task.profile_target(model, info)
    result = profile_model(
        model,
        make_input,
        device=device,
        precision=precision,
        weights_path=run.weights,
        quick=quick,
    )
    result |= {"model": cfg.model, "task": cfg.task, "dataset": info.name, "measures": measures}
    run.write_json(run.profile, result)
    return result


def profile_named(
    model_name: str,
    task: str | None = None,
    img_size: int | None = None,
    in_chans: int = 3,
    num_classes: int = 10,
    batch: int | None = None,
    device: str = "cpu",
    precision: str = "fp32",
    quick: bool = True,
) -> dict:
    """Profile a registered model built fresh (random weights) at a given input size."""
    from ..models.registry import MODELS, create_model

    spec = MODELS.get(model_name)
    task = task or spec.tasks[0]
    size = img_size or spec.default_img_size
    model = create_model(
        model_name, task=task, num_classes=num_classes, in_chans=in_chans, img_size=size
    )
    result = profile_model(
        model,
        lambda b: torch.rand(b, in_chans, size, size),
        device=device,
        precision=precision,
        batch=batch,
        quick=quick,
    )
    return {"model": model_name, "task": task, "img_size": size} | result
