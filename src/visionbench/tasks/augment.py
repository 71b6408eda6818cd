"""Batch augmentations on tensors, on the batch's device, drawn from the step's generator.

Why ours and not torchvision.transforms.v2 here: v2 draws from the global RNG (no generator
argument) and, given a batched tensor, draws one random parameter for the whole batch, so a
per-image flip or shift of an in-memory batch on the GPU would need a Python loop over images and
a reseeded global RNG per step. These few lines draw per image from the step's generator, which
is what makes a resumed run bit-identical (the trainer reseeds it per epoch). Transforms that
must move boxes and masks with the image (detection, instance segmentation) do use v2 with
tv_tensors, per sample, in tasks/detection.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _draw(n: int, high: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.randint(0, high, (n,), generator=generator).to(device)


def random_shift(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by up to `pad` px (zero fill): pad, then crop at a random offset."""
    if pad <= 0:
        return x
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    oy = _draw(n, 2 * pad + 1, generator, x.device)
    ox = _draw(n, 2 * pad + 1, generator, x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # N,H,1
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # N,1,W
    batch = torch.arange(n, device=x.device)[:, None, None]
    return xp.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()


def random_hflip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    flip = _draw(x.shape[0], 2, generator, x.device).bool()
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_dihedral(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One of the 8 flips/rotations per batch (patches for restoration are square)."""
    k = int(torch.randint(0, 8, (1,), generator=generator))
    if k & 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def apply(name: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if name in ("none", "", None):
        return x
    if name == "shift":
        return random_shift(x, max(1, x.shape[-1] // 16), generator)
    if name == "flip_crop":
        return random_shift(random_hflip(x, generator), max(1, x.shape[-1] // 8), generator)
    if name == "flip":
        return random_dihedral(x, generator)
    from ..errors import VisionbenchError

    raise VisionbenchError(f"unknown augmentation '{name}'; use none, shift, flip_crop or flip")
