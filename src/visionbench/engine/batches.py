"""Batch iteration: slices of in-memory tensors (no collation), or a DataLoader for everything else.

Small in-memory sets can live on the accelerator (`resident`): the tensors are copied once, the
epoch's order is drawn on the CPU and copied once, and each batch is a gather on the device, so
small-image training is not bound by Python or by host-to-device copies. Folder datasets go
through one DataLoader per training run (persistent workers, pinned memory, non-blocking copies),
whose sampler is handed each epoch's seeded order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.tensors import TensorSet

CL = torch.channels_last


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> Any:
    if isinstance(batch, torch.Tensor):
        b = batch.to(device, non_blocking=True)
        if channels_last and b.ndim == 4 and b.is_floating_point():
            b = b.contiguous(memory_format=CL)
        return b
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(b, device, channels_last) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device, channels_last) for k, v in batch.items()}
    return batch


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    return n // batch_size if drop_last and n >= batch_size else -(-n // batch_size)


def epoch_order(
    n: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None,
    shard: tuple[int, int],
    batch_size: int,
    drop_last: bool,
) -> torch.Tensor:
    """This rank's indices for one epoch: a seeded permutation, an equal share, whole batches."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    rank, world = shard
    if world > 1:
        per = n // world  # equal shares so every rank takes the same number of steps
        order = order[: per * world][rank::world]
    if drop_last and len(order) >= batch_size:
        order = order[: len(order) // batch_size * batch_size]
    return order


def resident(dataset: Dataset, device: torch.device, max_bytes: int) -> Dataset:
    """The TensorSet copied to `device` once, when it fits in `max_bytes`; else unchanged."""
    if not isinstance(dataset, TensorSet) or device.type == "cpu":
        return dataset
    size = dataset.images.numel() * dataset.images.element_size()
    if size > max_bytes:
        return dataset
    labels = None if dataset.labels is None else dataset.labels.to(device)
    return TensorSet(dataset.images.to(device), labels)


def _tensor_batches(ds: TensorSet, order, batch_size, device, channels_last) -> Iterator[Any]:
    """Gathers by `order`; with order None, slices (views: no copy, memory format kept)."""
    on_device = ds.images.device == device
    if on_device and order is not None:
        order = order.to(device)
    n = len(ds) if order is None else len(order)
    for i in range(0, n, batch_size):
        batch = ds[i : i + batch_size] if order is None else ds.batch(order[i : i + batch_size])
        if on_device and not channels_last:
            yield batch
        else:
            yield to_device(batch, device, channels_last)


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
    channels_last: bool = False,
    collate: Callable[[list], Any] | None = None,
) -> Iterator[Any]:
    """Yield batches in a seeded order; `shard=(rank, world)` gives each DDP rank its part;
    `collate` (the task's) stacks samples of a dataset not held in memory."""
    order = epoch_order(
        len(dataset),
        shuffle=shuffle,
        generator=generator,
        shard=shard,
        batch_size=batch_size,
        drop_last=drop_last,
    )
    if isinstance(dataset, TensorSet):
        dev = dataset.images.device if device is None else device
        sequential = not shuffle and shard[1] == 1 and not drop_last
        yield from _tensor_batches(
            dataset, None if sequential else order, batch_size, dev, channels_last
        )
        return
    loader = DataLoader(
        torch.utils.data.Subset(dataset, order.tolist()),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device is not None and device.type == "cuda",
        collate_fn=getattr(dataset, "collate_fn", None) or collate,
    )
    for batch in loader:
        yield batch if device is None else to_device(batch, device, channels_last)


class _EpochSampler(Sampler[int]):
    """Yields whatever order it was last given; lives in the main process, so workers persist."""

    def __init__(self) -> None:
        self.order: list[int] = []

    def __iter__(self):
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)


class TrainBatches:
    """The training batches of one run, epoch after epoch, on the training device.

    Built once per run so DataLoader workers persist across epochs; every epoch's order depends
    on the generator only, which is what makes resume exact.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        *,
        device: torch.device,
        workers: int = 0,
        shard: tuple[int, int] = (0, 1),
        channels_last: bool = False,
        resident_bytes: int = 0,
        collate: Callable[[list], Any] | None = None,
    ):
        self.dataset = resident(dataset, device, resident_bytes)
        self.batch_size, self.device, self.shard = batch_size, device, shard
        self.channels_last = channels_last
        self.loader = None
        if not isinstance(self.dataset, TensorSet):
            self.sampler = _EpochSampler()
            self.loader = DataLoader(
                self.dataset,
                batch_size=batch_size,
                sampler=self.sampler,
                drop_last=True,
                num_workers=workers,
                pin_memory=device.type == "cuda",
                persistent_workers=workers > 0,
                collate_fn=getattr(self.dataset, "collate_fn", None) or collate,
            )

    def __len__(self) -> int:
        return num_batches(len(self.dataset) // self.shard[1], self.batch_size, drop_last=True)

    def epoch(self, generator: torch.Generator) -> Iterator[Any]:
        order = epoch_order(
            len(self.dataset),
            shuffle=True,
            generator=generator,
            shard=self.shard,
            batch_size=self.batch_size,
            drop_last=True,
        )
        if self.loader is None:
            yield from _tensor_batches(
                self.dataset, order, self.batch_size, self.device, self.channels_last
            )
            return
        self.sampler.order = order.tolist()
        for batch in self.loader:
            yield to_device(batch, self.device, self.channels_last)
