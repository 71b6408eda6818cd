"""SegFormer (Xie et al., NeurIPS 2021): a Mix Transformer encoder and an all-MLP decoder.

The encoder (MiT) has four stages at strides 4, 8, 16 and 32, each an overlapping patch
embedding (a strided convolution: 7x7/4 first, 3x3/2 after) followed by transformer blocks:
- efficient self-attention: keys and values come from the tokens reduced by a strided
  convolution of ratio R (8, 4, 2, 1 by stage), so attention costs N*N/R^2, not N*N;
- Mix-FFN: a 3x3 depthwise convolution between the MLP's two linear layers. It leaks
  position into the tokens, which is why MiT has no position embedding and works at any input
  size (the reason it is registered in the hybrid CNN-ViT family: convolutional patch
  embeddings and depthwise convolutions inside a transformer).
The decoder is four linear layers (1x1 convolutions) mapping every stage to one width, all
upsampled to stride 4, concatenated, fused by one more linear layer and classified; the scores
are upsampled bilinearly to the input size. Nothing is pretrained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath

from .registry import Recipe, register_model


@dataclass(frozen=True)
class MiTConfig:
    dims: tuple[int, ...]
    depths: tuple[int, ...]
    heads: tuple[int, ...]
    reductions: tuple[int, ...] = (8, 4, 2, 1)
    mlp_ratio: float = 4.0
    decoder_dim: int = 256
    drop_path: float = 0.1


B0 = MiTConfig(dims=(32, 64, 160, 256), depths=(2, 2, 2, 2), heads=(1, 2, 5, 8))
NANO = MiTConfig(
    dims=(16, 32, 64, 128), depths=(1, 1, 1, 1), heads=(1, 1, 2, 4), decoder_dim=64, drop_path=0.0
)


class EfficientSelfAttention(nn.Module):
    """Multi-head attention whose keys/values come from tokens reduced R x R by a convolution."""

    def __init__(self, dim: int, heads: int, reduction: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.reduce = None
        if reduction > 1:
            self.reduce = nn.Sequential(
                nn.Conv2d(dim, dim, reduction, stride=reduction), _ChannelLayerNorm(dim)
            )

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        n, t, c = x.shape
        q = self.q(x).reshape(n, t, self.heads, -1).transpose(1, 2)
        src = x
        if self.reduce is not None:
            grid = x.transpose(1, 2).reshape(n, c, h, w)
            src = self.reduce(grid).flatten(2).transpose(1, 2)
        k, v = self.kv(src).reshape(n, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(n, t, c))


class _ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of an [N,C,H,W] map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class MixFFN(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.fc1(x)
        n, t, c = x.shape
        x = self.dwconv(x.transpose(1, 2).reshape(n, c, h, w)).flatten(2).transpose(1, 2)
        return self.fc2(F.gelu(x))


class MiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, reduction: int, mlp_ratio: float, drop_path: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = EfficientSelfAttention(dim, heads, reduction)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = MixFFN(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x), h, w))
        return x + self.drop_path(self.ffn(self.norm2(x), h, w))


class MiTStage(nn.Module):
    def __init__(self, cin: int, cfg: MiTConfig, i: int, drop_paths: list[float]):
        super().__init__()
        k, s = (7, 4) if i == 0 else (3, 2)
        dim = cfg.dims[i]
        self.embed = nn.Conv2d(cin, dim, k, stride=s, padding=k // 2)  # overlapping patches
        self.embed_norm = nn.LayerNorm(dim)
        self.blocks = nn.ModuleList(
            MiTBlock(dim, cfg.heads[i], cfg.reductions[i], cfg.mlp_ratio, dp) for dp in drop_paths
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        n, c, h, w = x.shape
        t = self.embed_norm(x.flatten(2).transpose(1, 2))
        for block in self.blocks:
            t = block(t, h, w)
        return self.norm(t).transpose(1, 2).reshape(n, c, h, w)


class MixTransformer(nn.Module):
    """MiT encoder: four feature maps at strides 4, 8, 16, 32."""

    def __init__(self, in_chans: int, cfg: MiTConfig):
        super().__init__()
        rates = torch.linspace(0, cfg.drop_path, sum(cfg.depths)).tolist()  # stochastic depth
        stages, start = [], 0
        for i, depth in enumerate(cfg.depths):
            cin = in_chans if i == 0 else cfg.dims[i - 1]
            stages.append(MiTStage(cin, cfg, i, rates[start : start + depth]))
            start += depth
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class SegFormer(nn.Module):
    def __init__(self, in_chans: int, num_classes: int, cfg: MiTConfig):
        super().__init__()
        self.encoder = MixTransformer(in_chans, cfg)
        d = cfg.decoder_dim
        self.linear = nn.ModuleList(nn.Conv2d(c, d, 1) for c in cfg.dims)  # "MLP" per stage
        self.fuse = nn.Sequential(
            nn.Conv2d(4 * d, d, 1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True)
        )
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Conv2d(d, num_classes, 1)
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        size = feats[0].shape[-2:]
        maps = [
            F.interpolate(lin(f), size=size, mode="bilinear", align_corners=False)
            for lin, f in zip(self.linear, feats)
        ]
        scores = self.classifier(self.dropout(self.fuse(torch.cat(maps[::-1], 1))))
        return F.interpolate(scores, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _init(m: nn.Module) -> None:
    """The reference initialisation: truncated-normal linear layers, fan-out normal convs."""
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
        nn.init.normal_(m.weight, 0.0, (2.0 / fan_out) ** 0.5)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


# 64x64 shapes scenes, 240 training images (AdamW as in the paper, higher lr for a short run).
# Batch 4 (60 steps an epoch) scored 0.39 mIoU at 15 epochs against 0.31 at batch 8, lr 2e-3.
SEG_SMALL = Recipe(
    lr=3e-3, weight_decay=0.01, warmup_epochs=1, epochs=15, batch_size=4, augment="hflip"
)
CARD = (
    "Any input size, never resized: no position embeddings (Mix-FFN's depthwise convolution "
    "gives position), and the decoder upsamples to the input. Stage strides 4-32: on 64 px "
    "scenes the token grids are 16, 8, 4 and 2 wide."
)


@register_model(
    "segformer_nano",
    family="hybrid",
    tasks=("segmentation",),
    description="SegFormer, CPU-sized: MiT 16-32-64-128, one block per stage, 64-D MLP decoder",
    default_img_size=64,
    min_img_size=32,
    card=CARD + " The quick-suite member: B0's layout at half width and half depth.",
    recipes={"small": SEG_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": True, "quick": {"epochs": 15}},),
)
def segformer_nano(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return SegFormer(in_chans, num_classes, NANO)


@register_model(
    "segformer_b0",
    family="hybrid",
    tasks=("segmentation",),
    description="SegFormer-B0: MiT-B0 (32-64-160-256, 2 blocks per stage) + 256-D MLP decoder",
    default_img_size=224,
    min_img_size=32,
    card=CARD + " The paper's B0 sizes (3.7 M parameters with 150 classes); full suite only.",
    recipes={"small": SEG_SMALL},
    bench_jobs=({"task": "segmentation", "in_quick": False},),
)
def segformer_b0(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return SegFormer(in_chans, num_classes, B0)
