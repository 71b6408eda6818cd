"""Gaussian diffusion (Ho et al. 2020): the forward noising process and three samplers.

One place for the schedule (linear betas over 1,000 steps), q(x_t | x_0), the training target,
ancestral DDPM sampling, DDIM (Song et al. 2021; eta=0 is deterministic) and RePaint-style
inpainting (Lugmayr et al. 2022). `net(x_t, t, cond)` predicts either the noise ("eps", as in
DDPM) or the clean signal ("x0"). Schedules are kept in float64 and cast at use.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def randn(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    """Noise drawn on the CPU from `generator`, so samples do not depend on the device."""
    return torch.randn(shape, generator=generator).to(device)


class GaussianDiffusion(nn.Module):
    def __init__(
        self,
        steps: int = 1000,
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        prediction: str = "eps",
        clip: float | None = 1.0,
    ):
        super().__init__()
        if prediction not in ("eps", "x0"):
            raise ValueError(f"prediction must be eps or x0, got {prediction}")
        self.steps, self.prediction, self.clip = steps, prediction, clip
        betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        self.register_buffer("betas", betas, persistent=False)
        self.register_buffer("alpha_bar", torch.cumprod(1 - betas, 0), persistent=False)

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """alpha_bar at integer steps t (t = -1 means 1: no noise), shaped to broadcast."""
        ab = torch.where(
            t >= 0, self.alpha_bar[t.clamp(min=0)], torch.ones_like(t, dtype=torch.float64)
        )
        return ab.to(like.dtype).view(-1, *([1] * (like.ndim - 1)))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: the closed form of q(x_t | x_0)."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1 - ab).sqrt() * noise

    def loss(self, net, x0: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """The simple loss: MSE between the prediction and its target at a uniform random step."""
        t = torch.randint(0, self.steps, (x0.shape[0],), device=x0.device)
        noise = torch.randn_like(x0)
        pred = net(self.q_sample(x0, t, noise), t, cond)
        return F.mse_loss(pred, noise if self.prediction == "eps" else x0)

    def predict(self, net, xt, t: int, cond=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) estimated at step t, with x0 clipped to the data range and eps made consistent."""
        tt = torch.full((xt.shape[0],), t, device=xt.device, dtype=torch.long)
        out = net(xt, tt, cond).float()
        ab = self._ab(tt, xt)
        x0 = (xt - (1 - ab).sqrt() * out) / ab.sqrt() if self.prediction == "eps" else out
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
        eps = (xt - ab.sqrt() * x0) / (1 - ab).sqrt()
        return x0, eps

    def step(self, net, xt, t: int, t_prev: int, eta: float, generator, cond=None):
        """One generalised (DDIM) step from t to t_prev < t; eta=1 with t_prev=t-1 is DDPM's."""
        x0, eps = self.predict(net, xt, t, cond)
        ab = float(self.alpha_bar[t])
        ab_prev = float(self.alpha_bar[t_prev]) if t_prev >= 0 else 1.0
        sigma = eta * ((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev)) ** 0.5
        x = ab_prev**0.5 * x0 + max(0.0, 1 - ab_prev - sigma**2) ** 0.5 * eps
        if sigma > 0 and t_prev >= 0:
            x = x + sigma * randn(xt.shape, generator, xt.device)
        return x, x0

    def timesteps(self, steps: int) -> list[int]:
        """`steps` evenly spaced steps from T-1 down to 0 (all T for steps >= T)."""
        steps = max(1, min(int(steps), self.steps))
        ts = torch.linspace(0, self.steps - 1, steps).round().long().unique().flip(0)
        return ts.tolist()

    @torch.no_grad()
    def sample(
        self,
        net,
        shape,
        generator: torch.Generator | None = None,
        steps: int = 1000,
        eta: float = 1.0,
        cond: torch.Tensor | None = None,
        device=None,
    ) -> torch.Tensor:
        """DDPM (steps=1000, eta=1) or DDIM (fewer steps, eta=0 deterministic given the start)."""
        device = device or (cond.device if cond is not None else self.betas.device)
        x = randn(shape, generator, device)
        ts = self.timesteps(steps)
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            x, _ = self.step(net, x, t, t_prev, eta, generator, cond)
        return x

    @torch.no_grad()
    def repaint(
        self,
        net,
        known: torch.Tensor,
        keep: torch.Tensor,
        generator: torch.Generator | None = None,
        steps: int = 100,
        resample: int = 5,
    ) -> torch.Tensor:
        """Fill where keep == 0 from an unconditional model (RePaint, on a respaced schedule).

        At every step the known pixels are replaced by a fresh noisy copy of the truth at that
        noise level, and each step is repeated `resample` times (noise back up one step, then
        down again) so the generated part harmonises with the known part. The known pixels of
        the result are exactly `known`.
        """
        ts = self.timesteps(steps)
        x = randn(known.shape, generator, known.device)
        for i, t in enumerate(ts):
            t_prev = ts[i + 1] if i + 1 < len(ts) else -1
            for u in range(resample):
                noisy_known = (
                    self.q_sample(
                        known,
                        torch.full((known.shape[0],), t_prev, device=known.device),
                        randn(known.shape, generator, known.device),
                    )
                    if t_prev >= 0
                    else known
                )
                x_prev, _ = self.step(net, x, t, t_prev, 1.0, generator)
                x_prev = keep * noisy_known + (1 - keep) * x_prev
                if u == resample - 1 or t_prev < 0:
                    break
                ab = float(self.alpha_bar[t]) / float(self.alpha_bar[t_prev])  # back to step t
                x = ab**0.5 * x_prev + (1 - ab) ** 0.5 * randn(known.shape, generator, known.device)
            x = x_prev
        return keep * known + (1 - keep) * x
