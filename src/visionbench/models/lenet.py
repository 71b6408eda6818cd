"""LeNet-5 as LeCun et al. (1998) describe it, at its native 32x32 input.

Kept faithful where it matters for the comparison: scaled tanh (1.7159 tanh(2x/3)), trainable
subsampling (average of a 2x2 window times a learned coefficient plus a learned bias, per map),
and C3's partial connection table (Table I of the paper), which breaks symmetry between maps.
One deliberate change: the Euclidean RBF output layer becomes a linear layer trained with
cross-entropy, as every modern reimplementation does.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import Recipe, register_model

# Table I of the paper: which of S2's 6 maps feed each of C3's 16 maps.
C3_TABLE = [
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
]  # fmt: skip


class ScaledTanh(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """S2/S4: 2x2 sum times a trainable coefficient plus a trainable bias, per feature map."""

    def __init__(self, channels: int):
        super().__init__()
        self.coef = nn.Parameter(torch.full((1, channels, 1, 1), 0.25))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) * 4 * self.coef + self.bias


class PartialConv(nn.Conv2d):
    """C3: a 5x5 convolution whose weights are masked by the paper's connection table."""

    def __init__(self):
        super().__init__(6, 16, 5)
        mask = torch.zeros(16, 6, 1, 1)
        for out, ins in enumerate(C3_TABLE):
            mask[out, list(ins)] = 1
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias)


class LeNet5(nn.Module):
    def __init__(self, num_classes: int = 10, in_chans: int = 1):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5),  # C1: 6@28x28
            ScaledTanh(),
            Subsampling(6),  # S2: 6@14x14
            ScaledTanh(),
            PartialConv(),  # C3: 16@10x10
            ScaledTanh(),
            Subsampling(16),  # S4: 16@5x5
            ScaledTanh(),
            nn.Conv2d(16, 120, 5),  # C5: 120@1x1
            ScaledTanh(),
        )
        self.f6 = nn.Sequential(nn.Flatten(), nn.Linear(120, 84), ScaledTanh())
        self.head = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.f6(self.features(x)))


@register_model(
    "lenet5",
    family="classic_cnn",
    tasks=("classification",),
    description="LeNet-5 (LeCun et al. 1998): C1-S2-C3-S4-C5-F6, scaled tanh, partial C3 table",
    default_img_size=32,
    fixed_img_size=True,
    card="Inputs are resized to 32x32 (the paper's input size). The RBF output layer is a "
    "linear layer trained with cross-entropy.",
    # the family's quick-suite model beside alexnet_tiny (which opts in as the mCE reference)
    bench_jobs=({"task": "classification", "in_quick": True},),
    recipes={
        "small": Recipe(
            optimizer="adamw",
            lr=2e-3,
            weight_decay=1e-4,
            epochs=30,
            batch_size=32,
            schedule="cosine",
            augment="shift",
        ),
        "medium": Recipe(
            optimizer="adamw",
            lr=2e-3,
            weight_decay=1e-4,
            epochs=15,
            batch_size=128,
            schedule="cosine",
            augment="none",
        ),
    },
)
def lenet5(
    task: str, num_classes: int = 10, in_chans: int = 1, img_size: int = 32, **_
) -> nn.Module:
    return LeNet5(num_classes=num_classes, in_chans=in_chans)
