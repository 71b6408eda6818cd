"""Batch iteration: slices of in-memory tensors (no collation), or a DataLoader for everything else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from ..data.tensors import TensorSet


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    if isinstance(batch, torch.Tensor):
        b = batch.to(device, non_blocking=True)
        if channels_last and b.ndim == 4:
            b = b.contiguous(memory_format=torch.channels_last)
        return b
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last and n >= batch_size else -(-n // batch_size)


def iterate(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    workers: int = 0,
    device: torch.device | None = None,
    shard: tuple[int, int] = (0, 1),
) -> Iterator[Any]:
    """Yield batches in a seeded order; `shard=(rank, world)` gives each DDP rank its part."""
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    rank, world = shard
    if world > 1:
        per = n // world  # equal shares so every rank takes the same number of steps
        order = order[: per * world][rank::world]
    if drop_last and len(order) >= batch_size:
        order = order[: len(order) // batch_size * batch_size]
    if isinstance(dataset, TensorSet):
        for i in range(0, len(order), batch_size):
            batch = dataset.batch(order[i : i + batch_size])
            yield batch if device is None else to_device(batch, device)
        return
    loader = DataLoader(
        torch.utils.data.Subset(dataset, order.tolist()),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device is not None and device.type == "cuda",
        persistent_workers=False,
    )
    for batch in loader:
        yield batch if device is None else to_device(batch, device)
