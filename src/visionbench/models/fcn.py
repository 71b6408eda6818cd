"""Fully convolutional segmenters (Long et al. 2015) on timm CNN trunks: the CNNs' dense task.

The head is FCN-8s's: class scores from the last three stages, each upsampled to the next finer
stage and added, so the deep stage says *what* and the finer ones say *where*; the sum is
upsampled bilinearly to the input size (FCN's learned upsampling starts as bilinear; a fixed one
has no weights tied to a size). Nothing is pretrained.

- `fcn_resnet_tiny`: resnet_tiny's blocks at half width (timm BasicBlocks, widths 16-128, one
  per stage) with a stride-2 3x3 stem and no max-pool, so a 64 px scene keeps 16x16 features at
  stride 4 and 4x4 at stride 16; the quick-suite member.
- `fcn_resnet18`, `fcn_mobilenetv4_small`: timm's ResNet-18 and MobileNetV4 conv-small (half
  width) unchanged as `features_only` trunks (strides 8, 16, 32); the full suite runs them.
"""

from __future__ import annotations

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import Recipe, register_model


class FCN(nn.Module):
    """`trunk(x)` returns three feature maps, finest first; the head fuses their class scores."""

    def __init__(self, trunk: nn.Module, channels: list[int], num_classes: int, hidden: int = 32):
        super().__init__()
        self.trunk = trunk
        fine, mid, deep = channels
        self.head = nn.Sequential(  # torchvision's FCNHead, narrower: context on the deepest map
            nn.Conv2d(deep, hidden, 3, padding=1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv2d(hidden, num_classes, 1),
        )
        self.score_mid = nn.Conv2d(mid, num_classes, 1)
        self.score_fine = nn.Conv2d(fine, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine, mid, deep = self.trunk(x)
        s = self.head(deep)
        s = _up(s, mid) + self.score_mid(mid)
        s = _up(s, fine) + self.score_fine(fine)
        return F.interpolate(s, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class TinyResNetTrunk(nn.Module):
    """resnet_tiny's blocks as a trunk returning the stride 4, 8 and 16 maps."""

    def __init__(self, in_chans: int, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        from timm.models.resnet import BasicBlock, ResNet

        net = ResNet(BasicBlock, (1, 1, 1, 1), num_classes=0, in_chans=in_chans, channels=widths)
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, net.bn1.num_features, 3, stride=2, padding=1, bias=False),
            net.bn1,
            net.act1,
        )
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.channels = list(widths[1:])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f2 = self.layer2(self.layer1(self.stem(x)))
        f3 = self.layer3(f2)
        return [f2, f3, self.layer4(f3)]


# 64x64 shapes scenes, 240 training images: about 1.3 s per epoch on one loaded CPU core.
SEG_SMALL = Recipe(lr=5e-3, weight_decay=1e-4, epochs=10, batch_size=8, augment="hflip")
SEG_JOB = {
    "task": "segmentation",
    "in_quick": True,
}


@register_model(
    "fcn_resnet_tiny",
    family="modern_cnn",
    tasks=("segmentation",),
    source="timm:ResNet(BasicBlock, layers=(1,1,1,1)) + FCN-8s head",
    description="FCN-8s head (scores from strides 4, 8, 16, fused) on resnet_tiny's trunk",
    default_img_size=64,
    min_img_size=16,
    card="Any input size of 16 px and up, never resized: the logits are upsampled bilinearly to "
    "the input size. Stride-2 stem (not resnet_tiny's stride 1) so 64 px scenes stay cheap.",
    recipes={"small": SEG_SMALL},
    bench_jobs=(SEG_JOB,),
)
def fcn_resnet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    trunk = TinyResNetTrunk(in_chans)
    return FCN(trunk, trunk.channels, num_classes, **kw)


class TimmTrunk(nn.Module):
    """A timm `features_only` network returning its last three feature maps."""

    def __init__(self, name: str, in_chans: int):
        super().__init__()
        # pretrained=False always: weights come only from a local file the user names.
        self.net = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=(2, 3, 4), in_chans=in_chans
        )
        self.channels = self.net.feature_info.channels()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net(x)


@register_model(
    "fcn_resnet18",
    family="modern_cnn",
    tasks=("segmentation",),
    source="timm:resnet18 (features_only) + FCN-8s head",
    description="FCN-8s head on timm's ResNet-18 (strides 8, 16, 32)",
    default_img_size=224,
    min_img_size=32,
    card="timm's ResNet-18 unchanged (stride 32): inputs of 32 px and up, never resized; on "
    "64 px scenes its finest map is 8x8, so boundaries are coarse: use it on larger images.",
    recipes={"small": SEG_SMALL},
)
def fcn_resnet18(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    trunk = TimmTrunk("resnet18", in_chans)
    return FCN(trunk, trunk.channels, num_classes, **kw)


@register_model(
    "fcn_mobilenetv4_small",
    family="mobile_cnn",
    tasks=("segmentation",),
    source="timm:mobilenetv4_conv_small_050 (features_only) + FCN-8s head",
    description="FCN-8s head on timm's MobileNetV4 conv-small at half width (strides 8, 16, 32)",
    default_img_size=224,
    min_img_size=32,
    card="timm's network unchanged (stride 32): inputs of 32 px and up, never resized; on 64 px "
    "scenes its finest map is 8x8, so boundaries are coarse. Runs in the full suite only.",
    recipes={"small": SEG_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": False},),
)
def fcn_mobilenetv4_small(
    task: str, num_classes: int, in_chans: int, img_size: int, **kw
) -> nn.Module:
    trunk = TimmTrunk("mobilenetv4_conv_small_050", in_chans)
    return FCN(trunk, trunk.channels, num_classes, **kw)
