"""Generation: learn the data distribution and sample from it (GANs, diffusion; Sec. V.5).

Scored by FID and IS on the features of a classifier trained on the same training split
("domain features"), against the evaluated real split, with a trivial baseline beside them: a
per-pixel Gaussian fitted to the training images. A GAN is stepped here with two optimizers
(discriminator, then generator, non-saturating loss); a diffusion model returns its own loss.
Diffusion models also inpaint (RePaint), scored inside the hole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.tensors import TensorSet
from ..engine import distributed
from ..engine.checkpoint import unwrap
from ..engine.evaluation import Evaluator
from ..errors import VisionbenchError
from ..metrics import generation as gm
from ..models.registry import create_model
from . import inpainting, vae
from .base import Task, register_task

DEFAULTS = {
    "n_samples": 1000,  # generated images scored at test time
    "sampler": "ddim",  # ddim | ddpm (1,000 ancestral steps)
    "steps": 50,  # DDIM steps
    "eta": 0.0,  # DDIM eta (0 = deterministic given the starting noise)
    "val_samples": 250,  # cheaper settings for the per-epoch validation
    "val_steps": 10,
    "inpaint": "box",  # box | strokes | none: RePaint test for diffusion models
    "inpaint_images": 32,
    "inpaint_steps": 50,
    "inpaint_resample": 5,
    "inception_weights": "",  # local Inception-V3 weights file: adds fid_inception, is_inception
}


def images_and_labels(dataset) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(dataset, TensorSet):
        return dataset.images, dataset.labels
    items = [dataset[i] for i in range(len(dataset))]
    if isinstance(items[0], (tuple, list)):
        return torch.stack([x for x, _ in items]), torch.as_tensor([int(y) for _, y in items])
    return torch.stack(items), None


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


class Sampling(nn.Module):
    """A generative model seen as what a user pays for: forward(x) draws x.shape[0] images."""

    def __init__(self, task, model: nn.Module):
        super().__init__()
        self.task, self.model = task, model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.task.sample(self.model, x.shape[0])


class GenerationEvaluator(Evaluator):
    """Collects the real images of the split; compute() samples from the model and scores the
    samples against them (FID and IS do not decompose over batches)."""

    def __init__(self, task: Generation, purpose: str):
        self.task, self.purpose = task, purpose

    def reset(self) -> None:
        self.model, self.images, self.labels = None, [], []

    def infer(self, model, batch):
        self.model = model  # sampling happens once, in compute()
        return None

    def update(self, batch, outputs) -> None:
        x, y = batch if isinstance(batch, (tuple, list)) else (batch, None)
        self.images.append(x.cpu())
        if y is not None:
            self.labels.append(y.cpu())

    def compute(self) -> dict[str, float]:
        real = torch.cat(self.images)
        labels = torch.cat(self.labels) if self.labels else None
        return self.task.generation_scores(self.model, real, labels, self.purpose)


@register_task
class Generation(Task):
    name = "generation"
    ranking_metric = "fid_domain"
    higher_is_better = False
    description = "sample new images of the data's kind; inpainting (Sec. V.5)"
    metric_names = ("fid_domain", "is_domain", "confident_share", "psnr_mask")
    suite_data = ("digits", {})
    # --quick: the defaults (1,000 samples, 50 DDIM steps, RePaint on 32 images) would take
    # minutes on 2 CPU cores
    quick_options = {
        "n_samples": 200,
        "steps": 10,
        "val_samples": 100,
        "inpaint_images": 8,
        "inpaint_steps": 10,
        "inpaint_resample": 2,
    }
    baselines = {
        "fid_domain": "baseline_fid_domain",
        "is_domain": "baseline_is_domain",
        "confident_share": "baseline_confident_share",
        "psnr_mask": "meanfill_psnr_mask",
    }
    prediction_kind = "samples"
    challenges = False  # a generator's input is noise: nothing for a corruption or attack to hit
    export_refusal = (
        "ONNX export covers image-in, tensor-out models; a generative model samples "
        "iteratively from noise"
    )
    prediction_suffix = "samples"

    def __init__(self, cfg):
        super().__init__(cfg)
        unknown = set(self.options) - set(DEFAULTS)
        if unknown:
            raise VisionbenchError(
                f"unknown generation option(s): {', '.join(sorted(unknown))}; "
                f"known: {', '.join(DEFAULTS)}"
            )
        self.opt = {**DEFAULTS, **self.options}
        if self.opt["sampler"] not in ("ddim", "ddpm"):
            raise VisionbenchError(f"sampler must be ddim or ddpm, got '{self.opt['sampler']}'")

    # data, classifier, baseline ----------------------------------------------------------------
    def prepare(self, bundle, spec):
        self.info = bundle.info
        images, labels = images_and_labels(bundle.train)
        if labels is None:
            raise VisionbenchError(
                f"dataset '{bundle.info.name}' has no labels: the domain classifier behind "
                "FID (domain features) needs a labelled training split (class folders)"
            )
        self.state = self.State()
        key = f"{bundle.info.name}_split{self.cfg.split_seed}"
        self.classifier = gm.domain_classifier(images, labels, key, seed=self.cfg.split_seed)
        self.pixel_mean = images.mean(0)
        self.pixel_std = images.std(0)
        return bundle

    def build_model(self, spec, info) -> nn.Module:
        return create_model(
            spec.name,
            task=self.name,
            in_chans=info.in_chans,
            img_size=self.cfg.img_size or info.img_size,
            **self.cfg.model_kwargs,
        )

    def baseline_samples(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """The trivial sampler: independent per-pixel Gaussians fitted to the training images."""
        z = torch.randn((n, *self.pixel_mean.shape), generator=generator)
        return (self.pixel_mean + self.pixel_std * z).clamp(0, 1)

    # training ----------------------------------------------------------------------------------
    def optimizers(self, model, recipe):
        m = unwrap(model)
        if not getattr(m, "adversarial", False):
            return super().optimizers(model, recipe)
        from ..engine.optim import make_optimizer

        return [
            make_optimizer(m.generator_parameters(), recipe),
            make_optimizer(m.discriminator_parameters(), recipe),
        ]

    def loss(self, model, batch) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return model(x)

    def train_step(self, ctx, model, batch):
        m = unwrap(model)
        if not getattr(m, "adversarial", False):
            stats = super().train_step(ctx, model, batch)
            if hasattr(m, "update_ema"):
                m.update_ema()
            return stats
        real = batch[0] if isinstance(batch, (tuple, list)) else batch
        z = torch.randn(real.shape[0], m.z_dim, generator=ctx.generator).to(real.device)
        # Every network call goes through the wrapper's forward, so DDP all-reduces both
        # networks' gradients (and compile sees them). One forward per backward: the images are
        # generated once under no_sync, and their gradient reaches the generator through the
        # generator phase's forward, whose output graph DDP searches for the parameters it used.
        with ctx.autocast():
            with distributed.no_sync(model):
                fake = model(z, mode="generate")
            d_real, d_fake = model(real, fake.detach(), mode="discriminate")
            loss_d = bce(d_real, True) + bce(d_fake, False)
        ctx.backward_step(loss_d, opt=1)
        with ctx.autocast():
            loss_g = bce(model(fake, mode="discriminate"), True)
        ctx.backward_step(loss_g, opt=0)
        if hasattr(m, "update_ema"):
            m.update_ema()
        return {"loss": loss_g.detach(), "d_loss": loss_d.detach()}

    # sampling and evaluation -------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, model, n: int, seed: int = 0, steps: int | None = None) -> torch.Tensor:
        """n images in [0,1], seeded; diffusion models use the configured sampler."""
        m = unwrap(model)
        g = torch.Generator().manual_seed(seed)
        if getattr(m, "adversarial", False):
            return m.sample(n, g).float().cpu()
        if self.opt["sampler"] == "ddpm":
            kw = {"steps": m.diffusion.steps, "eta": 1.0}
        else:
            kw = {"steps": steps or int(self.opt["steps"]), "eta": float(self.opt["eta"])}
        out = [m.sample(min(500, n - i), g, **kw).float().cpu() for i in range(0, n, 500)]
        return torch.cat(out)

    def scores(self, real: torch.Tensor, fake: torch.Tensor, prefix: str = "") -> dict:
        fr, _ = gm.features_and_probs(self.classifier, real)
        ff, pf = gm.features_and_probs(self.classifier, fake)
        is_mean, is_std = gm.inception_score(pf)
        return {
            f"{prefix}fid_domain": gm.fid_from_features(fr, ff),
            f"{prefix}is_domain": is_mean,
            f"{prefix}is_domain_std": is_std,
            f"{prefix}confident_share": float((pf.max(1) > 0.9).mean()),
        }

    def evaluator(self, purpose: str = "test") -> GenerationEvaluator:
        return GenerationEvaluator(self, purpose)

    @torch.no_grad()
    def generation_scores(self, model, real, labels, purpose: str) -> dict[str, float]:
        val = purpose == "val"
        n = int(self.opt["val_samples"] if val else self.opt["n_samples"])
        fake = self.sample(model, n, seed=1, steps=int(self.opt["val_steps"]) if val else None)
        out = self.scores(real, fake)
        out |= self.scores(
            real, self.baseline_samples(n, torch.Generator().manual_seed(2)), "baseline_"
        )
        out["n_samples"] = n
        out["real_accuracy"] = float((self.classifier(real).argmax(1) == labels).float().mean())
        if vae.is_vae(model):
            out |= vae.elbo_metrics(model, real)
        if not val:
            out |= self.inpaint_scores(model, real)
            if self.opt["inception_weights"]:
                out |= gm.inception_metrics(self.opt["inception_weights"], real, fake)
        return out

    def masks(self, real: torch.Tensor) -> torch.Tensor:
        n, _, h, w = real.shape
        g = torch.Generator().manual_seed(3)
        return inpainting.make_mask(self.opt["inpaint"], n, h, w, g, centred=True)

    @torch.no_grad()
    def inpaint(self, model, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        m = unwrap(model)
        if self.opt["inpaint"] == "none" or not hasattr(m, "inpaint"):
            return None
        real = real[: int(self.opt["inpaint_images"])]
        keep = self.masks(real)
        g = torch.Generator().manual_seed(4)
        out = m.inpaint(
            real, keep, g, int(self.opt["inpaint_steps"]), int(self.opt["inpaint_resample"])
        )
        return out.float().cpu(), keep

    def inpaint_scores(self, model, real: torch.Tensor) -> dict:
        done = self.inpaint(model, real)
        if done is None:
            return {}
        out, keep = done
        real = real[: len(out)]
        mine = [
            inpainting.masked_scores(out[i : i + 1], real[i : i + 1], keep[i : i + 1])
            for i in range(len(out))
        ]
        base = inpainting.mean_fill(real, keep)
        theirs = [
            inpainting.masked_scores(base[i : i + 1], real[i : i + 1], keep[i : i + 1])
            for i in range(len(out))
        ]
        res = {k: float(np.mean([s[k] for s in mine])) for k in mine[0]}
        res |= {f"meanfill_{k}": float(np.mean([s[k] for s in theirs])) for k in theirs[0]}
        res["inpaint_outside_max_change"] = float(((out - real) * keep).abs().max())
        return res

    def profile_target(self, model, info):
        """The cost of drawing one image (the configured sampler and its steps)."""
        o = self.opt
        measures = f"one generated image ({o['sampler']}, {o['steps']} steps if iterative)"
        return Sampling(self, model), lambda b: torch.zeros(b, 1), measures

    @torch.no_grad()
    def predict(self, model, inputs: torch.Tensor) -> torch.Tensor:
        """As many new samples as `inputs` has images (the inputs themselves are not used)."""
        return self.sample(model, inputs.shape[0], seed=0)

    def pictures(self, model, bundle, out_dir: Path, device) -> list[Path]:
        from ..viz.plots import image_grid_png

        real, _ = images_and_labels(bundle.test)
        paths = [
            image_grid_png(
                self.sample(model, 64, seed=1),
                out_dir / "samples.png",
                title=f"{self.cfg.model} samples",
            ),
            image_grid_png(
                self.baseline_samples(64, torch.Generator().manual_seed(2)),
                out_dir / "baseline_samples.png",
                title="baseline: per-pixel Gaussian",
            ),
            image_grid_png(real[:64], out_dir / "real.png", title="real test images"),
        ]
        if vae.is_vae(model):
            paths.append(vae.reconstruction_picture(model, real, out_dir / "reconstructions.png"))
        done = self.inpaint(model, real[:16])
        if done is not None:
            out, keep = done
            shown = torch.cat([real[:8] * keep[:8], out[:8], real[:8]])
            paths.append(
                image_grid_png(shown, out_dir / "inpainting.png", title="masked / inpainted / real")
            )
        return paths
