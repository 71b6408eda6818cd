"""Modern and mobile CNNs from timm, registered under the review's families.

No pretrained weights are ever fetched. Standard variants are timm's networks unchanged (their
stride-32 stems need inputs of at least 32 px, so the task resizes smaller images up). The
`*_tiny` variants are the quick-suite members: the same timm blocks, narrower and shallower, with
a stride-1 3x3 stem in place of the stride-4 ImageNet stem, so 8x8 digits are used at their
native size instead of being blown up (the way CIFAR ResNets adapt the ImageNet design).
"""

from __future__ import annotations

from functools import partial

import timm
import torch.nn as nn

from .registry import Recipe, register_model


def timm_model(name: str, num_classes: int, in_chans: int, **kw) -> nn.Module:
    # pretrained=False always: weights come only from a local file the user names.
    model = timm.create_model(
        name, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kw
    )
    return small_head_init(model)


def small_head_init(model: nn.Module) -> nn.Module:
    """Start the classifier near zero. timm's Google-style init scales it by 1/sqrt(classes):
    right for 1,000 classes, but with 10 the initial logits of MobileNetV4 and EfficientNet have
    a standard deviation near 5 (loss ~8), and their first epochs go to undoing that."""
    head = model.get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)
    return model


def _stem_conv(in_chans: int, out_chans: int) -> nn.Conv2d:
    """The small-input stem: 3x3, stride 1, so no resolution is lost on 8-32 px images."""
    return nn.Conv2d(in_chans, out_chans, 3, stride=1, padding=1, bias=False)


CNN_SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=0.05,
    epochs=15,
    batch_size=64,
    schedule="onecycle",
    augment="shift",
)
CNN_MEDIUM = Recipe(
    optimizer="sgd",
    lr=0.1,
    weight_decay=5e-4,
    epochs=20,
    batch_size=128,
    schedule="onecycle",
    augment="flip_crop",
    label_smoothing=0.1,
)
TINY_CARD = (
    "Quick-suite variant: timm blocks with a stride-1 3x3 stem (no max-pool), so inputs of 8 px "
    "and up are used at native size."
)
IMAGENET_CARD = (
    "timm's network unchanged (stride 32): inputs smaller than 32 px are resized up to 32x32."
)


def _register_timm(
    name: str, family: str, description: str, timm_name: str | None = None, **kw
) -> None:
    """Register a timm network as-is; the builder ignores img_size (global pooling adapts)."""

    def build(task: str, num_classes: int, in_chans: int, img_size: int, **extra) -> nn.Module:
        return timm_model(timm_name or name, num_classes, in_chans, **extra)

    kw.setdefault("recipes", {"small": CNN_SMALL, "medium": CNN_MEDIUM})
    register_model(
        name,
        family=family,
        tasks=("classification",),
        source=f"timm:{timm_name or name}",
        description=description,
        default_img_size=224,
        min_img_size=32,
        card=IMAGENET_CARD,
        **kw,
    )(build)


# modern deep CNNs --------------------------------------------------------------------------
_register_timm("resnet18", "modern_cnn", "ResNet-18 (He et al. 2016), timm implementation")
_register_timm("resnet50", "modern_cnn", "ResNet-50 (He et al. 2016), bottleneck blocks")
_register_timm("densenet121", "modern_cnn", "DenseNet-121 (Huang et al. 2017), growth rate 32")
_register_timm("efficientnet_b0", "modern_cnn", "EfficientNet-B0 (Tan & Le 2019), MBConv + SE")
# mobile CNNs -------------------------------------------------------------------------------
_register_timm(
    "mobilenetv4_conv_small", "mobile_cnn", "MobileNetV4 conv-small (Qin et al. 2024), UIB blocks"
)
_register_timm("mobilenetv4_conv_medium", "mobile_cnn", "MobileNetV4 conv-medium (Qin et al. 2024)")
_register_timm(
    "mobilenetv4_conv_small_050",
    "mobile_cnn",
    "MobileNetV4 conv-small at half width (timm), the quick-suite mobile CNN",
    recipes={
        "small": Recipe(
            optimizer="adamw",
            lr=4e-3,
            weight_decay=0.05,
            epochs=20,
            batch_size=64,
            schedule="onecycle",
            augment="shift",
        ),
        "medium": CNN_MEDIUM,
    },
)


