"""The work a training run did, in units that do not depend on the machine: steps, samples, FLOPs.

Seconds measure the machine as much as the model (the same job ran 2x slower beside other work);
work does not. One real training step (the task's own `train_step`: forward, backward, optimiser,
and every extra pass it makes, such as a GAN's two networks) is counted with torch's
FlopCounterMode on a copy of the model, so the run itself is untouched; the count per sample
times the samples trained on gives the run's training FLOPs.
"""

from __future__ import annotations

import copy
import random

import torch
from torch.utils.flop_counter import FlopCounterMode

from .batches import TrainBatches
from .checkpoint import unwrap
from .step import StepContext


def step_flops(task, model: torch.nn.Module, batch, recipe, device: torch.device) -> int:
    """FLOPs of one training step of `task` on `batch` (forward + backward + extra passes).

    Runs on a deep copy with fresh optimisers and restores every random state afterwards, so
    the caller's model, optimisers and random streams are exactly as before.
    """
    from torch.nn.attention import SDPBackend, sdpa_kernel

    clone = copy.deepcopy(unwrap(model)).train()
    optimizers = task.optimizers(clone, recipe)
    ctx = StepContext(optimizers, [None] * len(optimizers), None, device, "fp32")
    ctx.generator.manual_seed(0)
    py_state = random.getstate()
    counter = FlopCounterMode(display=False)
    try:
        with torch.random.fork_rng(devices=[]), sdpa_kernel(SDPBackend.MATH), counter:
            task.train_step(ctx, clone, batch)
    finally:
        random.setstate(py_state)
    return int(counter.get_total_flops())


def flops_per_sample(task, model, dataset, recipe, device: torch.device) -> tuple[float, int]:
    """Training FLOPs per sample, measured on the first batch of a seeded epoch of `dataset`,
    and the batch size it was measured at (the recipe's, capped by the data)."""
    bs = max(1, min(recipe.batch_size, len(dataset)))
    batches = TrainBatches(dataset, bs, device=device)
    batch = next(iter(batches.epoch(torch.Generator().manual_seed(0))))
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        batch = task.augment(batch, gen)
    return step_flops(task, model, batch, recipe, device) / bs, bs


def training_work(
    task, model, dataset, recipe, device: torch.device, steps: int, world: int = 1
) -> dict:
    """What status.json records: steps, samples (drop_last batches, all ranks) and FLOPs."""
    per_sample, _ = flops_per_sample(task, model, dataset, recipe, device)
    per_rank = min(max(1, recipe.batch_size // world), max(1, len(dataset) // world))  # as fit
    samples = int(steps) * per_rank * world
    return {
        "steps": int(steps),
        "train_samples": samples,
        "train_flops": float(round(per_sample * samples)),
        "train_flops_per_sample": float(round(per_sample)),
    }
