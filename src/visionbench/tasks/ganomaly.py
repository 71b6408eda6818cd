"""GANomaly's training and scoring inside the anomaly task (Akcay et al. 2018).

Discriminator: binary cross-entropy, real images against reconstructions. Generator:
w_adv * feature matching on the discriminator's last features + w_con * L1 reconstruction +
w_enc * latent consistency. Every model call goes through the wrapper's forward.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine.checkpoint import unwrap


def is_latent_scored(model: nn.Module) -> bool:
    return getattr(unwrap(model), "latent_scoring", False)


def optimizers(model: nn.Module, recipe) -> list[torch.optim.Optimizer]:
    from ..engine.optim import make_optimizer

    return [make_optimizer(group, recipe) for group in unwrap(model).parameter_groups()]


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def train_step(ctx, model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    w = unwrap(model).weights
    with ctx.autocast():
        x_hat, z, z_hat = model(x, mode="latents")
        real_logit, _ = model(x, mode="discriminator")
        fake_logit, _ = model(x_hat.detach(), mode="discriminator")
        loss_d = _bce(real_logit.float(), True) + _bce(fake_logit.float(), False)
    ctx.backward_step(loss_d, opt=1)
    with ctx.autocast():
        _, f_real = model(x, mode="discriminator")
        _, f_fake = model(x_hat, mode="discriminator")
        adv = F.mse_loss(f_fake.float(), f_real.detach().float())
        con = F.l1_loss(x_hat.float(), x.float())
        enc = F.mse_loss(z_hat.float(), z.float())
        loss_g = w["adv"] * adv + w["con"] * con + w["enc"] * enc
    ctx.backward_step(loss_g, opt=0)
    return {
        "loss": con.detach(),
        "adv": adv.detach(),
        "enc": enc.detach(),
        "d_loss": loss_d.detach(),
    }


def score_maps(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """[N,1,H,W]: each image's latent distance, the same at every pixel (GANomaly scores images)."""
    score = model(x, mode="score").float()
    return score[:, None, None, None].expand(-1, 1, *x.shape[-2:]).contiguous()
