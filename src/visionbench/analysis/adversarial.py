"""Adversarial examples through any loss: FGSM (Goodfellow et al. 2015) and PGD (Madry et al.
2018), in the L-inf and L2 norms, with a random start, a step count and an epsilon grid.

The attack only sees `loss_fn(images) -> per-image losses [N]` (or their sum), so every task's
own training loss works: cross-entropy for classification, per-pixel cross-entropy for
segmentation, the detector's loss for detection. Images are [N,C,H,W] in [0,1] and adversarial
images stay in [0,1] and within eps of the originals (in the chosen norm), at every step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import VisionbenchError

LossFn = Callable[[torch.Tensor], torch.Tensor]
NORMS = ("linf", "l2")
TINY = 1e-12


def _check(norm: str, eps: float) -> None:
    if norm not in NORMS:
        raise VisionbenchError(f"unknown attack norm '{norm}'; known: {', '.join(NORMS)}")
    if eps < 0:
        raise VisionbenchError(f"attack epsilon must be >= 0, got {eps}")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    """Per-image L2 norm, shaped to broadcast over [N,C,H,W]."""
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


def gradient(images: torch.Tensor, loss_fn: LossFn) -> torch.Tensor:
    """d(sum of losses)/d images; the model's own parameters get no gradient."""
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = loss_fn(x)
        (g,) = torch.autograd.grad(loss.sum(), x)
    return g.detach()


def ascent_direction(g: torch.Tensor, norm: str) -> torch.Tensor:
    """The unit-norm step that increases the loss most to first order."""
    if norm == "linf":
        return g.sign()
    return g / (_flat_norm(g) + TINY)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """The nearest point to delta inside the eps ball."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = _flat_norm(delta)
    return delta * torch.clamp(eps / (n + TINY), max=1.0)


def random_start(images: torch.Tensor, eps: float, norm: str, seed: int) -> torch.Tensor:
    """A uniform draw from the eps ball (L-inf: a cube; L2: uniform in the ball's volume)."""
    g = torch.Generator().manual_seed(int(seed))
    if norm == "linf":
        d = (torch.rand(images.shape, generator=g) * 2 - 1) * eps
    else:
        u = torch.randn(images.shape, generator=g)
        u = u / (_flat_norm(u) + TINY)
        dims = images[0].numel()
        r = torch.rand(images.shape[0], generator=g) ** (1.0 / dims) * eps
        d = u * r.view(-1, *([1] * (images.dim() - 1)))
    return d.to(images.device, images.dtype)


def fgsm(images: torch.Tensor, loss_fn: LossFn, eps: float, norm: str = "linf") -> torch.Tensor:
    """One step of size eps along the ascent direction (FGSM for L-inf, FGM for L2)."""
    _check(norm, eps)
    if eps == 0:
        return images.detach().clone()
    step = eps * ascent_direction(gradient(images, loss_fn), norm)
    return (images + project(step, eps, norm)).clamp(0, 1).detach()


def pgd(
    images: torch.Tensor,
    loss_fn: LossFn,
    eps: float,
    norm: str = "linf",
    steps: int = 10,
    step_size: float | None = None,
    random_init: bool = True,
    seed: int = 0,
) -> torch.Tensor:
    """Projected gradient ascent: `steps` steps of `step_size` (default 2.5 eps / steps, Madry
    et al.), each followed by clipping to [0,1] and projection onto the eps ball around images."""
    _check(norm, eps)
    if steps < 1:
        raise VisionbenchError(f"PGD needs at least one step, got {steps}")
    x0 = images.detach()
    if eps == 0:
        return x0.clone()
    alpha = 2.5 * eps / steps if step_size is None else step_size
    x = x0 + random_start(x0, eps, norm, seed) if random_init else x0.clone()
    x = x0 + project((x.clamp(0, 1) - x0), eps, norm)
    for _ in range(steps):
        x = x + alpha * ascent_direction(gradient(x, loss_fn), norm)
        x = x.clamp(0, 1)
        x = (x0 + project(x - x0, eps, norm)).detach()
    return x


def attack(
    name: str, images: torch.Tensor, loss_fn: LossFn, eps: float, norm: str = "linf", **kw
) -> torch.Tensor:
    if name == "fgsm":
        return fgsm(images, loss_fn, eps, norm)
    if name == "pgd":
        return pgd(images, loss_fn, eps, norm, **kw)
    raise VisionbenchError(f"unknown attack '{name}'; known: fgsm, pgd")


def epsilon_curve(
    images: torch.Tensor,
    loss_fn: LossFn,
    score_fn: Callable[[torch.Tensor], float],
    eps_grid: Sequence[float],
    attacks: Sequence[str] = ("fgsm", "pgd"),
    norm: str = "linf",
    **pgd_kw,
) -> list[dict]:
    """[{attack, norm, eps, score}] for every attack and epsilon; eps 0 is the clean score."""
    rows = []
    for name in attacks:
        for eps in eps_grid:
            adv = attack(
                name, images, loss_fn, float(eps), norm, **(pgd_kw if name == "pgd" else {})
            )
            rows.append({"attack": name, "norm": norm, "eps": float(eps), "score": score_fn(adv)})
    return rows
