"""An SRGAN/ESRGAN-style GAN (Ledig et al. 2017; Wang et al. 2018) sized for CPU training.

Generator: residual-in-residual dense blocks (RRDB, no batch norm, residual scaling 0.2) at the
low resolution, then nearest-neighbour upsampling + convolution (ESRGAN's upsampler), plus a
global bicubic skip. Discriminator: a PatchGAN (Isola et al. 2017) that scores overlapping
patches, so it works at any image size. The task trains it with pixel + adversarial loss; the
VGG perceptual loss of the papers needs pretrained VGG weights, which visionbench never
downloads, so it is left out.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import Recipe, register_model
from .srcnn import bicubic_up


class DenseBlock(nn.Module):
    def __init__(self, ch: int, growth: int, layers: int = 4):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(ch + i * growth, growth if i < layers - 1 else ch, 3, padding=1)
            for i in range(layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, 1))
            if i < len(self.convs) - 1:
                feats.append(F.leaky_relu(out, 0.2))
        return x + 0.2 * out


class RRDB(nn.Module):
    def __init__(self, ch: int, growth: int):
        super().__init__()
        self.blocks = nn.Sequential(*[DenseBlock(ch, growth) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class RRDBGenerator(nn.Module):
    def __init__(self, in_chans: int, scale: int, width: int, growth: int, blocks: int):
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(in_chans, width, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(width, growth) for _ in range(blocks)])
        self.body_out = nn.Conv2d(width, width, 3, padding=1)
        ups = []
        s = scale
        while s > 1:
            f = 3 if s == 3 else 2
            ups += [
                nn.Upsample(scale_factor=f, mode="nearest"),
                nn.Conv2d(width, width, 3, padding=1),
            ]
            ups += [nn.LeakyReLU(0.2, inplace=True)]
            s //= f
        self.up = nn.Sequential(*ups)
        self.tail = nn.Conv2d(width, in_chans, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.body_out(self.body(f))
        return bicubic_up(x, self.scale) + self.tail(self.up(f))


class PatchDiscriminator(nn.Module):
    """PatchGAN: a map of real/fake logits, one per overlapping ~30 px patch."""

    def __init__(self, in_chans: int, width: int = 32):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_chans, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.GroupNorm(8, 2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 3, 1, 1), nn.GroupNorm(8, 4 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 3, 1, 1),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SRGAN(nn.Module):
    """Generator + discriminator; forward is the generator unless asked for the discriminator."""

    size_divisor = 1
    adversarial = True
    find_unused_parameters = True  # under DDP: each forward uses one of the two networks

    def __init__(self, in_chans=3, scale=1, width=32, growth=16, blocks=2, adv_weight=5e-3):
        super().__init__()
        self.generator = RRDBGenerator(in_chans, int(scale), width, growth, blocks)
        self.discriminator = PatchDiscriminator(in_chans)
        self.adv_weight = adv_weight

    def forward(
        self, *x: torch.Tensor, mode: str = "generate"
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """`generate`: degraded -> restored image; `discriminate`: images -> patch logits, one
        map per input. Both phases of a GAN step call this, so DDP and compile see them."""
        if mode == "generate":
            return self.generator(*x)
        if mode == "discriminate":
            out = tuple(self.discriminator(images) for images in x)
            return out[0] if len(out) == 1 else out
        raise ValueError(f"mode must be generate or discriminate, got '{mode}'")


_KW = ("scale", "width", "growth", "blocks", "adv_weight")


@register_model(
    "srgan",
    family="gan_diffusion",
    tasks=("restoration",),
    description="ESRGAN-style GAN: RRDB generator, PatchGAN discriminator, L1 + adversarial loss",
    default_img_size=48,
    card="Pixel (L1) + adversarial loss only: the VGG perceptual loss of SRGAN/ESRGAN needs "
    "pretrained VGG weights that a user must supply, so it is not used. The adversarial term "
    "starts after the first half of training (ESRGAN's PSNR-oriented warm start). Small by "
    "default (32 channels, 2 RRDB; ESRGAN has 64 x 23).",
    recipes={
        "small": Recipe(
            optimizer="adam", lr=5e-4, weight_decay=0.0, epochs=6, batch_size=16, augment="flip"
        ),
    },
    # Quick suite work: the recipe's 6 epochs for x2 SR (3 gave only +0.11 dB over bicubic:
    # the adversarial half trades PSNR for texture), 2 for denoising (~12 and ~34 s an epoch on
    # one loaded core: generator and discriminator); the adversarial half stays in both.
    bench_jobs=(
        {"task_options": {"degradation": "sr:2"}},
        {"task_options": {"degradation": "noise:25"}, "quick": {"epochs": 2}},
    ),
    model_args=_KW,
)
def srgan(task: str, in_chans: int = 3, img_size: int = 48, **kw) -> nn.Module:
    return SRGAN(in_chans=in_chans, **{k: v for k, v in kw.items() if k in _KW})
