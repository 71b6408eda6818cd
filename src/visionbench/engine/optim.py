"""Optimizers and per-step learning-rate schedules from a Recipe."""

from __future__ import annotations

import math

import torch

from ..errors import VisionbenchError
from ..models.registry import Recipe

# Our recipe names -> timm's, with what each recipe fixes beyond lr and weight decay: Adam with
# beta1 = 0.5 is the GAN recipe (DCGAN, SRGAN), SGD is Nesterov with the recipe's momentum.
_RECIPE_OPTIMIZERS = {
    "adamw": lambda recipe: {"opt": "adamw"},
    "adam": lambda recipe: {"opt": "adam", "betas": (0.5, 0.999)},
    "sgd": lambda recipe: {"opt": "sgd", "momentum": recipe.momentum},  # timm's sgd is Nesterov
}


def make_optimizer(params, recipe: Recipe, lr: float | None = None) -> torch.optim.Optimizer:
    """timm's optimizer factory (create_optimizer_v2) on a parameter list. Given parameters, not a
    model, timm applies the weight decay to every parameter, as our recipes were measured with; the
    recipe names build the same torch classes and settings as before (tests/test_optim.py).
    Any other name timm knows (lamb, lion, adan, ...) is passed through as is."""
    from timm.optim import create_optimizer_v2, list_optimizers

    name = recipe.optimizer
    extra = _RECIPE_OPTIMIZERS[name](recipe) if name in _RECIPE_OPTIMIZERS else {"opt": name}
    if extra["opt"] not in list_optimizers():
        raise VisionbenchError(
            f"unknown optimizer '{name}'; use adamw, adam, sgd or an optimizer timm lists "
            "(timm.optim.list_optimizers())"
        )
    return create_optimizer_v2(
        list(params),
        lr=recipe.lr if lr is None else lr,
        weight_decay=recipe.weight_decay,
        **extra,
    )


def make_scheduler(optimizer, recipe: Recipe, total_steps: int):
    """A LambdaLR stepped once per optimizer step: cosine or one-cycle, with linear warm-up.

    Ours on purpose, not torch's OneCycleLR / SequentialLR(LinearLR, CosineAnnealingLR) or timm's
    create_scheduler_v2: OneCycleLR ends at max_lr / (div_factor * final_div_factor) rather than
    0 and peaks one step earlier, LinearLR's warm-up starts at start_factor rather than 1/warm, and
    timm's schedulers step per epoch unless told otherwise. Every number in the docs was measured
    with these closed forms; one LambdaLR also resumes from its step count alone."""
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
