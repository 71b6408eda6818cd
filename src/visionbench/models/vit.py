"""Vision Transformers from timm, with patch size adapted to small images.

A 16 px patch turns a 32 px image into 4 tokens, so vit_nano picks its patch size from the
input size to keep a 4x4 token grid at any size. The standard variants keep timm's
configurations; `*_patch16_224` are exactly timm's (the profiler checks their FLOPs against
published numbers).
"""

from __future__ import annotations

import math

import torch.nn as nn
from timm.models.vision_transformer import VisionTransformer

from .registry import Recipe, register_model


def patch_for(img_size: int, grid: int) -> int:
    """The patch size giving about `grid` x `grid` tokens (padding covers a remainder)."""
    return max(1, math.ceil(img_size / grid))


def vit(
    num_classes: int,
    in_chans: int,
    img_size: int,
    patch_size: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    **kw,
) -> nn.Module:
    if img_size % patch_size:  # pad the input up to whole patches; the grid counts them
        kw.setdefault("dynamic_img_pad", True)
        kw.setdefault("dynamic_img_size", True)
    return VisionTransformer(
        img_size=math.ceil(img_size / patch_size) * patch_size,
        patch_size=patch_size,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        **kw,
    )


# ViTs need more steps than CNNs on small data (the review's "data hungry"): on 1.3k digits,
# batch 32 for 40 epochs; 1 px shifts of an 8 px digit slowed it down more than they helped.
VIT_SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    warmup_epochs=3,
    epochs=40,
    batch_size=32,
    schedule="cosine",
    augment="none",
    label_smoothing=0.1,
)
# 30 epochs: on Fashion-MNIST vit_nano was still climbing at 20 (87.1% test; validation +0.5
# points over epochs 20-24 of a 30-epoch schedule, benchmarks/README.md). ViTs lack the CNNs'
# locality prior and need longer schedules than the CNN recipes' 15-20 epochs.
VIT_MEDIUM = Recipe(
    optimizer="adamw",
    lr=1e-3,
    weight_decay=0.05,
    warmup_epochs=2,
    epochs=30,
    batch_size=128,
    schedule="cosine",
    augment="flip_crop",
    label_smoothing=0.1,
)


@register_model(
    "vit_nano",
    family="vit",
    tasks=("classification",),
    source="timm:VisionTransformer(embed_dim=96, depth=4, num_heads=3)",
    description="ViT with 96-D tokens, 4 blocks, 3 heads, mean-pooled; patch size chosen for a "
    "4x4 token grid",
    default_img_size=32,
    min_img_size=4,
    card="Quick-suite ViT. The patch size is ceil(img_size/4) (2 px on 8x8 digits, 7 px on 28x28 "
    "Fashion-MNIST), so any input of 4 px and up gives a 4x4 grid; pass model_kwargs "
    "patch_size=P to change it.",
    recipes={"small": VIT_SMALL, "medium": VIT_MEDIUM},
)
def vit_nano(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    kw.setdefault("patch_size", patch_for(img_size, 4))
    kw.setdefault("global_pool", "avg")
    kw.setdefault("mlp_ratio", 2.0)
    return vit(num_classes, in_chans, img_size, embed_dim=96, depth=4, num_heads=3, **kw)


@register_model(
    "vit_small_patch4",
    family="vit",
    tasks=("classification",),
    source="timm:VisionTransformer(ViT-S dims, patch 4)",
    description="ViT-S (384-D, 12 blocks, 6 heads) with 4 px patches for 32 px images",
    default_img_size=32,
    min_img_size=8,
    card="ViT-S for CIFAR-sized inputs: 4 px patches give 64 tokens at 32x32.",
    recipes={"small": VIT_SMALL, "medium": VIT_MEDIUM},
)
def vit_small_patch4(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    kw.setdefault("patch_size", 4)
    return vit(num_classes, in_chans, img_size, embed_dim=384, depth=12, num_heads=6, **kw)


_TIMM_CARD = (
    "timm's configuration with 16 px patches; inputs smaller than 32 px are resized to 32x32 "
    "(2x2 tokens), so use it on ImageNet-sized images."
)


@register_model(
    "vit_tiny_patch16_224",
    family="vit",
    tasks=("classification",),
    source="timm:vit_tiny_patch16_224",
    description="ViT-Ti/16 (192-D, 12 blocks, 3 heads)",
    default_img_size=224,
    min_img_size=32,
    card=_TIMM_CARD,
    recipes={"small": VIT_SMALL, "medium": VIT_MEDIUM},
)
def vit_tiny_patch16_224(task: str, num_classes: int, in_chans: int, img_size: int, **kw):
    kw.setdefault("patch_size", 16)
    return vit(num_classes, in_chans, img_size, embed_dim=192, depth=12, num_heads=3, **kw)


@register_model(
    "vit_small_patch16_224",
    family="vit",
    tasks=("classification",),
    source="timm:vit_small_patch16_224",
    description="ViT-S/16 (384-D, 12 blocks, 6 heads)",
    default_img_size=224,
    min_img_size=32,
    card=_TIMM_CARD,
    recipes={"small": VIT_SMALL, "medium": VIT_MEDIUM},
)
def vit_small_patch16_224(task: str, num_classes: int, in_chans: int, img_size: int, **kw):
    kw.setdefault("patch_size", 16)
    return vit(num_classes, in_chans, img_size, embed_dim=384, depth=12, num_heads=6, **kw)
