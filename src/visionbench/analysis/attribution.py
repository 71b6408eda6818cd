"""Saliency maps and how faithful they are.

Methods, all returning [N,H,W] at the input's resolution (higher = more support for the target):
- `grad_cam`: Grad-CAM (Selvaraju et al. 2017) on a convolutional layer, through Captum's
  LayerGradCam. Captum rather than pytorch-grad-cam: it is maintained under the PyTorch
  organisation, needs nothing beyond torch and numpy (pytorch-grad-cam pulls in OpenCV and
  ttach), and offers the other attribution methods behind the same API.
- `attention_rollout`: Abnar & Zuidema (2020) for the timm ViTs and hybrids (own code): the
  attention of every block, averaged over heads, mixed half-and-half with the identity for the
  residual path, rows renormalised and multiplied through the depth.
- `input_gradient`: d score / d input x (input - fill), summed over channels; every family.

Faithfulness (Petsiuk et al., RISE, BMVC 2018): deletion removes pixels in the map's order
(replaced by `fill`) and insertion adds them in that order to a blurred copy; the area under the
target-probability curve, deletion lower and insertion higher than for a random order, means
the map found the pixels the model uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import VisionbenchError

ScoreFn = Callable[[torch.Tensor], torch.Tensor]  # images -> target-class probability [N]


# Grad-CAM ---------------------------------------------------------------------------------------
def last_conv(model: nn.Module, example: torch.Tensor | None = None) -> nn.Conv2d | None:
    """The last Conv2d in module order: Grad-CAM's usual layer (the deepest spatial features).

    A ViT's patch embedding is a strided convolution of the raw pixels, not a feature map, so
    convolutions inside timm's PatchEmbed do not count (a hybrid's convolutional stem does).
    Given an `example` input, convolutions whose output is a single pixel (LeNet-5's C5) are
    skipped too: Grad-CAM on a 1x1 map is a constant.
    """
    from timm.layers import PatchEmbed

    inside = {id(c) for m in model.modules() if isinstance(m, PatchEmbed) for c in m.modules()}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in inside]
    if example is not None and convs:
        sizes: dict[int, int] = {}
        hooks = [
            c.register_forward_hook(
                lambda mod, a, out: sizes.__setitem__(id(mod), out.shape[-1] * out.shape[-2])
            )
            for c in convs
        ]
        try:
            with torch.no_grad():
                model(example)
        finally:
            for h in hooks:
                h.remove()
        convs = [c for c in convs if sizes.get(id(c), 0) > 1]
    return convs[-1] if convs else None


def grad_cam(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    targets: torch.Tensor,
    layer: nn.Module,
) -> torch.Tensor:
    """[N,H,W] Grad-CAM for class `targets`, ReLU'd and upsampled bilinearly to the input size."""
    from captum.attr import LayerAttribution, LayerGradCam

    cam = LayerGradCam(model, layer)
    with torch.enable_grad():
        a = cam.attribute(images, target=targets.tolist(), relu_attributions=True)
    a = LayerAttribution.interpolate(a.detach(), tuple(images.shape[-2:]), "bilinear")
    return a.sum(1)


# attention rollout ------------------------------------------------------------------------------
def rollout(attentions: list[torch.Tensor], residual: float = 0.5) -> torch.Tensor:
    """[N,T,T] rollout of per-block attentions [N,heads,T,T] (or [N,T,T])."""
    if not attentions:
        raise VisionbenchError("attention rollout needs at least one attention map")
    out = None
    for a in attentions:
        a = a.float()
        if a.dim() == 4:
            a = a.mean(1)
        eye = torch.eye(a.shape[-1], device=a.device).expand_as(a)
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(-1, keepdim=True)
        out = a if out is None else a @ out
    return out


def token_relevance(rolled: torch.Tensor, prefix: int, pool: str) -> torch.Tensor:
    """[N, patches] relevance of each patch token for the pooled output: the class token's row
    when the head reads the class token, the mean of the patch rows when it average-pools."""
    if pool == "token" and prefix > 0:
        return rolled[:, 0, prefix:]
    return rolled[:, prefix:, prefix:].mean(1)


class AttentionRecorder:
    """Forward hooks on every timm `Attention` of a model, recomputing its softmax attention from
    the block's input (timm's fused kernel never materialises it)."""

    def __init__(self, model: nn.Module):
        from timm.models.vision_transformer import Attention

        self.maps: list[torch.Tensor] = []
        self.handles = [
            m.register_forward_hook(self._hook) for m in model.modules() if isinstance(m, Attention)
        ]
        if not self.handles:
            raise VisionbenchError("attention rollout needs a timm Vision Transformer")

    def _hook(self, mod, args, output) -> None:
        x = args[0]
        b, t, _ = x.shape
        qkv = mod.qkv(x).reshape(b, t, 3, mod.num_heads, mod.head_dim).permute(2, 0, 3, 1, 4)
        q, k = mod.q_norm(qkv[0]), mod.k_norm(qkv[1])
        self.maps.append(((q * mod.scale) @ k.transpose(-2, -1)).softmax(-1).detach())

    def close(self) -> None:
        for h in self.handles:
            h.remove()


@torch.no_grad()
def attention_rollout(vit: nn.Module, images: torch.Tensor, model_input=None) -> torch.Tensor:
    """[N,H,W] rollout relevance of a timm VisionTransformer, upsampled to the images' size.

    `model_input(images)` maps the images to what `vit` takes (the task's resize and
    normalisation); the token grid is taken from the patch embedding.
    """
    rec = AttentionRecorder(vit)
    try:
        vit(model_input(images) if model_input else images)
    finally:
        rec.close()
    prefix = getattr(vit, "num_prefix_tokens", 1)
    pool = getattr(vit, "global_pool", "token") or "token"
    rel = token_relevance(rollout(rec.maps), prefix, pool)
    n, p = rel.shape
    gh, gw = _grid(vit, p)
    return F.interpolate(rel.view(n, 1, gh, gw), size=images.shape[-2:], mode="bilinear")[:, 0]


def _grid(vit: nn.Module, patches: int) -> tuple[int, int]:
    grid = getattr(getattr(vit, "patch_embed", None), "grid_size", None)
    if grid and grid[0] * grid[1] == patches:
        return int(grid[0]), int(grid[1])
    side = math.isqrt(patches)
    if side * side != patches:
        raise VisionbenchError(f"cannot lay {patches} tokens on a square grid")
    return side, side


# input gradient ---------------------------------------------------------------------------------
def input_gradient(
    logits_fn: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    targets: torch.Tensor,
    fill: torch.Tensor,
) -> torch.Tensor:
    """[N,H,W] d logit_target / d x times (x - fill), summed over channels: the first-order drop
    of the logit when a pixel is replaced by `fill`, which deletion then measures."""
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        score = logits_fn(x).float().gather(1, targets.view(-1, 1)).sum()
        (g,) = torch.autograd.grad(score, x)
    return (g * (images - fill)).sum(1).detach()


# deletion / insertion ---------------------------------------------------------------------------
def _order(saliency: torch.Tensor) -> torch.Tensor:
    return saliency.flatten(1).argsort(dim=1, descending=True)


def random_order(n: int, hw: int, seed: int, device=None) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(seed))
    return torch.rand(n, hw, generator=g).argsort(dim=1).to(device)


