"""Optimizers and per-step learning-rate schedules from a Recipe."""

from __future__ import annotations

import math

import torch

from ..errors import VisionbenchError
from ..models.registry import Recipe


def make_optimizer(params, recipe: Recipe, lr: float | None = None) -> torch.optim.Optimizer:
    lr = recipe.lr if lr is None else lr
    params = list(params)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=recipe.weight_decay)
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999), weight_decay=recipe.weight_decay)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=recipe.momentum, nesterov=True, weight_decay=recipe.weight_decay
        )
    raise VisionbenchError(f"unknown optimizer '{recipe.optimizer}'; use adamw, adam or sgd")


def make_scheduler(optimizer, recipe: Recipe, total_steps: int):
    """A LambdaLR stepped once per optimizer step: cosine or one-cycle, with linear warm-up."""
    total = max(1, total_steps)
    warm = int(recipe.warmup_epochs * total / max(1, recipe.epochs))
    if recipe.schedule == "constant":
        return None
    if recipe.schedule == "cosine":

        def f(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, f)
    if recipe.schedule == "onecycle":
        peak = max(1, warm or int(0.3 * total))

        def g(step: int) -> float:
            if step < peak:
                return 0.04 + 0.96 * step / peak
            t = (step - peak) / max(1, total - peak)
            return max(0.0, 1 - min(1.0, t))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, g)
    raise VisionbenchError(
        f"unknown schedule '{recipe.schedule}'; use cosine, onecycle or constant"
    )
