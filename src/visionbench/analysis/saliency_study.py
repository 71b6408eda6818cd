"""Every saliency method a model admits, scored by deletion and insertion against a random map.

Input-gradient saliency works for every family; Grad-CAM needs a convolution (CNNs, capsule
networks, the hybrids' stems); attention rollout needs timm attention blocks (ViTs, hybrids).
So a CNN gets two maps, a ViT two, a hybrid three, all on the same images and scored by the
same deletion / insertion curves, and the random order is the shared baseline.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn as nn

from . import attribution as attr

GRID_IMAGES = 8  # images in the report's saliency grid: the first test image of each class


def saliency_maps(
    net: nn.Module,
    model_input: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    targets: torch.Tensor,
    fill: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """{method: [N,H,W]} for every method this network admits (see the module docstring)."""

    def logits(x: torch.Tensor) -> torch.Tensor:
        return net(model_input(x))

    maps = {"input gradient": attr.input_gradient(logits, images, targets, fill)}
    conv = attr.last_conv(net, model_input(images[:1]))
    if conv is not None:
        maps["Grad-CAM"] = attr.grad_cam(logits, images, targets, conv)
    try:
        maps["attention rollout"] = attr.attention_rollout(net, images, model_input)
    except Exception as e:  # not a timm transformer: no rollout, said by its absence
        if "timm Vision Transformer" not in str(e):
            raise
    return maps


def saliency_study(
    net: nn.Module,
    model_input: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    targets: torch.Tensor,
    steps: int = 16,
    seed: int = 0,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """(scores, maps): deletion / insertion AUC per method and for a random map.

    Removed pixels take the per-channel mean of the images; insertion starts from a Gaussian
    blur (sigma = side / 8), as RISE. Scores use the softmax probability of the target class.
    """
    t0 = time.perf_counter()
    fill = images.mean(dim=(0, 2, 3), keepdim=True)
    maps = saliency_maps(net, model_input, images, targets, fill)

    @torch.no_grad()
    def prob(x: torch.Tensor) -> torch.Tensor:
        out = []
        for i in range(0, len(x), 256):
            p = net(model_input(x[i : i + 256])).float().softmax(1)
            out.append(p.gather(1, targets[i : i + 256].view(-1, 1))[:, 0])
        return torch.cat(out)

    methods = {}
    random = None
    for name, m in maps.items():
        f = attr.faithfulness(prob, images, m, fill, steps=steps, seed=seed)
        methods[name] = {
            "deletion_auc": f["deletion_auc"],
            "insertion_auc": f["insertion_auc"],
            "beats_random": f["beats_random"],
            "deletion_curve": f["map"]["deletion"],
            "insertion_curve": f["map"]["insertion"],
        }
        random = random or {
            "deletion_auc": f["random_deletion_auc"],
            "insertion_auc": f["random_insertion_auc"],
            "deletion_curve": f["random"]["deletion"],
            "insertion_curve": f["random"]["insertion"],
        }
    scores = {
        "methods": methods,
        "random": random,
        "images": int(len(images)),
        "steps": steps,
        "fill": "per-channel mean of the analysed images",
        "insertion_start": f"Gaussian blur, sigma {max(images.shape[-2:]) / 8:g} px",
        "reference": "Petsiuk et al., RISE, BMVC 2018 (deletion / insertion); Selvaraju et al. "
        "2017 (Grad-CAM, via Captum); Abnar & Zuidema 2020 (attention rollout)",
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return scores, maps


def grid_indices(labels: torch.Tensor, count: int = GRID_IMAGES) -> torch.Tensor:
    """The first image of each of the first `count` classes present (fewer classes: more images
    of the first ones), for a grid that shows different classes."""
    firsts = [int((labels == c).nonzero()[0]) for c in labels.unique().tolist()]
    extra = [i for i in range(len(labels)) if i not in firsts]
    return torch.tensor((firsts + extra)[:count])