def _masked(base, source, order, count):
    """`base` with the first `count` pixels of `order` taken from `source`."""
    n, c, h, w = base.shape
    mask = torch.zeros(n, h * w, dtype=torch.bool, device=base.device)
    if count:
        mask.scatter_(1, order[:, :count], True)
    return torch.where(mask.view(n, 1, h, w), source, base)


@torch.no_grad()
def deletion_insertion(
    score_fn: ScoreFn,
    images: torch.Tensor,
    order: torch.Tensor,
    fill: torch.Tensor,
    blurred: torch.Tensor,
    steps: int = 16,
) -> dict:
    """Deletion and insertion curves (mean target probability at steps+1 shares of pixels) and
    their areas (trapezoid rule over the share in [0,1])."""
    n, _, h, w = images.shape
    hw = h * w
    counts = [round(i * hw / steps) for i in range(steps + 1)]
    filled = fill.expand_as(images)
    dele = [float(score_fn(_masked(images, filled, order, k)).mean()) for k in counts]
    ins = [float(score_fn(_masked(blurred, images, order, k)).mean()) for k in counts]
    return {
        "shares": [k / hw for k in counts],
        "deletion": dele,
        "insertion": ins,
        "deletion_auc": _auc(dele),
        "insertion_auc": _auc(ins),
    }


def _auc(values: list[float]) -> float:
    return float(sum((a + b) / 2 for a, b in zip(values, values[1:])) / (len(values) - 1))


def faithfulness(
    score_fn: ScoreFn,
    images: torch.Tensor,
    saliency: torch.Tensor,
    fill: torch.Tensor,
    blur_sigma: float | None = None,
    steps: int = 16,
    seed: int = 0,
) -> dict:
    """Deletion / insertion AUC of the map and of a random map on the same images."""
    from .imageops import gaussian_blur

    sigma = blur_sigma if blur_sigma is not None else max(images.shape[-2:]) / 8
    blurred = gaussian_blur(images, sigma)
    n, _, h, w = images.shape
    ours = deletion_insertion(score_fn, images, _order(saliency), fill, blurred, steps)
    rand = deletion_insertion(
        score_fn, images, random_order(n, h * w, seed, images.device), fill, blurred, steps
    )
    return {
        "map": ours,
        "random": rand,
        "deletion_auc": ours["deletion_auc"],
        "insertion_auc": ours["insertion_auc"],
        "random_deletion_auc": rand["deletion_auc"],
        "random_insertion_auc": rand["insertion_auc"],
        "beats_random": bool(
            ours["deletion_auc"] < rand["deletion_auc"]
            and ours["insertion_auc"] > rand["insertion_auc"]
        ),
        "blur_sigma": sigma,
        "steps": steps,
    }