@register_model(
    "resnet_tiny",
    family="modern_cnn",
    tasks=("classification",),
    source="timm:ResNet(BasicBlock, layers=(1,1,1,1))",
    description="ResNet with one basic block per stage, widths 32-256, small-input stem",
    default_img_size=32,
    min_img_size=8,
    card=TINY_CARD,
    recipes={"small": CNN_SMALL, "medium": CNN_MEDIUM},
    # the modern CNN of `bench --quick` (the cheapest by FLOPs, efficientnet_tiny, trains worse)
    bench_jobs=({"task": "classification", "in_quick": True},),
)
def resnet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    from timm.models.resnet import BasicBlock, ResNet

    model = ResNet(
        BasicBlock,
        (1, 1, 1, 1),
        num_classes=num_classes,
        in_chans=in_chans,
        channels=(32, 64, 128, 256),
        **kw,
    )
    width = model.bn1.num_features
    model.conv1 = _stem_conv(in_chans, width)
    model.maxpool = nn.Identity()
    return model


@register_model(
    "densenet_tiny",
    family="modern_cnn",
    tasks=("classification",),
    source="timm:DenseNet(growth_rate=12, block_config=(3,3,3))",
    description="DenseNet with three dense blocks of 3 layers, growth rate 12, small-input stem",
    default_img_size=32,
    min_img_size=8,
    card=TINY_CARD,
    recipes={"small": CNN_SMALL, "medium": CNN_MEDIUM},
)
def densenet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    from timm.models.densenet import DenseNet

    model = DenseNet(
        growth_rate=12, block_config=(3, 3, 3), num_classes=num_classes, in_chans=in_chans, **kw
    )
    feats = model.features
    feats.conv0 = _stem_conv(in_chans, feats.norm0.num_features)
    feats.pool0 = nn.Identity()
    return model


# EfficientNet-B0's stage layout, one block per stage (depth ~0.34) at half width.
_EFFNET_TINY_ARCH = [
    ["ds_r1_k3_s1_e1_c16_se0.25"],
    ["ir_r1_k3_s2_e6_c24_se0.25"],
    ["ir_r1_k5_s2_e6_c40_se0.25"],
    ["ir_r1_k3_s2_e6_c80_se0.25"],
    ["ir_r1_k5_s1_e6_c112_se0.25"],
    ["ir_r1_k5_s2_e6_c192_se0.25"],
    ["ir_r1_k3_s1_e6_c320_se0.25"],
]


@register_model(
    "efficientnet_tiny",
    family="modern_cnn",
    tasks=("classification",),
    source="timm:EfficientNet(B0 stages, width 0.5, depth 1 per stage)",
    description="EfficientNet-B0 layout (MBConv + SE, SiLU) at width 0.5, one block per stage",
    default_img_size=32,
    min_img_size=8,
    card=TINY_CARD,
    recipes={
        # 40 epochs: at 20 it still underfits 8x8 digits (94.7%); 40 reach 97.2%.
        "small": Recipe(
            optimizer="adamw",
            lr=2e-3,
            weight_decay=0.05,
            epochs=40,
            batch_size=32,
            schedule="onecycle",
            augment="shift",
        ),
        "medium": CNN_MEDIUM,
    },
)
def efficientnet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    from timm.models._efficientnet_builder import decode_arch_def, round_channels
    from timm.models.efficientnet import EfficientNet

    chs = partial(round_channels, multiplier=0.5)
    model = EfficientNet(
        decode_arch_def(_EFFNET_TINY_ARCH),
        num_classes=num_classes,
        in_chans=in_chans,
        stem_size=16,
        num_features=chs(1280),
        round_chs_fn=chs,
        act_layer=nn.SiLU,
        **kw,
    )
    model.conv_stem = _stem_conv(in_chans, model.bn1.num_features)
    return small_head_init(model)
