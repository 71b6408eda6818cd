"""Diffusion models: DDPM for generation (Ho et al. 2020) and SR3 for restoration (Saharia et al.).

Both use a small time-conditioned U-Net (residual blocks with GroupNorm and a sinusoidal step
embedding, self-attention at the lowest resolution) and the schedule and samplers of
diffusion.py. Images live in [-1, 1] inside the model; the public methods take and return [0, 1].
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .diffusion import GaussianDiffusion
from .registry import Recipe, register_model
from .srcnn import bicubic_up


def step_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([a.sin(), a.cos()], 1)


class TimeResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, tdim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.temb(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.norm, self.heads = nn.GroupNorm(8, ch), heads
        self.qkv, self.proj = nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).unbind(1)
        out = F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2)
        )
        return x + self.proj(out.transpose(-1, -2).reshape(n, c, h, w))


class TimeUNet(nn.Module):
    """eps- or x0-predicting U-Net; `cond` (same size as x) is concatenated to the input."""

    def __init__(
        self, in_chans: int, out_chans: int, width: int = 32, mults=(1, 2), attention=True
    ):
        super().__init__()
        tdim = 4 * width
        self.width = width
        self.temb = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inp = nn.Conv2d(in_chans, width, 3, padding=1)
        chans = [width * m for m in mults]
        self.down_blocks, self.downs = nn.ModuleList(), nn.ModuleList()
        c = width
        for i, co in enumerate(chans):
            self.down_blocks.append(TimeResBlock(c, co, tdim))
            self.downs.append(
                nn.Conv2d(co, co, 3, stride=2, padding=1) if i < len(chans) - 1 else nn.Identity()
            )
            c = co
        self.mid1, self.mid2 = TimeResBlock(c, c, tdim), TimeResBlock(c, c, tdim)
        self.attn = SelfAttention(c) if attention else nn.Identity()
        self.up_blocks, self.ups = nn.ModuleList(), nn.ModuleList()
        for i, co in reversed(list(enumerate(chans))):
            self.up_blocks.append(TimeResBlock(c + co, co, tdim))
            self.ups.append(nn.Upsample(scale_factor=2, mode="nearest") if i > 0 else nn.Identity())
            c = co
        self.out = nn.Sequential(
            nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, out_chans, 3, padding=1)
        )
        self.size_divisor = 2 ** (len(chans) - 1)

    def forward(self, x, t, cond=None):
        if cond is not None:
            x = torch.cat([x, cond], 1)
        temb = self.temb(step_embedding(t, self.width))
        h, skips = self.inp(x), []
        for block, down in zip(self.down_blocks, self.downs):
            h = block(h, temb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.attn(self.mid1(h, temb)), temb)
        for block, up in zip(self.up_blocks, self.ups):
            h = up(block(torch.cat([h, skips.pop()], 1), temb))
        return self.out(h)


def work_size(img_size: int, divisor: int) -> int:
    """The smallest multiple of the U-Net's divisor (at least 8) that holds the image."""
    return max(8, -(-img_size // divisor) * divisor)


class DDPM(nn.Module):
    """Unconditional DDPM; forward(images) is the training loss, sample() draws images."""

    def __init__(self, in_chans=1, img_size=8, width=32, mults=(1, 2), steps=1000, ema=0.995):
        super().__init__()
        self.unet = TimeUNet(in_chans, in_chans, width, tuple(mults))
        # Samples come from an exponential moving average of the weights, as in Ho et al.
        self.ema = copy.deepcopy(self.unet).requires_grad_(False)
        self.ema_decay = ema
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        self.diffusion = GaussianDiffusion(steps)
        self.in_chans, self.img_size = in_chans, img_size
        self.work = work_size(img_size, self.unet.size_divisor)

    def _to_work(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.work:
            return x * 2 - 1
        return (
            F.interpolate(x, size=(self.work, self.work), mode="bilinear", align_corners=False) * 2
            - 1
        )

    def _from_work(self, x: torch.Tensor) -> torch.Tensor:
        x = (x + 1) / 2
        if self.work != self.img_size:
            x = F.interpolate(
                x, size=(self.img_size,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        return x.clamp(0, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.diffusion.loss(self.unet, self._to_work(images))

    @torch.no_grad()
    def update_ema(self) -> None:
        """Called by the task after each optimizer step; warms up as (1 + n) / (10 + n)."""
        n = int(self.ema_updates)
        decay = min(self.ema_decay, (1 + n) / (10 + n))
        for e, p in zip(self.ema.parameters(), self.unet.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(self.ema.buffers(), self.unet.buffers()):
            e.copy_(b)
        self.ema_updates += 1

    @torch.no_grad()
    def sample(self, n: int, generator=None, steps: int = 1000, eta: float = 1.0) -> torch.Tensor:
        device = next(self.parameters()).device
        shape = (n, self.in_chans, self.work, self.work)
        return self._from_work(
            self.diffusion.sample(self.ema, shape, generator, steps, eta, device=device)
        )

    @torch.no_grad()
    def inpaint(self, images, keep, generator=None, steps: int = 100, resample: int = 5):
        """RePaint: fill where keep == 0; pixels where keep == 1 come back unchanged."""
        k = keep if self.work == self.img_size else F.interpolate(keep, size=(self.work,) * 2)
        out = self.diffusion.repaint(self.ema, self._to_work(images), k, generator, steps, resample)
        return keep * images + (1 - keep) * self._from_work(out)


class SR3(nn.Module):
    """Conditional DDPM for restoration: denoises the residual over the upsampled input.

    forward(degraded, clean) is the training loss; forward(degraded) samples with DDIM
    (`sample_steps`, eta 0, a fixed seed), so restoring an image is deterministic.
    """

    returns_loss = True

    def __init__(self, in_chans=3, scale=1, width=32, mults=(1, 2), sample_steps=2, res_scale=4.0):
        super().__init__()
        self.scale, self.sample_steps, self.res_scale = int(scale), sample_steps, res_scale
        self.unet = TimeUNet(2 * in_chans, in_chans, width, tuple(mults), attention=False)
        self.diffusion = GaussianDiffusion(1000, prediction="x0", clip=None)
        self.size_divisor = self.unet.size_divisor

    def forward(self, degraded: torch.Tensor, clean: torch.Tensor | None = None) -> torch.Tensor:
        cond = bicubic_up(degraded, self.scale)
        if clean is not None:
            return self.diffusion.loss(self.unet, (clean - cond) * self.res_scale, cond * 2 - 1)
        g = torch.Generator().manual_seed(0)
        res = self.diffusion.sample(
            self.unet, cond.shape, g, self.sample_steps, 0.0, cond * 2 - 1, device=cond.device
        )
        return cond + res / self.res_scale


@register_model(
    "ddpm",
    family="gan_diffusion",
    tasks=("generation",),
    description="DDPM (Ho et al. 2020): small U-Net, linear betas over 1,000 steps, DDIM option",
    default_img_size=8,
    card="Sampling: DDIM with 50 steps by default in the generation task (--task-option "
    "sampler=ddpm for the full 1,000-step ancestral sampler). Images are resized to a multiple "
    "of 2 (at least 8 px) inside the model.",
    recipes={
        # 100 epochs: 82.8% confident samples and domain FID 24 on digits (60 gave 77.8%, FID 44)
        "small": Recipe(lr=2e-3, weight_decay=0.0, epochs=100, batch_size=64, schedule="cosine"),
    },
    # Quick suite: 40 epochs of work (a whole cosine schedule; 60 gave FID 44 at the task's
    # default evaluation), about a minute on one idle core.
    bench_jobs=({"data": "digits", "quick": {"epochs": 40}},),
    model_args=("width", "mults", "steps"),
)
def ddpm(task: str, in_chans: int = 1, img_size: int = 8, **kw) -> nn.Module:
    return DDPM(
        in_chans, img_size, **{k: v for k, v in kw.items() if k in ("width", "mults", "steps")}
    )


@register_model(
    "sr3",
    family="gan_diffusion",
    tasks=("restoration",),
    description="SR3-style conditional DDPM: the degraded image upsampled is the condition",
    default_img_size=48,
    card="Diffuses the residual over the bicubic-upsampled (or noisy) input, scaled by 4, and "
    "predicts x0 rather than the noise (more stable on short CPU training); restores with a "
    "2-step deterministic DDIM sampler, the best of 1/2/3/5/10 steps on the validation "
    "photo after the quick recipe (--model-arg sample_steps=N).",
    recipes={
        "small": Recipe(lr=1e-3, weight_decay=0.0, epochs=10, batch_size=16, augment="flip"),
    },
    bench_jobs=(
        {"task_options": {"degradation": "sr:2"}},
        {"task_options": {"degradation": "noise:25"}},
    ),
    model_args=("scale", "width", "mults", "sample_steps", "res_scale"),
)
def sr3(task: str, in_chans: int = 3, img_size: int = 48, **kw) -> nn.Module:
    keep = ("scale", "width", "mults", "sample_steps", "res_scale")
    return SR3(in_chans, **{k: v for k, v in kw.items() if k in keep})
