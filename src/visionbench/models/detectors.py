"""torchvision's detectors (Faster R-CNN, FCOS, Mask R-CNN) on our trunks, from random init.

Every model here follows torchvision's detection convention: `model(images, targets)` in
training mode returns a dict of losses, `model(images)` in eval mode a list of
{"boxes" xyxy, "scores", "labels" (1..K), "masks" [N,1,H,W] for Mask R-CNN} per image; images
are [C,H,W] tensors in [0,1] of any size (a list, or a batch tensor), normalised inside the model
with the training set's mean and std. Nothing is pretrained (`weights=None,
weights_backbone=None`), so every norm layer trains: BatchNorm in the trunks, GroupNorm in
FCOS's head (frozen BatchNorm, torchvision's default with pretrained trunks, does not train from
scratch).

- CPU variants (`*_tiny`): resnet_tiny's timm blocks (stride-2 stem, strides 4/8/16) under an
  FPN, narrow heads, and no resizing: an image is used at its own size (padded to a multiple of
  32 in the batch), so 64 px scenes stay 64 px. Anchors start at 8 px for objects of 6-30 px.
- Standard variants (`*_resnet50_fpn`): torchvision's ResNet-50-FPN models unchanged (images
  resized to a shorter side of 800, as on COCO), for a GPU.
- `fcos_mobilenetv4_small`: timm's MobileNetV4 conv-small (half width) as the trunk at strides
  4/8/16, the mobile family's detector.
- `fcos_vit_tiny`: a plain ViT (patch 8) with ViTDet's simple feature pyramid (Li et al. 2022):
  one stride-8 token map turned into strides 4/8/16 by a deconvolution, an identity and a
  max-pool, then the FCOS head.
"""

from __future__ import annotations

from collections import OrderedDict

import timm
import torch
import torch.nn as nn
from torchvision.models.detection import (
    FCOS,
    FasterRCNN,
    MaskRCNN,
    fasterrcnn_resnet50_fpn,
    fcos_resnet50_fpn,
    maskrcnn_resnet50_fpn,
)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import FeaturePyramidNetwork, MultiScaleRoIAlign
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from .fcn import TinyResNetTrunk
from .registry import Recipe, register_model

DET_TASKS = ("detection",)
INST_TASKS = ("instance_segmentation", "detection")


class KeepSizeTransform(GeneralizedRCNNTransform):
    """torchvision's batching and normalisation; images keep their size unless their longer side
    exceeds `max_size`, when they are scaled down to it (boxes and masks are mapped back)."""

    def resize(self, image, target=None):
        if max(image.shape[-2:]) <= self.max_size:
            return image, target
        return super().resize(image, target)


class ForegroundFCOS(FCOS):
    """torchvision's FCOS scores every class index with a sigmoid, the unused background slot 0
    included; its detections are dropped here so labels stay 1..K."""

    def postprocess_detections(self, *args, **kwargs):
        out = super().postprocess_detections(*args, **kwargs)
        return [{k: v[d["labels"] > 0] for k, v in d.items()} for d in out]


class TrunkWithFPN(nn.Module):
    """A trunk returning feature maps finest first, under an FPN; torchvision's backbone contract
    (`out_channels`, an OrderedDict of maps)."""

    def __init__(self, trunk: nn.Module, channels: list[int], out_channels: int, pool: bool):
        super().__init__()
        self.trunk = trunk
        self.fpn = FeaturePyramidNetwork(
            channels, out_channels, extra_blocks=LastLevelMaxPool() if pool else None
        )
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        feats = self.trunk(x)
        return self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))


class TimmFeatures(nn.Module):
    """A timm `features_only` network returning the maps at `out_indices` (no weights)."""

    def __init__(self, name: str, in_chans: int, out_indices: tuple[int, ...]):
        super().__init__()
        self.net = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=out_indices, in_chans=in_chans
        )
        self.channels = self.net.feature_info.channels()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)


