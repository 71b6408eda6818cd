"""The plain U-Net (Ronneberger, Fischer & Brox, MICCAI 2015), beside the attention variant.

The paper's layout: a contracting path of double 3x3 convolution + ReLU blocks and 2x2 max
pooling (64 channels doubling to 1024 over four poolings), an expanding path of 2x2
up-convolutions that halve the channels, each concatenated with the contracting path's map of
the same size and refined by another double convolution, and a 1x1 convolution to class scores.
Two changes, as in most reimplementations: the convolutions are padded (the paper's were
unpadded, so its output was smaller than its input and needed overlap-tiling) and each is
followed by batch norm (the paper had none; it trained with batch 1 for many more steps).
Unlike `unet_attention` there is no transformer: context comes only from depth.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import Recipe, register_model


def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """`depth` poolings; widths width * 2**level. Inputs must divide by 2**depth (the segmenter
    pads them; `size_divisor` says so)."""

    def __init__(self, in_chans: int, num_classes: int, width: int = 64, depth: int = 4):
        super().__init__()
        widths = [width * 2**i for i in range(depth + 1)]
        self.size_divisor = 2**depth
        self.down = nn.ModuleList(
            [double_conv(in_chans, widths[0])]
            + [double_conv(a, b) for a, b in zip(widths, widths[1:])]
        )
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(b, a, 2, stride=2) for a, b in zip(widths, widths[1:])
        )
        self.dec = nn.ModuleList(double_conv(2 * a, a) for a in widths[:-1])
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x if i == 0 else self.pool(x))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(reversed(self.up), reversed(self.dec)):
            x = dec(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)


# 64x64 shapes scenes, 240 training images.
SEG_SMALL = Recipe(lr=3e-3, weight_decay=1e-4, epochs=10, batch_size=8, augment="hflip")
CARD = (
    "Inputs are padded (edge values) to a multiple of 16 and the logits cropped back, never "
    "resized. Padded convolutions and batch norm (the paper: unpadded, no normalisation)."
)


@register_model(
    "unet",
    family="modern_cnn",
    tasks=("segmentation",),
    description="U-Net as published: 4 poolings, 64-1024 channels, up-convolutions, skips",
    default_img_size=64,
    min_img_size=16,
    card=CARD + " The paper's widths (31 M parameters); full suite only.",
    recipes={"small": SEG_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": False},),
)
def unet(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return UNet(in_chans, num_classes, **kw)


@register_model(
    "unet_tiny",
    family="modern_cnn",
    tasks=("segmentation",),
    description="U-Net at 1/8 width (8-128 channels), the paper's depth and layout",
    default_img_size=64,
    min_img_size=16,
    card=CARD + " The quick-suite member; model_kwargs width=W, depth=D to change it.",
    recipes={"small": SEG_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": True, "quick": {"epochs": 10}},),
)
def unet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    kw.setdefault("width", 8)
    return UNet(in_chans, num_classes, **kw)
