"""GANomaly (Akcay, Atapour-Abarghouei & Breckon, ACCV 2018): a GAN anomaly detector.

Generator: encoder G_E maps x to a latent z, decoder G_D reconstructs x_hat, and a second
encoder E maps x_hat to z_hat. A DCGAN discriminator D judges x against x_hat. Trained on
normal images only with w_adv * |f(x) - f(x_hat)|^2 (feature matching on D's last features)
+ w_con * |x - x_hat|_1 + w_enc * |z - z_hat|^2 (weights 1, 50, 1 in the paper). An image's
anomaly score is the latent distance |z - z_hat|^2: the generator learned to map normal images
to latents its second encoder agrees with, and a defect moves the two apart.

The networks are DCGAN's (strided convolutions, batch norm, LeakyReLU in the encoders, ReLU in
the decoder) at the smallest power of two that holds the image; inputs are resized to it and the
reconstruction back. Every call goes through `forward(x, mode=...)`.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .dcgan import _resize, power_of_two
from .registry import Recipe, register_model


def dcgan_encoder(in_chans: int, size: int, width: int, out: int) -> nn.Sequential:
    """size x size -> 4x4 by stride-2 convolutions, then a 4x4 convolution to `out` x 1 x 1."""
    layers: list[nn.Module] = [nn.Conv2d(in_chans, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c, s = width, size // 2
    while s > 4:
        layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c)]
        layers += [nn.LeakyReLU(0.2, True)]
        c, s = 2 * c, s // 2
    layers.append(nn.Conv2d(c, out, 4, 1, 0))
    return nn.Sequential(*layers)


def dcgan_decoder(z_dim: int, size: int, width: int, out: int) -> nn.Sequential:
    n_up = (size // 4).bit_length() - 1
    c = width * 2 ** max(0, n_up - 1)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(z_dim, c, 4, 1, 0, bias=False),
        nn.BatchNorm2d(c),
        nn.ReLU(True),
    ]
    for _ in range(n_up - 1):
        layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2)]
        layers += [nn.ReLU(True)]
        c //= 2
    layers += [nn.ConvTranspose2d(c, out, 4, 2, 1), nn.Sigmoid()]  # images in [0,1]
    return nn.Sequential(*layers)


class GANomaly(nn.Module):
    latent_scoring = True  # the anomaly task scores it by latent distance, not pixel error

    def __init__(
        self,
        in_chans: int = 3,
        img_size: int = 32,
        z_dim: int = 100,
        width: int = 32,
        w_adv: float = 1.0,
        w_con: float = 50.0,
        w_enc: float = 1.0,
    ):
        super().__init__()
        self.img_size, self.work = img_size, max(8, power_of_two(img_size))
        self.encoder = dcgan_encoder(in_chans, self.work, width, z_dim)
        self.decoder = dcgan_decoder(z_dim, self.work, width, in_chans)
        self.encoder2 = dcgan_encoder(in_chans, self.work, width, z_dim)
        disc = dcgan_encoder(in_chans, self.work, width, 1)
        self.disc_features, self.disc_head = disc[:-1], disc[-1]
        self.weights = {"adv": w_adv, "con": w_con, "enc": w_enc}

    def latents(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_hat at x's size, z, z_hat)."""
        xw = _resize(x, self.work)
        z = self.encoder(xw)
        x_hat = self.decoder(z)
        z_hat = self.encoder2(x_hat)
        return _resize_to(x_hat, x), z.flatten(1), z_hat.flatten(1)

    def forward(self, x: torch.Tensor, mode: str = "reconstruct"):
        if mode == "reconstruct":
            return self.latents(x)[0]
        if mode == "latents":
            return self.latents(x)
        if mode == "score":  # per-image anomaly score
            _, z, z_hat = self.latents(x)
            return (z - z_hat).pow(2).mean(1)
        if mode == "discriminator":  # (logit per image, features for feature matching)
            f = self.disc_features(_resize(x, self.work))
            return self.disc_head(f).flatten(), f
        raise ValueError(f"unknown GANomaly mode '{mode}'")

    def parameter_groups(self) -> list[list[nn.Parameter]]:
        gen = [*self.encoder.parameters(), *self.decoder.parameters()]
        gen += list(self.encoder2.parameters())
        return [gen, [*self.disc_features.parameters(), *self.disc_head.parameters()]]


def _resize_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return nn.functional.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


@register_model(
    "ganomaly",
    family="classic_gan",
    tasks=("anomaly",),
    description="GANomaly: encoder-decoder-encoder generator + DCGAN discriminator; "
    "score = latent distance |z - z_hat|^2",
    default_img_size=32,
    min_img_size=8,
    card="DCGAN-sized (width 32, 100-D latent; model_kwargs width, z_dim, w_adv/w_con/w_enc). "
    "It scores whole images: its anomaly map is the image's latent distance everywhere, so its "
    "pixel AUROC and PRO measure detection, not localisation. Inputs are resized to the next "
    "power of two inside the model.",
    recipes={
        "anomaly/small": Recipe(
            optimizer="adam", lr=2e-4, weight_decay=0.0, epochs=15, batch_size=32, augment="flip"
        )
    },
    bench_jobs=(
        {
            "task": "anomaly",
            "in_quick": True,
            "quick": {"epochs": 15, "data_options": {"patch_size": 32}},
        },
    ),
)
def ganomaly(task: str, in_chans: int = 3, img_size: int = 32, **kw) -> nn.Module:
    keep = ("z_dim", "width", "w_adv", "w_con", "w_enc")
    return GANomaly(in_chans, img_size, **{k: v for k, v in kw.items() if k in keep})
