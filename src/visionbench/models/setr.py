"""SETR-naive (Zheng et al. 2021): a plain ViT as a segmenter, the ViT family's dense task.

The transformer's patch tokens are laid back on their grid, a two-layer 1x1 head turns each
token into class scores, and the score map is upsampled bilinearly by the patch size. There is
no convolutional decoder: every pixel's context comes from self-attention over all patches,
which is what the experiment shows against the FCN and the U-Net. The ViT is timm's
VisionTransformer with no class token and dynamic input size (position embeddings interpolated,
the input padded to whole patches), so any size works; nothing is pretrained.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from .registry import Recipe, register_model
from .vit import patch_for


class SETRNaive(nn.Module):
    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        img_size: int,
        patch_size: int,
        embed_dim: int = 96,
        depth: int = 4,
        num_heads: int = 3,
        mlp_ratio: float = 2.0,
    ):
        super().__init__()
        self.patch = int(patch_size)
        self.vit = VisionTransformer(
            img_size=-(-img_size // self.patch) * self.patch,
            patch_size=self.patch,
            in_chans=in_chans,
            num_classes=0,
            global_pool="",
            class_token=False,  # SETR reads patch tokens only
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dynamic_img_size=True,
            dynamic_img_pad=True,
        )
        self.head = nn.Sequential(  # SETR-naive: 1x1 conv, BN, ReLU, 1x1 conv to classes
            nn.Conv2d(embed_dim, embed_dim, 1, bias=False),
            nn.BatchNorm2d(embed_dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(embed_dim, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        gh, gw = -(-h // self.patch), -(-w // self.patch)  # the padded grid timm tokenised
        tokens = self.vit.forward_features(x)[:, self.vit.num_prefix_tokens :]
        grid = tokens.transpose(1, 2).reshape(x.shape[0], -1, gh, gw)
        scores = F.interpolate(
            self.head(grid), scale_factor=self.patch, mode="bilinear", align_corners=False
        )
        return scores[..., :h, :w]  # padding sits at the bottom and right


# 64x64 shapes scenes (8x8 tokens of 8 px): about 1.1 s per epoch on one loaded CPU core. 4 px
# patches (16x16 tokens) cost 5x more per epoch and were no better within the quick budget.
SEG_SMALL = Recipe(
    lr=3e-3, weight_decay=0.05, warmup_epochs=1, epochs=12, batch_size=8, augment="hflip"
)


@register_model(
    "setr_nano",
    family="vit",
    tasks=("segmentation",),
    source="timm:VisionTransformer(embed_dim=96, depth=4, num_heads=3) + SETR-naive head",
    description="SETR-naive: vit_nano's dimensions, patch tokens -> 1x1 head -> bilinear x patch",
    default_img_size=64,
    min_img_size=4,
    card="Patch size ceil(img_size/8) (8 px on 64 px scenes: 8x8 tokens, so boundaries are "
    "coarse: SETR-naive has no decoder); pass model_kwargs "
    "patch_size=P to change it. Any input size works, never resized: the input is padded to "
    "whole patches, position embeddings are interpolated, the logits cropped back.",
    recipes={"small": SEG_SMALL},
    bench_jobs=(
        {
            "task": "segmentation",
            "in_quick": True,
        },
    ),
)
def setr_nano(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    kw.setdefault("patch_size", patch_for(img_size, 8))
    return SETRNaive(num_classes, in_chans, img_size, **kw)
