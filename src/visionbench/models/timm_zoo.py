"""Models from timm, registered under the review's families. No pretrained weights are fetched."""

from __future__ import annotations

import timm
import torch.nn as nn

from .registry import Recipe, register_model


def timm_model(name: str, num_classes: int, in_chans: int, **kw) -> nn.Module:
    # pretrained=False always: weights come only from a local file the user names.
    return timm.create_model(
        name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kw
    )


_CNN_SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    epochs=15,
    batch_size=64,
    schedule="onecycle",
    augment="shift",
)
_CNN_MEDIUM = Recipe(
    optimizer="sgd",
    lr=0.1,
    weight_decay=5e-4,
    epochs=20,
    batch_size=128,
    schedule="onecycle",
    augment="flip_crop",
    label_smoothing=0.1,
)


@register_model(
    "resnet18",
    family="modern_cnn",
    tasks=("classification",),
    source="timm:resnet18",
    description="ResNet-18 (He et al. 2016), timm implementation",
    default_img_size=224,
    min_img_size=32,
    card="Small inputs are resized to at least 32x32 so the stride-32 network keeps a 1x1 map.",
    recipes={"small": _CNN_SMALL, "medium": _CNN_MEDIUM},
)
def resnet18(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return timm_model("resnet18", num_classes, in_chans, **kw)
