"""Restoration: recover a clean image from a degraded one (denoising; super-resolution).

The task owns the degradation, so every model is scored on exactly the same degraded test
images, and the baseline (the noisy input, or bicubic upsampling) is measured beside it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..engine.checkpoint import unwrap
from ..errors import VisionbenchError
from ..metrics.image import crop_border, psnr, rgb_to_y, ssim
from . import augment
from .base import Task, register_task


def parse_degradation(text: str) -> tuple[str, float]:
    """'noise:25' (Gaussian sigma on the 0-255 scale) or 'sr:2' (bicubic downscale factor)."""
    try:
        kind, value = text.split(":")
        value = float(value)
    except ValueError:
        raise VisionbenchError(
            f"degradation must look like noise:25 or sr:2, got '{text}'"
        ) from None
    if kind not in ("noise", "sr") or value <= 0:
        raise VisionbenchError(f"degradation must be noise:SIGMA or sr:SCALE, got '{text}'")
    return kind, value


def downscale(img: torch.Tensor, scale: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    return F.interpolate(img, size=(h // scale, w // scale), mode="bicubic", antialias=True).clamp(
        0, 1
    )


def upscale(img: torch.Tensor, scale: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    return F.interpolate(
        img, size=(h * scale, w * scale), mode="bicubic", align_corners=False
    ).clamp(0, 1)


@register_task
class Restoration(Task):
    name = "restoration"
    ranking_metric = "psnr"
    higher_is_better = True
    description = "denoising and super-resolution (Sec. V.4)"
    metric_names = ("psnr", "ssim")

    def __init__(self, cfg):
        super().__init__(cfg)
        self.kind, value = parse_degradation(self.options.get("degradation", "noise:25"))
        self.sigma = value / 255.0 if self.kind == "noise" else 0.0
        self.scale = int(value) if self.kind == "sr" else 1
        if self.kind == "sr":
            self.ranking_metric = "psnr_y"
        self.baseline = "noisy" if self.kind == "noise" else "bicubic"

    def build_model(self, spec, info) -> nn.Module:
        if self.kind == "sr":
            self.cfg.model_kwargs.setdefault("scale", self.scale)
        return super().build_model(spec, info)

    def run_extras(self) -> dict:
        return {
            "degradation": f"{self.kind}:{self.sigma * 255 if self.kind == 'noise' else self.scale:g}"
        }

    # degradation ------------------------------------------------------------------------------
    def degrade(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.kind == "noise":
            noise = torch.randn(clean.shape, generator=generator).to(clean.device)
            return clean + self.sigma * noise  # not clipped, as in the denoising literature
        return downscale(clean, self.scale)

    def augment(self, batch, generator):
        clean = augment.apply(self.recipe.augment, batch, generator)
        return self.degrade(clean, generator), clean

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        degraded, clean = batch
        loss = F.l1_loss if self.options.get("loss") == "l1" else F.mse_loss
        return loss(model(degraded), clean)

    # evaluation -------------------------------------------------------------------------------
    def restore(self, model: nn.Module, degraded: torch.Tensor) -> torch.Tensor:
        """Run the model on any size: pad to the model's size divisor (reflect), crop back."""
        div = getattr(unwrap(model), "size_divisor", 1)
        h, w = degraded.shape[-2:]
        ph, pw = (-h) % div, (-w) % div
        x = F.pad(degraded, (0, pw, 0, ph), mode="reflect") if ph or pw else degraded
        out = model(x).float()
        return out[..., : h * self.scale, : w * self.scale].clamp(0, 1)

    def baseline_output(self, degraded: torch.Tensor) -> torch.Tensor:
        return degraded.clamp(0, 1) if self.kind == "noise" else upscale(degraded, self.scale)

    def test_pairs(self, dataset):
        """(degraded, clean) for each test image; the noise of image i is seeded by i alone."""
        for i in range(len(dataset)):
            clean = dataset[i][None]
            if self.kind == "sr":
                h, w = clean.shape[-2:]
                clean = clean[..., : h - h % self.scale, : w - w % self.scale]
            yield self.degrade(clean, torch.Generator().manual_seed(1_000_003 + i)), clean

    def scores(self, out: torch.Tensor, clean: torch.Tensor) -> dict[str, float]:
        crop = self.scale if self.kind == "sr" else 0
        o, c = crop_border(out, crop), crop_border(clean, crop)
        s = {"psnr": float(psnr(o, c)[0]), "ssim": float(ssim(o, c)[0])}
        if o.shape[1] == 3:
            oy, cy = rgb_to_y(o), rgb_to_y(c)
            s |= {"psnr_y": float(psnr(oy, cy)[0]), "ssim_y": float(ssim(oy, cy)[0])}
        return s

    @torch.no_grad()
    def evaluate(self, model: nn.Module, dataset, device) -> dict[str, float]:
        totals: dict[str, float] = {}
        n = 0
        for degraded, clean in self.test_pairs(dataset):
            out = self.restore(model, degraded.to(device)).cpu()
            mine = self.scores(out, clean)
            base = self.scores(self.baseline_output(degraded), clean)
            for k, v in mine.items():
                totals[k] = totals.get(k, 0.0) + v
            for k, v in base.items():
                totals[f"{self.baseline}_{k}"] = totals.get(f"{self.baseline}_{k}", 0.0) + v
            n += 1
        return {k: v / max(1, n) for k, v in totals.items()}

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Restore images [N,C,H,W] in [0,1] that are already degraded (noisy or low-resolution)."""
        return self.restore(model, inputs)

    def pictures(self, model, bundle, out_dir: Path, device) -> list[Path]:
        from ..analysis.plots import triptych_png

        rows = []
        for i, (degraded, clean) in enumerate(self.test_pairs(bundle.test)):
            if i >= 3:
                break
            with torch.no_grad():
                out = self.restore(model, degraded.to(device)).cpu()
            shown = self.baseline_output(degraded)
            rows.append((shown[0], out[0], clean[0]))
        titles = (self.baseline, "restored", "clean")
        return [triptych_png(rows, titles, out_dir / "restoration_samples.png")]
