"""A small fast ResNet-style CIFAR network for time-to-accuracy runs, in the style of airbench.

Shape after Keller Jordan's airbench94 (written here, not copied): a 2x2 stem, three groups of
conv-pool-BN-GELU-conv-BN-GELU with widths 64/256/256, a global max pool and a linear head
whose logits are scaled down. BatchNorm scales are frozen at 1 (only shifts learn), which lets
a large learning rate work. Not reproduced: the data-whitening stem, Lookahead/EMA and the
per-parameter learning rates. With `tta=True` (the CIFAR-10 recipe passes
`--model-arg tta=true`) eval mode averages the logits of the image and its mirror, the flip
test-time augmentation airbench's reported numbers use; off by default, since a mirrored digit
is another digit.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import Recipe, register_model


class _BN(nn.BatchNorm2d):
    def __init__(self, channels: int):
        super().__init__(channels, momentum=0.4, eps=1e-12)
        self.weight.requires_grad_(False)  # scale frozen at 1; the shift learns


class _Group(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.MaxPool2d(2),
            _BN(c_out),
            nn.GELU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            _BN(c_out),
            nn.GELU(),
        )


class SpeedrunNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 3,
        widths: tuple[int, int, int] = (64, 256, 256),
        tta: bool = False,
    ):
        super().__init__()
        self.tta = tta
        stem = 2 * in_chans * 4  # airbench's whitening stem width: 24 for RGB
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, stem, 2, bias=True),
            nn.GELU(),
            _Group(stem, widths[0]),
            _Group(widths[0], widths[1]),
            _Group(widths[1], widths[2]),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(widths[2], num_classes, bias=False)
        self.scale = 1 / 9

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)) * self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training or not self.tta:
            return self.logits(x)
        return 0.5 * (self.logits(x) + self.logits(x.flip(-1)))


# Small data (the review suite's digits): the same optimizer at batch 128, learning rate scaled
# with the batch as airbench's summed loss implies; shifts only (digits are not mirror-symmetric).
_SMALL = Recipe(
    optimizer="sgd",
    lr=0.2,
    momentum=0.85,
    weight_decay=1.3e-3,
    schedule="onecycle",
    warmup_epochs=4,
    epochs=20,
    batch_size=128,
    augment="shift",
    label_smoothing=0.2,
)

# The CIFAR-10 time-to-accuracy recipe (benchmarks/gpu_check.sh). airbench94's optimizer, turned
# into mean-loss units: SGD-Nesterov momentum 0.85, lr 11.5 / (1 + 1/(1-0.85)) ~ 1.5 on the
# batch-mean loss, decoupled decay 0.0153 per kilostep -> weight_decay ~ 1.3e-3; label smoothing
# 0.2; flips and 4-px translations; a triangular (one-cycle) schedule.
_CIFAR = Recipe(
    optimizer="sgd",
    lr=1.5,
    momentum=0.85,
    weight_decay=1.3e-3,
    schedule="onecycle",
    warmup_epochs=2.5,
    epochs=12,
    batch_size=1024,
    augment="flip_crop",
    label_smoothing=0.2,
)


@register_model(
    "speedrun",
    family="modern_cnn",
    tasks=("classification",),
    description="airbench-style fast CIFAR ResNet (conv-pool-BN-GELU groups 64/256/256), optional flip TTA",
    default_img_size=32,
    min_img_size=16,
    card="For time-to-accuracy runs on 32x32 data; --model-arg tta=true averages each test image "
    "with its mirror (flip TTA, as airbench reports). No data-whitening stem, no Lookahead.",
    recipes={"small": _SMALL, "medium": _CIFAR, "large": _CIFAR},
)
def speedrun(
    task: str, num_classes: int = 10, in_chans: int = 3, img_size: int = 32, tta=False, **_
) -> nn.Module:
    if isinstance(tta, str):
        tta = tta.lower() not in ("0", "false", "no", "off")
    return SpeedrunNet(num_classes=num_classes, in_chans=in_chans, tta=bool(tta))
