"""Autoencoders as codecs: the latent's size in bits per pixel beside the reconstruction's PSNR.

An autoencoder exposes `latents(x)` (every tensor its decoder reads) and `decode(latents)`.
Each latent tensor is quantised uniformly between its own min and max (the two floats are
counted too); no entropy coding, so the rate is an upper bound a real codec would undercut.
"""

from __future__ import annotations

import torch


def quantise(t: torch.Tensor, bits: int) -> torch.Tensor:
    lo, hi = t.min(), t.max()
    levels = 2**bits - 1
    step = (hi - lo).clamp(min=1e-12) / levels
    return ((t - lo) / step).round().clamp(0, levels) * step + lo


def is_autoencoder(model) -> bool:
    return hasattr(model, "latents") and hasattr(model, "decode")


@torch.no_grad()
def code_at(model, x: torch.Tensor, bits: int) -> tuple[torch.Tensor, float]:
    """The reconstruction from `bits`-bit latents and the rate in bits per output pixel."""
    lat = model.latents(x)
    out = model.decode([quantise(t, bits) for t in lat])
    pixels = out.shape[0] * out.shape[-2] * out.shape[-1]
    rate = sum(t.numel() * bits + 64 for t in lat) / pixels
    return out, rate
