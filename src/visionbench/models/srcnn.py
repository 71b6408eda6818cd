"""SRCNN (Dong et al., ECCV 2014): three convolutions on the bicubic-upsampled image.

The classic 9-1-5 layout (patch extraction, non-linear mapping, reconstruction) with 64 and 32
filters. It predicts the residual over bicubic (VDSR's trick, off with residual=False), which
lets a short CPU training beat bicubic; with scale 1 it is a small denoiser.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..data.imresize import imresize
from .registry import Recipe, register_model


def bicubic_up(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Upsample by an integer factor as the SR papers do (MATLAB bicubic, unclamped), so the
    restoration task's bicubic baseline is exactly this clamped to [0, 1]."""
    if scale == 1:
        return x
    return imresize(x, float(scale))


class SRCNN(nn.Module):
    size_divisor = 1

    def __init__(
        self, in_chans: int = 3, scale: int = 1, f1: int = 64, f2: int = 32, residual: bool = True
    ):
        super().__init__()
        self.scale, self.residual = int(scale), residual
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, f1, 9, padding=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(f1, f2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(f2, in_chans, 5, padding=2),
        )
        if residual:  # the residual starts at zero: the untrained network is exactly bicubic
            nn.init.zeros_(self.body[-1].weight)
            nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = bicubic_up(x, self.scale)
        out = self.body(up)
        return up + out if self.residual else out


_KW = ("scale", "f1", "f2", "residual")


@register_model(
    "srcnn",
    family="classic_cnn",
    tasks=("restoration",),
    description="SRCNN 9-1-5 (Dong et al. 2014) on the bicubic-upsampled input, residual output",
    default_img_size=48,
    card="Upsamples with bicubic first, then three convolutions predict the residual over "
    "bicubic (the original predicts the image; pass --model-arg residual=false for that).",
    recipes={
        "small": Recipe(lr=1e-3, weight_decay=0.0, epochs=10, batch_size=16, augment="flip"),
    },
    bench_jobs=(
        {"task_options": {"degradation": "sr:2"}},
        {"task_options": {"degradation": "noise:25"}},
    ),
    model_args=_KW,
)
def srcnn(task: str, in_chans: int = 3, img_size: int = 48, **kw) -> nn.Module:
    return SRCNN(in_chans=in_chans, **{k: v for k, v in kw.items() if k in _KW})
