"""ESRGAN's training (Wang et al. 2018) inside the restoration task: two phases, three losses.

Phase 1 (the first half of the steps): the generator learns with L1 alone (the paper's
PSNR-oriented pre-training); when the perceptual feature network is trained here, it learns
rotation prediction on the same clean images with its own optimizer.
Phase 2: a relativistic average discriminator (RaGAN) and the generator loss
`pixel_weight * L1 + perceptual_weight * L1(features) + adv_weight * RaGAN`, with the feature
network frozen. Every model call goes through the wrapper's forward (`model(x, mode=...)`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine.checkpoint import unwrap
from ..errors import VisionbenchError


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def relativistic_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN discriminator loss: real images should look *more real than the average fake*,
    fakes less real than the average real; the two terms averaged (ESRGAN's code)."""
    return 0.5 * (_bce(real - fake.mean(), True) + _bce(fake - real.mean(), False))


def relativistic_g_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's side, symmetric: it gains from both real and fake logits."""
    return 0.5 * (_bce(real - fake.mean(), False) + _bce(fake - real.mean(), True))


def rotated(x: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image turned by a random multiple of 90 degrees, and that multiple as its label."""
    k = torch.randint(0, 4, (x.shape[0],), generator=generator).to(x.device)
    turned = torch.stack([torch.rot90(img, int(q), dims=(-2, -1)) for img, q in zip(x, k)])
    return turned, k


def optimizers(model: nn.Module, recipe) -> list[torch.optim.Optimizer]:
    from ..engine.optim import make_optimizer

    return [make_optimizer(group, recipe) for group in unwrap(model).parameter_groups()]


def load_perceptual_weights(model: nn.Module, path: str | Path) -> str:
    """Loads the user's VGG-19 file into the feature network; returns what the run records."""
    from ..models.esrgan import load_vgg19

    m = unwrap(model)
    if m.trains_features:
        raise VisionbenchError("perceptual weights need the model built with perceptual=vgg19")
    load_vgg19(m.feature_net.features, path)
    return f"VGG-19 conv5_4 loaded from {Path(path).name}"


def train_step(task, ctx, model: nn.Module, batch) -> dict[str, torch.Tensor]:
    """One ESRGAN step; `task` gives the training length (`n_train`, `recipe`)."""
    m = unwrap(model)
    w = m.weights
    degraded, clean = batch
    steps = max(1, task.n_train // task.recipe.batch_size) * task.recipe.epochs
    stats: dict[str, torch.Tensor] = {}
    if ctx.step < steps // 2:  # phase 1: PSNR-oriented warm-up
        with ctx.autocast():
            pixel = F.l1_loss(model(degraded), clean)
        ctx.backward_step(pixel, opt=0)
        if m.trains_features:
            if task.recipe.augment == "flip":  # it turns whole batches: rotations unlearnable
                raise VisionbenchError(
                    "esrgan learns its perceptual features by rotation prediction, which the "
                    "'flip' augmentation (random 90-degree turns) defeats: use --augment none "
                    "or flip_crop, or --perceptual-weights PATH"
                )
            x, k = rotated(clean, ctx.generator)
            with ctx.autocast():
                rot = F.cross_entropy(model(x, mode="rotation").float(), k)
            ctx.backward_step(rot, opt=2)
            stats["rotation_loss"] = rot.detach()
        return {"loss": pixel.detach(), **stats}
    with ctx.autocast():  # phase 2: discriminator, then generator
        fake = model(degraded)
        d_real = model(clean, mode="discriminator")
        d_fake = model(fake.detach(), mode="discriminator")
        loss_d = relativistic_d_loss(d_real.float(), d_fake.float())
    ctx.backward_step(loss_d, opt=1)
    with ctx.autocast():
        d_real = model(clean, mode="discriminator").detach()
        d_fake = model(fake, mode="discriminator")
        adv = relativistic_g_loss(d_real.float(), d_fake.float())
        pixel = F.l1_loss(fake, clean)
        perceptual = F.l1_loss(model(fake, mode="features"), model(clean, mode="features").detach())
        loss_g = w["pixel"] * pixel + w["perceptual"] * perceptual + w["adv"] * adv
    ctx.backward_step(loss_g, opt=0)
    return {
        "loss": pixel.detach(),
        "perceptual": perceptual.detach(),
        "adv": adv.detach(),
        "d_loss": loss_d.detach(),
    }
