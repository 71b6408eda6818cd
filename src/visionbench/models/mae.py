"""Masked autoencoder (He et al., CVPR 2022) on `vit_nano`'s encoder, for classification.

Pre-training (self-supervised, labels unused): each image is cut into patches, a random 75%
of them is dropped per image, the ViT encoder sees the visible 25% only (with their position
embeddings), and a light decoder gets the encoded visible tokens plus a shared, learned mask
token at every masked position (its own fixed 2-D sin-cos position embedding) and predicts the
pixels of every patch. The loss is the mean squared error on the masked patches only, against
each patch's pixels normalised by that patch's own mean and variance (the paper's
`norm_pix_loss`, its better-performing target).

Fine-tuning: the encoder is `vit_nano` exactly (timm's VisionTransformer, 96-D tokens, 4 blocks,
3 heads, MLP ratio 2, mean-pooled, class token, learned position embedding) with its linear
head, trained end to end on the labels; the decoder is left unused (it stays in the weights
file). `forward(x)` is the classifier's logits, so the classification task, the challenges,
profiling and export treat it as any ViT; `pretraining_loss` and `reconstruct` are the
masked-autoencoder side, run by tasks/pretraining.py.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.vision_transformer import Block, VisionTransformer

from .registry import register_model
from .vit import VIT_MEDIUM, VIT_SMALL, patch_for


def sincos_2d(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding [grid*grid, dim] (MAE's decoder; row-major patches):
    half the channels encode the row, half the column, each as sin and cos of pos * omega_k
    with omega_k = 10000^(-k / (dim/4))."""
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a dimension divisible by 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(
        torch.arange(grid, dtype=torch.float64),
        torch.arange(grid, dtype=torch.float64),
        indexing="ij",
    )

    def encode(pos: torch.Tensor) -> torch.Tensor:
        angles = pos.reshape(-1, 1) * omega[None]
        return torch.cat([angles.sin(), angles.cos()], 1)

    return torch.cat([encode(rows), encode(cols)], 1).float()


