"""DeepLabV3+ (Chen et al., ECCV 2018) on timm CNN trunks: atrous pyramid pooling plus a decoder.

The deep features come from a trunk whose last stage is dilated instead of strided (output
stride 8 or 16), so it keeps resolution without losing receptive field. Atrous Spatial Pyramid
Pooling (ASPP) reads them with parallel branches: a 1x1 convolution, three 3x3 convolutions
dilated at rates r1 < r2 < r3, and image-level pooling; their concatenation is projected to
one map. The decoder upsamples that map to the stride-4 features, concatenates a 1x1-reduced
copy of them, refines with two 3x3 convolutions and upsamples the class scores bilinearly to
the input size. Nothing is pretrained.

The paper's rates (6, 12, 18) are for a 33x33 feature map (513 px crops at output stride 16);
here they scale with the feature map the model is built for (`aspp_rates`), since a rate
larger than the map only sees zero padding.
"""

from __future__ import annotations

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F

from .fcn import SEG_SMALL
from .registry import register_model

PAPER_RATES = (6, 12, 18)
PAPER_FEATURE_SIZE = 33  # 513 px crop at output stride 16


def aspp_rates(feature_size: int) -> tuple[int, ...]:
    """The paper's dilation rates scaled from its 33x33 feature map to `feature_size`."""
    return tuple(max(1, round(r * feature_size / PAPER_FEATURE_SIZE)) for r in PAPER_RATES)


def conv_bn_relu(cin: int, cout: int, k: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ASPP(nn.Module):
    """1x1 branch, one dilated 3x3 branch per rate, image pooling; concatenated and projected.

    The pooling branch has no batch norm (a bias instead): its map is 1x1, so batch norm there
    fails on a batch of one and is noisy on small ones.
    """

    def __init__(self, cin: int, cout: int, rates: tuple[int, ...]):
        super().__init__()
        self.rates = tuple(int(r) for r in rates)
        self.branches = nn.ModuleList(
            [conv_bn_relu(cin, cout, 1)] + [conv_bn_relu(cin, cout, 3, r) for r in self.rates]
        )
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1), nn.ReLU())
        self.project = nn.Sequential(
            conv_bn_relu(cout * (len(self.rates) + 2), cout, 1), nn.Dropout(0.1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [b(x) for b in self.branches]
        feats.append(self.pool(x).expand(-1, -1, *x.shape[-2:]))
        return self.project(torch.cat(feats, 1))


class DeepLabV3Plus(nn.Module):
    """`trunk(x)` returns (stride-4 features, deep features); ASPP + decoder on top."""

    def __init__(
        self,
        trunk: nn.Module,
        low_chans: int,
        deep_chans: int,
        num_classes: int,
        rates: tuple[int, ...],
        width: int = 256,
        low_width: int = 48,
    ):
        super().__init__()
        self.trunk = trunk
        self.aspp = ASPP(deep_chans, width, rates)
        self.reduce = conv_bn_relu(low_chans, low_width, 1)
        self.decoder = nn.Sequential(
            conv_bn_relu(width + low_width, width, 3), conv_bn_relu(width, width, 3)
        )
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, deep = self.trunk(x)
        h = self.aspp(deep)
        h = F.interpolate(h, size=low.shape[-2:], mode="bilinear", align_corners=False)
        h = self.decoder(torch.cat([h, self.reduce(low)], 1))
        return F.interpolate(
            self.classifier(h), size=x.shape[-2:], mode="bilinear", align_corners=False
        )


class TinyDilatedTrunk(nn.Module):
    """resnet_tiny's blocks (widths 16-128) with a stride-2 stem; the last stage dilated (x2)
    instead of strided, so the deep map sits at stride 8 and the low-level one at stride 4."""

    def __init__(self, in_chans: int, widths: tuple[int, ...] = (16, 32, 64, 128)):
        super().__init__()
        from timm.models.resnet import BasicBlock, ResNet

        # timm counts its own stride-4 stem: output_stride=16 there dilates layer4, which with
        # this stride-2 stem leaves the deep map at stride 8.
        net = ResNet(
            BasicBlock, (1, 1, 1, 1), num_classes=0, in_chans=in_chans, channels=widths,
            output_stride=16,
        )  # fmt: skip
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, net.bn1.num_features, 3, stride=2, padding=1, bias=False),
            net.bn1,
            net.act1,
        )
        self.low = nn.Sequential(net.layer1, net.layer2)  # stride 4
        self.deep = nn.Sequential(net.layer3, net.layer4)  # stride 8 (layer4 dilated)
        self.low_chans, self.deep_chans, self.output_stride = widths[1], widths[-1], 8

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low = self.low(self.stem(x))
        return low, self.deep(low)


