"""Data-parallel training over plain torch.distributed: one process per device, started by torchrun.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `setup` joins the process group (gloo on CPU,
nccl on CUDA) and picks this rank's device. Everything else asks `rank()`/`world()`, so a
single-process run needs no special case: world is 1 and every collective is a no-op.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn

from ..errors import VisionbenchError


def env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def setup(device: torch.device) -> torch.device:
    """Join the process group when launched by torchrun; return this rank's device."""
    if env_world() <= 1:
        return device
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise VisionbenchError(
                f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s) visible"
            )
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kw = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(backend=backend, **kw)
        atexit.register(shutdown)
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if active():
        dist.barrier()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around the model when there is more than one rank."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    # A model whose forwards each use part of its parameters (a GAN: `mode="generate"` or
    # `"discriminate"`) says so; DDP then marks the parameters a forward did not use as ready
    # instead of waiting for their gradients forever.
    unused = bool(getattr(model, "find_unused_parameters", False))
    # buffers (BN statistics) follow rank 0 at every forward
    return DDP(model, device_ids=ids, find_unused_parameters=unused)


def no_sync(model: nn.Module):
    """A forward whose backward comes later, through another forward's output (a GAN's fake
    images): DDP must not wait for its gradients now. A no-op on an unwrapped model."""
    return model.no_sync() if hasattr(model, "no_sync") else contextlib.nullcontext()


def mean_across_ranks(values: dict[str, Any], device: torch.device) -> dict[str, float]:
    """Average numbers (floats or 0-d tensors) over ranks with one all-reduce; read once."""
    if not values:
        return {}
    keys = sorted(values)
    t = torch.stack([torch.as_tensor(values[k], dtype=torch.float64).to(device) for k in keys])
    if active():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t = t / dist.get_world_size()
    return dict(zip(keys, t.cpu().tolist()))


def from_main(obj: Any) -> Any:
    """Rank 0's value of a picklable object on every rank (e.g. its validation metrics)."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when the flag is true on any, so all ranks stop at the same step."""
    if not active():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def strip_devices(argv: list[str]) -> tuple[list[str], int | None]:
    """Remove `--devices N` / `--devices=N` from a command line; return the rest and N."""
    out, n, skip = [], None, False
    for i, a in enumerate(argv):
        if skip:
            skip = False
            continue
        if a == "--devices":
            if i + 1 >= len(argv):
                raise VisionbenchError("--devices needs a number of processes, e.g. --devices 2")
            n, skip = argv[i + 1], True
        elif a.startswith("--devices="):
            n = a.split("=", 1)[1]
        else:
            out.append(a)
    if n is None:
        return out, None
    try:
        return out, int(n)
    except ValueError:
        raise VisionbenchError(f"--devices must be a whole number, got '{n}'") from None


def launch(argv: list[str], devices: int) -> int:
    """Re-run this command under torchrun with `devices` processes on this machine."""
    from torch.distributed import run as torchrun

    if devices < 1:
        raise VisionbenchError(f"--devices must be at least 1, got {devices}")
    args = torchrun.get_args_parser().parse_args(
        ["--standalone", f"--nproc_per_node={devices}", "-m", "visionbench", *argv]
    )
    try:
        torchrun.run(args)
    except Exception as e:  # ChildFailedError: the failing rank's traceback is printed above
        print(f"visionbench: a training process failed: {type(e).__name__}", file=sys.stderr)
        return 1
    return 0
