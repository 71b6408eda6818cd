"""What the generation task adds for a VAE: its test ELBO and a reconstruction grid.

The ELBO is a lower bound on the log-likelihood of the test images, the number a VAE is
compared by in its paper; FID on domain features (the task's ranking metric) says how its
samples look. Both are reported.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..engine.checkpoint import unwrap


def is_vae(model: nn.Module) -> bool:
    return hasattr(unwrap(model), "elbo_terms")


@torch.no_grad()
def elbo_metrics(model: nn.Module, real: torch.Tensor, batch: int = 500) -> dict[str, float]:
    """Mean per-image ELBO, log-likelihood and KL (nats) and ELBO per pixel, one seeded draw."""
    m = unwrap(model)
    device = next(m.parameters()).device
    g = torch.Generator().manual_seed(5)
    sums: dict[str, float] = {}
    for i in range(0, len(real), batch):
        terms = m.elbo_terms(real[i : i + batch].to(device), generator=g)
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.sum())
    out = {k: v / len(real) for k, v in sums.items()}
    out["elbo_per_pixel"] = out["elbo"] / real[0].numel()
    return out


@torch.no_grad()
def reconstruction_picture(model: nn.Module, real: torch.Tensor, path: Path) -> Path:
    """Eight test images above their reconstructions."""
    from ..viz.plots import image_grid_png

    m = unwrap(model)
    device = next(m.parameters()).device
    x = real[:8]
    rec = m.reconstruct(x.to(device)).float().cpu()
    return image_grid_png(torch.cat([x, rec]), path, title="test images / VAE reconstructions")
