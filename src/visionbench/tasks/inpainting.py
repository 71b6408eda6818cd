"""Inpainting masks and the scores inside them, shared by restoration (the modern autoencoder)
and generation (the DDPM's RePaint).

Masks are `keep` tensors [N,1,H,W]: 1 where the pixel is known, 0 in the hole to fill.
"""

from __future__ import annotations

import torch

from ..metrics.image import ssim

MASKS = ("box", "strokes")


def box_mask(n: int, h: int, w: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A hole of half the height and width: centred without a generator, at a random place with one."""
    bh, bw = max(1, h // 2), max(1, w // 2)
    keep = torch.ones(n, 1, h, w)
    for i in range(n):
        if generator is None:
            y, x = (h - bh) // 2, (w - bw) // 2
        else:
            y = int(torch.randint(0, h - bh + 1, (1,), generator=generator))
            x = int(torch.randint(0, w - bw + 1, (1,), generator=generator))
        keep[i, :, y : y + bh, x : x + bw] = 0
    return keep


def stroke_mask(
    n: int, h: int, w: int, generator: torch.Generator, strokes: int = 4
) -> torch.Tensor:
    """Random thick line segments (free-form strokes), about 1/12 of the side thick."""
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    radius = max(1.0, min(h, w) / 24)
    keep = torch.ones(n, 1, h, w)
    for i in range(n):
        for _ in range(strokes):
            p = torch.rand(4, generator=generator) * torch.tensor([h, w, h, w])
            a, b = p[:2], p[2:]
            d = b - a
            t = (((yy - a[0]) * d[0] + (xx - a[1]) * d[1]) / d.pow(2).sum().clamp(min=1e-6)).clamp(
                0, 1
            )
            dist = ((yy - a[0] - t * d[0]) ** 2 + (xx - a[1] - t * d[1]) ** 2).sqrt()
            keep[i, 0][dist <= radius] = 0
    return keep


def make_mask(
    kind: str, n: int, h: int, w: int, generator: torch.Generator, centred: bool
) -> torch.Tensor:
    if kind == "box":
        return box_mask(n, h, w, None if centred else generator)
    return stroke_mask(n, h, w, generator)


def mean_fill(image: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The trivial baseline: each channel's mean over the known pixels, painted into the hole."""
    mean = (image * keep).sum((-2, -1), keepdim=True) / keep.sum((-2, -1), keepdim=True).clamp(
        min=1
    )
    return keep * image + (1 - keep) * mean


def masked_scores(out: torch.Tensor, clean: torch.Tensor, keep: torch.Tensor) -> dict[str, float]:
    """PSNR over the hole's pixels, and SSIM on the hole's bounding box (when at least 11 px)."""
    hole = (1 - keep).expand_as(clean).bool()
    mse = (out.double() - clean.double())[hole].pow(2).mean()
    scores = {"psnr_mask": float(10 * torch.log10(1 / mse.clamp(min=1e-12)))}
    ys, xs = torch.nonzero(hole[0, 0], as_tuple=True)
    if len(ys):
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        if min(y1 - y0, x1 - x0) >= 11:
            crop = (..., slice(y0, y1), slice(x0, x1))
            scores["ssim_mask"] = float(ssim(out[crop], clean[crop]).mean())
    return scores