class TimmDilatedTrunk(nn.Module):
    """A timm `features_only` network at output stride 16: its stride-4 and deepest maps."""

    def __init__(self, name: str, in_chans: int, output_stride: int = 16):
        super().__init__()
        # pretrained=False always: weights come only from a local file the user names.
        self.net = timm.create_model(
            name, pretrained=False, features_only=True, out_indices=(1, 4),
            in_chans=in_chans, output_stride=output_stride,
        )  # fmt: skip
        self.low_chans, self.deep_chans = self.net.feature_info.channels()
        self.output_stride = output_stride

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        low, deep = self.net(x)
        return low, deep


def _build(trunk, num_classes: int, img_size: int, rates=None, **kw) -> DeepLabV3Plus:
    rates = tuple(rates) if rates else aspp_rates(-(-img_size // trunk.output_stride))
    return DeepLabV3Plus(trunk, trunk.low_chans, trunk.deep_chans, num_classes, rates, **kw)


# 64x64 shapes scenes, 240 training images. The recipe is the FCN's: same trunk, same data.
DEEPLAB_SMALL = SEG_SMALL


@register_model(
    "deeplabv3p_resnet_tiny",
    family="modern_cnn",
    tasks=("segmentation",),
    source="timm:ResNet(BasicBlock, layers=(1,1,1,1), output_stride=16) + DeepLabV3+ head",
    description="DeepLabV3+ (ASPP + decoder) on resnet_tiny's trunk, layer4 dilated (stride 8)",
    default_img_size=64,
    min_img_size=16,
    card="ASPP on the stride-8 map (8x8 on 64 px scenes) with 64 channels, rates scaled from "
    "the paper's (6, 12, 18) at 33x33 to the map size the model is built for ((1, 3, 4) at "
    "64 px; model_kwargs rates=[a,b,c] to set them); decoder at stride 4 with a 16-channel "
    "low-level projection. Any input size of 16 px and up, never resized.",
    recipes={"small": DEEPLAB_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": True, "quick": {"epochs": 10}},),
)
def deeplabv3p_resnet_tiny(
    task: str, num_classes: int, in_chans: int, img_size: int, **kw
) -> nn.Module:
    kw.setdefault("width", 64)
    kw.setdefault("low_width", 16)
    return _build(TinyDilatedTrunk(in_chans), num_classes, img_size, **kw)


@register_model(
    "deeplabv3p_resnet18",
    family="modern_cnn",
    tasks=("segmentation",),
    source="timm:resnet18 (features_only, output_stride=16) + DeepLabV3+ head",
    description="DeepLabV3+ on timm's ResNet-18 at output stride 16, the paper's 256-D head",
    default_img_size=224,
    min_img_size=32,
    card="The paper's head (256-channel ASPP, 48-channel low-level projection) on timm's "
    "ResNet-18 with layer4 dilated (output stride 16); rates scaled to the feature map ((3, 5, "
    "8) at 224 px, the paper's (6, 12, 18) at 513 px). Runs in the full suite only.",
    recipes={"small": DEEPLAB_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": False},),
)
def deeplabv3p_resnet18(
    task: str, num_classes: int, in_chans: int, img_size: int, **kw
) -> nn.Module:
    return _build(TimmDilatedTrunk("resnet18", in_chans), num_classes, img_size, **kw)