class SimpleFeaturePyramid(nn.Module):
    """ViTDet's pyramid from one plain ViT: the stride-8 token map up-sampled, kept and pooled.

    `conv_stem=True` makes it a hybrid CNN-ViT: three stride-2 convolutions (BatchNorm, ReLU) make
    the stride-8 tokens instead of one 8x8 patch projection, the hybrid trunk of the review's
    Table 1 (as in hybrid_nano, here under the same pyramid and head as the plain ViT).
    """

    def __init__(
        self,
        in_chans: int,
        embed_dim: int,
        depth: int,
        heads: int,
        out_channels: int,
        conv_stem: bool = False,
    ):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        self.vit = VisionTransformer(
            img_size=64,
            patch_size=8,
            in_chans=in_chans,
            num_classes=0,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=heads,
            global_pool="",
            class_token=False,
            dynamic_img_size=True,
        )
        if conv_stem:
            widths = (in_chans, embed_dim // 4, embed_dim // 2)
            layers: list[nn.Module] = []
            for a, b in zip(widths, widths[1:]):
                layers += [nn.Conv2d(a, b, 3, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
            layers.append(nn.Conv2d(widths[-1], embed_dim, 3, 2, 1))
            self.vit.patch_embed.proj = nn.Sequential(*layers)  # [N, D, H/8, W/8] as before
        c = out_channels

        def block(*first):
            return nn.Sequential(
                *first, nn.Conv2d(c, c, 3, padding=1, bias=False), nn.GroupNorm(16, c), nn.ReLU()
            )

        self.levels = nn.ModuleList(
            [
                block(nn.ConvTranspose2d(embed_dim, c, 2, stride=2)),
                block(nn.Conv2d(embed_dim, c, 1)),
                block(nn.MaxPool2d(2), nn.Conv2d(embed_dim, c, 1)),
            ]
        )
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> OrderedDict:
        h, w = x.shape[-2] // 8, x.shape[-1] // 8
        tokens = self.vit.forward_features(x)  # [N, h*w, D] (no class token)
        grid = tokens.transpose(1, 2).reshape(x.shape[0], -1, h, w)
        return OrderedDict((str(i), level(grid)) for i, level in enumerate(self.levels))


def _keep_size(model: nn.Module, mean, std) -> nn.Module:
    side = model.transform.max_size  # with min_size = max_size the scale is max_size / longer
    model.transform = KeepSizeTransform(side, side, list(mean), list(std), size_divisible=32)
    return model


def _stats(in_chans: int, mean, std) -> tuple[list[float], list[float]]:
    return list(mean or [0.5] * in_chans), list(std or [0.25] * in_chans)


def tiny_trunk(in_chans: int, out_channels: int = 64, pool: bool = False) -> TrunkWithFPN:
    trunk = TinyResNetTrunk(in_chans, widths=(32, 32, 64, 128))
    return TrunkWithFPN(trunk, trunk.channels, out_channels, pool)


def faster_rcnn_small(backbone: TrunkWithFPN, num_classes: int, mask: bool, mean, std, **kw):
    """Faster R-CNN (or Mask R-CNN) sized for small images on a CPU: 4 levels, 8-64 px anchors,
    200 proposals (100 at test), 64 sampled RoIs per image and a 256-wide box head: scenes hold
    a handful of objects, and the RoI heads' cost grows with the RoIs they see."""
    c = backbone.out_channels
    names = ["0", "1", "2"]
    common = dict(
        num_classes=None,
        max_size=4096,
        image_mean=mean,
        image_std=std,
        rpn_anchor_generator=AnchorGenerator(((8,), (16,), (32,), (64,)), ((0.5, 1.0, 2.0),) * 4),
        rpn_head=RPNHead(c, 3),
        rpn_pre_nms_top_n_train=400,
        rpn_post_nms_top_n_train=200,
        rpn_pre_nms_top_n_test=200,
        rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=64,
        box_roi_pool=MultiScaleRoIAlign(names, 7, 2),
        box_head=TwoMLPHead(c * 49, 256),
        box_predictor=FastRCNNPredictor(256, num_classes + 1),
        box_batch_size_per_image=64,
        box_score_thresh=0.01,
        box_detections_per_img=100,
    )
    common.update(kw)
    if mask:
        model = MaskRCNN(
            backbone,
            mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
            mask_head=MaskRCNNHeads(c, [c, c], 1),
            mask_predictor=MaskRCNNPredictor(c, c, num_classes + 1),
            **common,
        )
    else:
        model = FasterRCNN(backbone, **common)
    return _keep_size(model, mean, std)


def fcos_small(backbone: nn.Module, num_classes: int, mean, std, convs: int = 2, **kw):
    """FCOS on three levels (strides 4/8/16): regression ranges [0,32], [32,64], [64,inf)."""
    c = backbone.out_channels
    kw = {
        "max_size": 4096,
        "image_mean": mean,
        "image_std": std,
        "score_thresh": 0.02,
        "topk_candidates": 300,
        "detections_per_img": 100,
        **kw,
    }
    model = ForegroundFCOS(
        backbone,
        num_classes + 1,
        anchor_generator=AnchorGenerator(((4,), (8,), (16,)), ((1.0,),) * 3),
        head=FCOSHead(c, 1, num_classes + 1, num_convs=convs),
        **kw,
    )
    return _keep_size(model, mean, std)


# 1,000 scenes of 64 px, batch 8: one epoch is 125 steps (batch 8 beat 16 at equal epochs).
# AdamW with a short warm-up trains every head here from scratch.
DET_SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=1e-4,
    epochs=12,
    batch_size=8,
    schedule="cosine",
    warmup_epochs=0.5,
    augment="hflip",
)
DET_MEDIUM = Recipe(
    optimizer="sgd",
    lr=0.02,
    weight_decay=1e-4,
    epochs=24,
    batch_size=8,
    schedule="cosine",
    warmup_epochs=1,
    augment="hflip_scale",
)
RECIPES = {"small": DET_SMALL, "medium": DET_MEDIUM}


def quick_job(task: str, epochs: int, **quick) -> dict:
    """A review-suite job sized in epochs, not seconds, outside the shared time budget: the same
    optimiser steps on any machine, so its numbers do not depend on the machine's load."""
    return {
        "task": task,
        "in_quick": True,
        "quick": {"epochs": epochs, **quick},
    }


FULL_ONLY = {"in_quick": False}
TINY_CARD = (
    "CPU variant: images are used at their own size (no resizing; padded to a multiple of 32 in "
    "a batch); anchors from 8 px, so objects smaller than about 6 px are hard to find."
)
STANDARD_CARD = (
    "torchvision's ResNet-50-FPN model unchanged (random init, trainable BatchNorm): images are "
    "resized to a shorter side of 800 (at most 1333), as on COCO. For a GPU."
)


def _standard(fn, num_classes: int, mean, std, **kw) -> nn.Module:
    return fn(
        weights=None,
        weights_backbone=None,
        num_classes=num_classes + 1,
        image_mean=mean,
        image_std=std,
        **kw,
    )


@register_model(
    "faster_rcnn_tiny",
    family="modern_cnn",
    tasks=DET_TASKS,
    source="torchvision:FasterRCNN + timm:ResNet(BasicBlock) trunk + FPN",
    description="Faster R-CNN (two-stage: RPN proposals, RoIAlign, box head) on resnet_tiny + FPN",
    default_img_size=64,
    min_img_size=32,
    card=TINY_CARD,
    recipes=RECIPES,
    bench_jobs=({"task": "detection", **FULL_ONLY},),  # 4x FCOS's cost per step on a CPU
)
def faster_rcnn_tiny(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    return faster_rcnn_small(tiny_trunk(in_chans, pool=True), num_classes, False, mean, std, **kw)


@register_model(
    "mask_rcnn_tiny",
    family="modern_cnn",
    tasks=INST_TASKS,
    source="torchvision:MaskRCNN + timm:ResNet(BasicBlock) trunk + FPN",
    description="Mask R-CNN (Faster R-CNN plus a 14->28 px mask head per RoI) on resnet_tiny + FPN",
    default_img_size=64,
    min_img_size=32,
    card=TINY_CARD,
    recipes=RECIPES,
    bench_jobs=(quick_job("instance_segmentation", 2),),  # 1 epoch on 500 scenes: mask mAP 0.04
)
def mask_rcnn_tiny(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    return faster_rcnn_small(tiny_trunk(in_chans, pool=True), num_classes, True, mean, std, **kw)


@register_model(
    "fcos_tiny",
    family="modern_cnn",
    tasks=DET_TASKS,
    source="torchvision:FCOS + timm:ResNet(BasicBlock) trunk + FPN",
    description="FCOS (one-stage, anchor-free: per-pixel class, box distances, centre-ness) on "
    "resnet_tiny + FPN",
    default_img_size=64,
    min_img_size=32,
    card=TINY_CARD,
    recipes=RECIPES,
    bench_jobs=(quick_job("detection", 1),),
)
def fcos_tiny(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    return fcos_small(tiny_trunk(in_chans), num_classes, mean, std, **kw)


@register_model(
    "fcos_mobilenetv4_small",
    family="mobile_cnn",
    tasks=DET_TASKS,
    source="torchvision:FCOS + timm:mobilenetv4_conv_small_050 (features_only) + FPN",
    description="FCOS on MobileNetV4 conv-small at half width (strides 4, 8, 16) + FPN",
    default_img_size=64,
    min_img_size=32,
    card=TINY_CARD,
    recipes=RECIPES,
    bench_jobs=({"task": "detection", **FULL_ONLY},),
)
def fcos_mobilenetv4_small(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    trunk = TimmFeatures("mobilenetv4_conv_small_050", in_chans, (1, 2, 3))
    return fcos_small(TrunkWithFPN(trunk, trunk.channels, 64, False), num_classes, mean, std, **kw)


@register_model(
    "fcos_vit_tiny",
    family="vit",
    tasks=DET_TASKS,
    source="timm:VisionTransformer (patch 8) + ViTDet simple feature pyramid + torchvision:FCOS",
    description="plain ViT (patch 8, 4 blocks, width 128) with ViTDet's simple feature pyramid "
    "(strides 4/8/16 from one stride-8 map) and the FCOS head",
    default_img_size=64,
    min_img_size=32,
    card=TINY_CARD + " Position embeddings are interpolated to each padded input size.",
    recipes={"small": DET_SMALL, "medium": DET_MEDIUM},
    bench_jobs=({"task": "detection", **FULL_ONLY},),
)
def fcos_vit_tiny(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    pyramid = SimpleFeaturePyramid(in_chans, embed_dim=128, depth=4, heads=4, out_channels=64)
    return fcos_small(pyramid, num_classes, mean, std, **kw)


@register_model(
    "fcos_hybrid_tiny",
    family="hybrid",
    tasks=DET_TASKS,
    source="timm:VisionTransformer (conv stem to stride 8) + ViTDet simple feature pyramid + "
    "torchvision:FCOS",
    description="hybrid CNN-ViT: a 3-layer conv stem (stride 8) under 4 ViT blocks (width 128), "
    "ViTDet's simple feature pyramid and the FCOS head",
    default_img_size=64,
    min_img_size=32,
    card=TINY_CARD + " Position embeddings are interpolated to each padded input size.",
    recipes={"small": DET_SMALL, "medium": DET_MEDIUM},
    bench_jobs=({"task": "detection", **FULL_ONLY},),
)
def fcos_hybrid_tiny(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    pyramid = SimpleFeaturePyramid(
        in_chans, embed_dim=128, depth=4, heads=4, out_channels=64, conv_stem=True
    )
    return fcos_small(pyramid, num_classes, mean, std, **kw)


@register_model(
    "faster_rcnn_resnet50_fpn",
    family="modern_cnn",
    tasks=DET_TASKS,
    source="torchvision:fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None)",
    description="Faster R-CNN ResNet-50-FPN (Ren et al. 2015; Lin et al. 2017), torchvision's",
    default_img_size=800,
    min_img_size=32,
    card=STANDARD_CARD,
    recipes=RECIPES,
    bench_jobs=({"task": "detection", "in_quick": False},),
)
def faster_rcnn_resnet50_fpn(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    return _standard(fasterrcnn_resnet50_fpn, num_classes, mean, std, **kw)


@register_model(
    "fcos_resnet50_fpn",
    family="modern_cnn",
    tasks=DET_TASKS,
    source="torchvision:fcos_resnet50_fpn(weights=None, weights_backbone=None)",
    description="FCOS ResNet-50-FPN (Tian et al. 2019), torchvision's",
    default_img_size=800,
    min_img_size=32,
    card=STANDARD_CARD,
    recipes=RECIPES,
    bench_jobs=({"task": "detection", "in_quick": False},),
)
def fcos_resnet50_fpn_(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    return _standard(fcos_resnet50_fpn, num_classes, mean, std, **kw)


@register_model(
    "mask_rcnn_resnet50_fpn",
    family="modern_cnn",
    tasks=INST_TASKS,
    source="torchvision:maskrcnn_resnet50_fpn(weights=None, weights_backbone=None)",
    description="Mask R-CNN ResNet-50-FPN (He et al. 2017), torchvision's",
    default_img_size=800,
    min_img_size=32,
    card=STANDARD_CARD,
    recipes=RECIPES,
    bench_jobs=({"task": "instance_segmentation", "in_quick": False},),
)
def mask_rcnn_resnet50_fpn(task, num_classes, in_chans, img_size, mean=None, std=None, **kw):
    mean, std = _stats(in_chans, mean, std)
    return _standard(maskrcnn_resnet50_fpn, num_classes, mean, std, **kw)
