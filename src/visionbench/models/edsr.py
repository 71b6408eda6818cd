"""An EDSR-style residual network (Lim et al., CVPRW 2017), sized for CPU training.

Convolutional head, residual blocks without batch normalisation (scaled by `res_scale`), a
long skip in feature space, and a sub-pixel (PixelShuffle) upsampler at the end: the network
works at the low resolution and only the last layers see the large image. A global bicubic skip
(on by default) makes it learn the residual over bicubic, which converges in seconds.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import Recipe, register_model
from .srcnn import bicubic_up


class ResBlock(nn.Module):
    def __init__(self, ch: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(ch, ch, 3, padding=1)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


def pixel_shuffle_upsampler(ch: int, scale: int) -> nn.Sequential:
    """x2 steps for powers of two, one x3 step for 3: the EDSR upsampler."""
    layers: list[nn.Module] = []
    if scale in (2, 4, 8):
        for _ in range(scale.bit_length() - 1):
            layers += [nn.Conv2d(ch, 4 * ch, 3, padding=1), nn.PixelShuffle(2)]
    elif scale == 3:
        layers += [nn.Conv2d(ch, 9 * ch, 3, padding=1), nn.PixelShuffle(3)]
    elif scale != 1:
        raise ValueError(f"upsampling factor {scale} not supported (use 1, 2, 3, 4 or 8)")
    return nn.Sequential(*layers)


class EDSR(nn.Module):
    size_divisor = 1

    def __init__(
        self,
        in_chans: int = 3,
        scale: int = 1,
        width: int = 32,
        blocks: int = 6,
        res_scale: float = 1.0,
        bicubic_skip: bool = True,
    ):
        super().__init__()
        self.scale, self.bicubic_skip = int(scale), bicubic_skip
        self.head = nn.Conv2d(in_chans, width, 3, padding=1)
        self.body = nn.Sequential(
            *[ResBlock(width, res_scale) for _ in range(blocks)],
            nn.Conv2d(width, width, 3, padding=1),
        )
        self.tail = nn.Sequential(
            pixel_shuffle_upsampler(width, self.scale), nn.Conv2d(width, in_chans, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        out = self.tail(f + self.body(f))
        return bicubic_up(x, self.scale) + out if self.bicubic_skip else out


_KW = ("scale", "width", "blocks", "res_scale", "bicubic_skip")


@register_model(
    "edsr",
    family="modern_cnn",
    tasks=("restoration",),
    description="EDSR-style residual SR network: no-BN residual blocks, PixelShuffle upsampler",
    default_img_size=48,
    card="Small by default (32 channels, 6 blocks; EDSR-baseline is 64 x 16, pass "
    "--model-arg width=64 --model-arg blocks=16). Adds a global bicubic skip, which the "
    "original has not (off with --model-arg bicubic_skip=false).",
    recipes={
        "small": Recipe(lr=2e-3, weight_decay=0.0, epochs=6, batch_size=16, augment="flip"),
    },
    # Quick suite work: the recipe's 6 epochs for x2 SR (on the half-size input, ~5 s an epoch
    # on one core), 3 for denoising (full-size input, 3x the cost per epoch).
    bench_jobs=(
        {"task_options": {"degradation": "sr:2"}},
        {"task_options": {"degradation": "noise:25"}, "quick": {"epochs": 3}},
    ),
    model_args=_KW,
)
def edsr(task: str, in_chans: int = 3, img_size: int = 48, **kw) -> nn.Module:
    return EDSR(in_chans=in_chans, **{k: v for k, v in kw.items() if k in _KW})
