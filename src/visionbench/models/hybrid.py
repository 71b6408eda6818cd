"""Hybrid CNN-ViT models: convolutions for local features, transformer blocks for global context.

`hybrid_nano` is the ViT paper's own hybrid (Dosovitskiy et al. 2021, Sec. 3.1): a small
convolutional stem whose feature map is the token grid, fed to the same timm transformer as
`vit_nano` (96-D, 4 blocks, 4x4 tokens). Only the tokenizer differs between the two, so the quick
suite isolates what the review credits hybrids with: convolutional inductive bias on small data.
MobileViT (Mehta & Rastegari 2022, cited for this family in the review) comes from timm as the
standard mobile hybrid; its stride-32 design wants ImageNet-sized inputs.
"""

from __future__ import annotations

import math
from functools import partial

import torch.nn as nn
from timm.layers import HybridEmbed
from timm.models.vision_transformer import VisionTransformer

from .registry import Recipe, register_model
from .timm_zoo import timm_model


def conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def conv_stem(in_chans: int, img_size: int, grid: int, width: int = 48) -> nn.Sequential:
    """3x3 conv-BN-ReLU layers, halving the size until the map is at most `grid` wide."""
    downs = max(0, math.ceil(math.log2(img_size / grid)))
    layers = [conv_bn_relu(in_chans, width // 2)]
    cin = width // 2
    for _ in range(max(1, downs)):
        layers.append(conv_bn_relu(cin, width, stride=2 if downs else 1))
        cin = width
    return nn.Sequential(*layers)


HYBRID_SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    warmup_epochs=2,
    epochs=25,
    batch_size=64,
    schedule="cosine",
    augment="shift",
    label_smoothing=0.1,
)
HYBRID_MEDIUM = Recipe(
    optimizer="adamw",
    lr=1e-3,
    weight_decay=0.05,
    warmup_epochs=2,
    epochs=15,
    batch_size=128,
    schedule="cosine",
    augment="flip_crop",
    label_smoothing=0.1,
)


@register_model(
    "hybrid_nano",
    family="hybrid",
    tasks=("classification",),
    source="timm:VisionTransformer(embed_layer=HybridEmbed(conv stem))",
    description="Conv stem (3x3 conv-BN-ReLU, 48 ch) feeding vit_nano's transformer "
    "(96-D, 4 blocks, 3 heads) on a 4x4 token grid",
    default_img_size=32,
    min_img_size=4,
    card="ViT-hybrid in the style of Dosovitskiy et al.: the stem halves the size until the "
    "feature map is at most 4x4, and each feature vector is a token. Any input of 4 px and up "
    "is used at native size; the model is built for that size.",
    recipes={"small": HYBRID_SMALL, "medium": HYBRID_MEDIUM},
)
def hybrid_nano(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    stem = conv_stem(in_chans, img_size, grid=4)
    kw.setdefault("global_pool", "avg")
    kw.setdefault("mlp_ratio", 2.0)
    return VisionTransformer(
        img_size=img_size,
        patch_size=1,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=96,
        depth=4,
        num_heads=3,
        embed_layer=partial(HybridEmbed, backbone=stem),
        **kw,
    )


def _mobilevit(name: str, description: str) -> None:
    def build(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
        return timm_model(name, num_classes, in_chans, **kw)

    register_model(
        name,
        family="hybrid",
        tasks=("classification",),
        source=f"timm:{name}",
        description=description,
        default_img_size=256,
        min_img_size=64,
        card="timm's MobileViT (stride 32, 2x2 unfolding in its transformer stages): inputs "
        "smaller than 64 px are resized to 64x64 so the last stage still has a 2x2 map.",
        recipes={"small": HYBRID_SMALL, "medium": HYBRID_MEDIUM},
    )(build)


_mobilevit("mobilevit_xxs", "MobileViT-XXS (Mehta & Rastegari 2022): MobileNetV2 + transformer")
_mobilevit("mobilevit_s", "MobileViT-S (Mehta & Rastegari 2022): MobileNetV2 + transformer")
