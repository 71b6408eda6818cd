"""AlexNet (Krizhevsky et al. 2012): five convolutions and three fully connected layers.

timm and torchvision's AlexNet only come at ImageNet scale, so it is written here with one
structure and three sizes. Kept from the paper: 5 conv + 3 FC, ReLU, max-pooling after conv1,
conv2 and conv5, dropout 0.5 before each hidden FC layer. Dropped: local response normalisation
(it was superseded and torchvision drops it too) and the two-GPU split. The small-input variants
replace the 11x11 stride-4 and 5x5 kernels by 3x3 stride-1 kernels so 8-32 px images keep their
resolution, and pool to a 2x2 grid before the classifier instead of 6x6.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .registry import Recipe, register_model


class AlexNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 3,
        widths: tuple[int, int, int, int, int] = (64, 192, 384, 256, 256),
        hidden: int = 4096,
        small_input: bool = False,
        pool_grid: int = 6,
        dropout: float = 0.5,
    ):
        super().__init__()
        c1, c2, c3, c4, c5 = widths
        if small_input:
            conv1 = nn.Conv2d(in_chans, c1, 3, stride=1, padding=1)
            conv2 = nn.Conv2d(c1, c2, 3, padding=1)
            pool = nn.MaxPool2d(2, ceil_mode=True)
        else:
            conv1 = nn.Conv2d(in_chans, c1, 11, stride=4, padding=2)
            conv2 = nn.Conv2d(c1, c2, 5, padding=2)
            pool = nn.MaxPool2d(3, stride=2)
        self.features = nn.Sequential(
            conv1,
            nn.ReLU(inplace=True),
            pool,
            conv2,
            nn.ReLU(inplace=True),
            pool,
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1),
            nn.ReLU(inplace=True),
            pool,
        )
        self.pool = nn.AdaptiveAvgPool2d(pool_grid)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c5 * pool_grid * pool_grid, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

        for m in self.modules():  # He init: without batch norm, the default init stalls early
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    epochs=40,
    batch_size=64,
    schedule="onecycle",
    augment="shift",
)
MEDIUM = Recipe(
    optimizer="adamw",
    lr=1e-3,
    weight_decay=0.05,
    epochs=15,
    batch_size=128,
    schedule="onecycle",
    augment="flip_crop",
    label_smoothing=0.1,
)
_SMALL_CARD = (
    "Small-input AlexNet: 3x3 stride-1 conv1/conv2, 2x2 max-pools, 2x2 grid before the FC "
    "layers; inputs of 8 px and up are used at native size. No LRN."
)


@register_model(
    "alexnet_tiny",
    family="classic_cnn",
    tasks=("classification",),
    description="AlexNet structure (5 conv + 3 FC, ReLU, dropout) at 3/8 width, 256-unit FC",
    default_img_size=32,
    min_img_size=8,
    card=_SMALL_CARD,
    recipes={"small": SMALL, "medium": MEDIUM},
    # in the quick suite as the challenges' mCE reference (Hendrycks & Dietterich normalise each
    # corruption's error by AlexNet's): 7.5 s of training on digits, one thread
    bench_jobs=({"task": "classification", "in_quick": True},),
)
def alexnet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return AlexNet(
        num_classes,
        in_chans,
        widths=(24, 64, 96, 96, 64),
        hidden=256,
        small_input=True,
        pool_grid=2,
        **kw,
    )


@register_model(
    "alexnet_small",
    family="classic_cnn",
    tasks=("classification",),
    description="AlexNet at the paper's conv widths (64-192-384-256-256) for 32 px images, "
    "1024-unit FC",
    default_img_size=32,
    min_img_size=8,
    card=_SMALL_CARD,
    recipes={"small": SMALL, "medium": MEDIUM},
)
def alexnet_small(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return AlexNet(num_classes, in_chans, hidden=1024, small_input=True, pool_grid=2, **kw)


@register_model(
    "alexnet",
    family="classic_cnn",
    tasks=("classification",),
    description="AlexNet (Krizhevsky et al. 2012) at ImageNet scale: 11x11/4 stem, 4096-unit FC",
    default_img_size=224,
    min_img_size=63,
    card="The paper's layout for 224 px inputs (no LRN, single tower); smaller inputs are "
    "resized to at least 63x63, the smallest size its strides accept.",
    recipes={"small": SMALL, "medium": MEDIUM},
)
def alexnet(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return AlexNet(num_classes, in_chans, **kw)