def random_masking(
    n: int, length: int, ratio: float, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-sample random masking by argsort of uniform noise (the MAE paper's shuffle).

    Returns (ids_keep [n, keep], mask [n, length] with 1 = masked, ids_restore [n, length]);
    keep = int(length * (1 - ratio)), at least 1. With `generator` the noise is drawn on the CPU
    from it (a fixed mask for evaluation); otherwise from the global stream on `device`.
    """
    keep = max(1, int(length * (1 - ratio)))
    if generator is not None:
        noise = torch.rand(n, length, generator=generator).to(device)
    else:
        noise = torch.rand(n, length, device=device)
    ids_shuffle = noise.argsort(1)
    ids_restore = ids_shuffle.argsort(1)
    mask = torch.ones(n, length, device=device)
    mask[:, :keep] = 0
    mask = mask.gather(1, ids_restore)
    return ids_shuffle[:, :keep], mask, ids_restore


def masked_patch_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = True
) -> torch.Tensor:
    """Per-image mean squared error over the masked patches only ([n]).

    pred, target: [n, L, patch_pixels]; mask: [n, L], 1 where the patch was hidden. With
    `norm_pix` the target patch is standardised by its own mean and variance (eps 1e-6)."""
    if norm_pix:
        mean = target.mean(-1, keepdim=True)
        var = target.var(-1, keepdim=True, unbiased=False)
        target = (target - mean) / (var + 1e-6).sqrt()
    per_patch = (pred.float() - target.float()).pow(2).mean(-1)
    return (per_patch * mask).sum(1) / mask.sum(1)


class MaskedAutoencoderViT(nn.Module):
    """`vit_nano`'s classifier plus an MAE decoder; forward(x) gives class logits."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int,
        img_size: int,
        patch_size: int | None = None,
        mask_ratio: float = 0.75,
        decoder_dim: int = 64,
        decoder_depth: int = 1,
        decoder_heads: int = 2,
        norm_pix_loss: bool = True,
    ):
        super().__init__()
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        p = patch_size or patch_for(img_size, 4)
        self.patch = p
        self.grid = math.ceil(img_size / p)
        self.pad = self.grid * p - img_size  # zeros right and bottom, as timm's dynamic padding
        self.in_chans = in_chans
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.encoder = VisionTransformer(
            img_size=self.grid * p,
            patch_size=p,
            in_chans=in_chans,
            num_classes=num_classes,
            embed_dim=96,
            depth=4,
            num_heads=3,
            mlp_ratio=2.0,
            global_pool="avg",
        )
        enc = self.encoder
        if enc.num_prefix_tokens != 1 or enc.no_embed_class or enc.pos_embed is None:
            raise ValueError(
                "the MAE encoder expects one class token inside the position embedding"
            )
        dim = enc.embed_dim
        self.decoder_norm_in = nn.LayerNorm(dim)  # timm's mean-pooled ViT has no final token norm
        self.decoder_embed = nn.Linear(dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        pos = torch.cat([torch.zeros(1, decoder_dim), sincos_2d(decoder_dim, self.grid)])
        self.register_buffer("decoder_pos", pos[None], persistent=False)
        self.decoder_blocks = nn.Sequential(
            *[Block(decoder_dim, decoder_heads, mlp_ratio=2.0) for _ in range(decoder_depth)]
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, p * p * in_chans)
        nn.init.normal_(self.mask_token, std=0.02)
        # fine-tuning leaves the decoder unused, pre-training the head: DDP must not wait for them
        self.find_unused_parameters = True

    # what attention rollout reads from a timm ViT (analysis/attribution.py): the encoder's
    @property
    def patch_embed(self) -> nn.Module:
        return self.encoder.patch_embed

    @property
    def global_pool(self) -> str:
        return self.encoder.global_pool

    @property
    def num_prefix_tokens(self) -> int:
        return self.encoder.num_prefix_tokens

    # shapes -----------------------------------------------------------------------------------
    def padded(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, self.pad, 0, self.pad)) if self.pad else x

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """[n, C, H, W] (whole patches) -> [n, L, p*p*C], patches row-major, pixels (p, p, C)."""
        n, c, h, w = x.shape
        p = self.patch
        x = x.reshape(n, c, h // p, p, w // p, p)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(n, (h // p) * (w // p), p * p * c)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        n, g, p, c = patches.shape[0], self.grid, self.patch, self.in_chans
        x = patches.reshape(n, g, g, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(n, c, g * p, g * p)

    # masked autoencoding -----------------------------------------------------------------------
    def encode_visible(self, x: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """The encoder on the class token and the kept patches: [n, 1 + keep, D]."""
        enc = self.encoder
        tokens = enc.patch_embed(x) + enc.pos_embed[:, 1:]
        d = tokens.shape[-1]
        kept = tokens.gather(1, ids_keep[..., None].expand(-1, -1, d))
        cls = (enc.cls_token + enc.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        seq = enc.norm_pre(enc.pos_drop(torch.cat([cls, kept], 1)))
        return enc.norm(enc.blocks(seq))

    def decode(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Pixel predictions for every patch [n, L, p*p*C] from the encoded visible tokens."""
        y = self.decoder_embed(self.decoder_norm_in(latent))
        n, length = ids_restore.shape
        masks = self.mask_token.expand(n, length + 1 - y.shape[1], -1)
        full = torch.cat([y[:, 1:], masks], 1)  # visible first, as shuffled; then unshuffle
        full = full.gather(1, ids_restore[..., None].expand(-1, -1, y.shape[-1]))
        y = torch.cat([y[:, :1], full], 1) + self.decoder_pos
        y = self.decoder_norm(self.decoder_blocks(y))
        return self.decoder_pred(y[:, 1:])

    def masked_forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(per-image masked-patch loss [n], predictions [n, L, P], mask [n, L])."""
        x = self.padded(x)
        ids_keep, mask, ids_restore = random_masking(
            x.shape[0], self.grid**2, self.mask_ratio, generator, x.device
        )
        pred = self.decode(self.encode_visible(x, ids_keep), ids_restore)
        loss = masked_patch_loss(pred, self.patchify(x), mask, self.norm_pix_loss)
        return loss, pred, mask

    def pretraining_loss(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Mean masked-patch MSE of the batch (the pre-training objective)."""
        return self.masked_forward(x, generator)[0].mean()

    @torch.no_grad()
    def reconstruct(
        self, x: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, hidden) at x's size: the visible patches are the input's, the hidden
        ones the prediction, brought back from the normalised target with the true patch's mean
        and variance (as the paper's figures); `hidden` [n, 1, H, W] is 1 on hidden patches."""
        _, pred, mask = self.masked_forward(x, generator)
        target = self.patchify(self.padded(x))
        if self.norm_pix_loss:
            mean = target.mean(-1, keepdim=True)
            std = (target.var(-1, keepdim=True, unbiased=False) + 1e-6).sqrt()
            pred = pred * std + mean
        m = mask[..., None].to(target)
        h, w = x.shape[-2:]
        recon = self.unpatchify(target * (1 - m) + pred.to(target) * m)[..., :h, :w]
        hidden = self.unpatchify(m.expand_as(target))[:, :1, :h, :w]
        return recon, hidden

    # classification ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.padded(x))


# The classifier's recipe is vit_nano's, so the learning curves compare the same network and
# the same supervised training, with and without pre-training. Pre-training, with the same
# optimiser, batch and schedule: 20 epochs on digits (10% of the labels: 10 epochs gave 0.650
# test accuracy, 20 gave 0.742; docs/models.md), 10 on medium sets (not measured yet).
MAE_SMALL = dataclasses.replace(VIT_SMALL, pretrain_epochs=20)
MAE_MEDIUM = dataclasses.replace(VIT_MEDIUM, pretrain_epochs=10)


MAE_ARGS = (
    "patch_size",
    "mask_ratio",
    "decoder_dim",
    "decoder_depth",
    "decoder_heads",
    "norm_pix_loss",
)


@register_model(
    "mae_vit_nano",
    family="modern_autoencoder",
    tasks=("classification",),
    source="visionbench (MAE, He et al. 2022) on timm:VisionTransformer(embed_dim=96, depth=4)",
    description="masked autoencoder: vit_nano's encoder pre-trained to reconstruct 75% hidden "
    "patches of the unlabelled training images, then fine-tuned with a linear head",
    default_img_size=32,
    min_img_size=4,
    card="Self-supervised pre-training (recipe `pretrain_epochs`, `--pretrain-epochs N`; 0 "
    "trains vit_nano from scratch) on every training image with labels unused (with "
    "`--train-fraction` the whole training split, not only the labelled share), then "
    "`vit_nano`'s supervised recipe on the encoder and head. status.json's `pretraining` "
    "records the masked-patch MSE on the validation images before and after pre-training; "
    "samples/mae_reconstructions.png: masked test images, their reconstructions right after "
    "pre-training, and the originals. "
    "model_kwargs: mask_ratio (0.75), decoder_dim (64), decoder_depth (1), decoder_heads (2), "
    "norm_pix_loss (true), patch_size. The decoder stays in the weights file (params include it).",
    recipes={"small": MAE_SMALL, "medium": MAE_MEDIUM},
    model_args=MAE_ARGS,
    # --quick: its data-efficiency jobs (10% and 25% of digits, bench/suites.py) only; the
    # full-data job (vit_nano's 40 epochs plus pre-training) runs with --full
    bench_jobs=({"task": "classification", "in_quick": False},),
)
def mae_vit_nano(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return MaskedAutoencoderViT(num_classes, in_chans, img_size, **kw)
