"""Restoration: recover a clean image from a degraded one (denoising, super-resolution, inpainting).

The task owns the degradation, so every model is scored on exactly the same degraded test
images, and the baseline (the noisy input, bicubic upsampling, or a mean fill) is measured
beside it. It also owns how each kind of model learns: a plain regression loss; a loss the model
computes itself (a diffusion model, `returns_loss`); or pixel + adversarial loss with two
optimizers (a GAN, `adversarial`). Autoencoders also report their latent rate (bits per pixel).
A learned codec (`codec:LAMBDA`) is the one model whose "degradation" is its own bottleneck: it
learns the rate-distortion loss and is scored on its real bitstream against JPEG at the same
rate (tasks/compression.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import imresize
from ..data.formats.common import single_channel_file
from ..engine import distributed
from ..engine.checkpoint import unwrap
from ..engine.evaluation import Evaluator, evaluate
from ..errors import VisionbenchError
from ..metrics.image import crop_border, luma, ms_ssim, ms_ssim_min_side, psnr, ssim
from . import augment, compression, esrgan, inpainting
from .base import Task, TaskState, pad_to, register_task

KINDS = ("noise", "sr", "inpaint", "codec")
FORMS = "noise:SIGMA, sr:SCALE, inpaint:box|strokes or codec:LAMBDA"


def parse_degradation(text: str) -> tuple[str, float | str]:
    """'noise:25' (Gaussian sigma, 0-255 scale), 'sr:2' (bicubic downscale), 'inpaint:box|strokes',
    'codec:0.01' (a learned codec's rate-distortion weight: loss = bpp + LAMBDA * 255^2 * MSE)."""
    try:
        kind, value = text.split(":")
        if kind == "inpaint":
            if value not in inpainting.MASKS:
                raise ValueError
            return kind, value
        value = float(value)
    except ValueError:
        raise VisionbenchError(
            f"degradation must look like noise:25, sr:2, inpaint:box or codec:0.01, got '{text}'"
        ) from None
    if kind not in KINDS or not value > 0 or value == float("inf"):
        raise VisionbenchError(f"degradation must be {FORMS}, got '{text}'")
    return kind, value


def downscale(img: torch.Tensor, scale: int) -> torch.Tensor:
    """The SR papers' low-resolution input: MATLAB bicubic (a = -0.5, antialiased), 8-bit."""
    return imresize.downscale(img, scale)


def upscale(img: torch.Tensor, scale: int) -> torch.Tensor:
    """The SR papers' bicubic baseline: MATLAB bicubic upscaling, 8-bit."""
    return imresize.upscale(img, scale)


VAL_CROP = 96  # validation during training scores a centre crop, so diffusion stays affordable
# the quick challenges (45 corrupted passes and the attacks) score centre crops of this side: the
# full photos cost 90 s per model in `make bench`; the corruptions' spatial parameters follow the
# crop, as ImageNet-C corrupts the 224-px crop a model sees
CHALLENGE_CROP = 128


def centre_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    h, w = img.shape[-2:]
    y, x = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[..., y : y + size, x : x + size]


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


@dataclass(frozen=True)
class RestorationState(TaskState):
    """The degradation the model learned to undo, canonical ('noise:25', 'sr:2', 'inpaint:box')."""

    degradation: str
    perceptual_features: str = ""  # ESRGAN: which feature network its perceptual loss used


class RestorationEvaluator(Evaluator):
    """Per-image scores of the model and the baseline; metrics are means over images (PSNR is
    never pooled over the data set). Batches are single (degraded, clean[, gray]) pairs; `gray`
    says the clean image's file has one channel (its Y is itself, as MATLAB's scripts score it)."""

    def __init__(self, task: Restoration):
        self.task = task

    def reset(self) -> None:
        self.rows: list[dict[str, float]] = []

    def infer(self, model, batch):
        degraded, clean = batch[:2]
        device = next(iter(unwrap(model).parameters())).device
        t, m = self.task, unwrap(model)
        if compression.is_codec(m):
            coded, bpp, estimate = compression.codec_code(m, degraded)
            return {"restored": coded, "bpp": bpp, "bpp_estimate": estimate}
        out = {"restored": t.restore(model, degraded.to(device)).cpu()}
        if compression.is_autoencoder(m):
            coded, rate = compression.code_at(m, pad_to(degraded, m).to(device), 8)
            h, w = clean.shape[-2:]
            out["coded"] = t.composite(coded.float().cpu()[..., :h, :w], degraded)
            out["bpp"] = rate
        return out

    def update(self, batch, outputs) -> None:
        degraded, clean = batch[:2]
        gray = bool(batch[2]) if len(batch) > 2 else False
        t = self.task
        if t.kind == "codec":
            mine = t.codec_scores(outputs["restored"], clean, gray)
            mine |= {"bpp": outputs["bpp"], "bpp_estimate": outputs["bpp_estimate"]}
            base = compression.jpeg_at_rate(
                clean, outputs["bpp"], lambda out: t.codec_scores(out, clean, gray)
            )
            self.rows.append(mine | {f"jpeg_{k}": v for k, v in base.items()})
            return
        mine = t.scores(outputs["restored"], clean, degraded, gray)
        base = t.scores(t.baseline_output(degraded), clean, degraded, gray)
        if "coded" in outputs:
            mine |= {
                "bpp": outputs["bpp"],
                "psnr_8bit_latent": float(psnr(outputs["coded"].clamp(0, 1), clean)[0]),
            }
        self.rows.append(mine | {f"{t.baseline}_{k}": v for k, v in base.items()})

    def keys(self) -> list[str]:
        """The metrics every image has (MS-SSIM skips images under 161 px a side)."""
        rows = self.rows
        return [k for k in rows[0] if all(k in r for r in rows)] if rows else []

    def compute(self) -> dict[str, float]:
        rows = self.rows
        return {k: sum(r[k] for r in rows) / len(rows) for k in self.keys()}

    def per_sample(self) -> dict[str, list[float]]:
        return {k: [r[k] for r in self.rows] for k in self.keys()}


@register_task
class Restoration(Task):
    name = "restoration"
    ranking_metric = "psnr"
    higher_is_better = True
    description = "denoising, super-resolution and inpainting (Sec. V.4)"
    metric_names = ("psnr", "ssim")
    suite_data = ("photos", {"degradation": "noise:25"})
    State = RestorationState

    def __init__(self, cfg):
        super().__init__(cfg)
        self.set_degradation(self.options.get("degradation", "noise:25"))
        self.n_train = 0

    def set_degradation(self, text: str) -> None:
        self.kind, value = parse_degradation(text)
        self.sigma = value / 255.0 if self.kind == "noise" else 0.0
        self.scale = int(value) if self.kind == "sr" else 1
        self.mask = value if self.kind == "inpaint" else ""
        self.rd_lambda = value if self.kind == "codec" else 0.0
        self.ranking_metric = {"sr": "psnr_y", "inpaint": "psnr_mask"}.get(self.kind, "psnr")
        self.baseline = {"noise": "noisy", "sr": "bicubic", "inpaint": "meanfill", "codec": "jpeg"}[
            self.kind
        ]
        names = ("psnr", "ssim", "psnr_y", "ssim_y", "psnr_mask", "ssim_mask")
        if self.kind == "codec":  # JPEG at the codec's rate, on the same image
            names = ("psnr", "ssim", "psnr_y", "ssim_y", "ms_ssim", "bpp")
        self.baselines = {m: f"{self.baseline}_{m}" for m in names}
        self.also_shown = ("bpp", "ms_ssim") if self.kind == "codec" else ()

    def load_state(self, data: dict, source: str = "task_state.json") -> None:
        super().load_state(data, source)
        self.set_degradation(self.state.degradation)

    def prepare(self, bundle, spec):
        self.info = bundle.info
        self.n_train = len(bundle.train)
        value = {
            "noise": f"{self.sigma * 255:g}",
            "sr": str(self.scale),
            "inpaint": self.mask,
            "codec": f"{self.rd_lambda:g}",
        }
        kept = self.state.perceptual_features if self.state is not None else ""  # eval of a run
        self.state = RestorationState(f"{self.kind}:{value[self.kind]}", perceptual_features=kept)
        self.perceptual_weights = self.options.get("perceptual_weights")  # training only
        return bundle

    def eval_data_options(self, info) -> dict:
        """SR pairs at the run's scale (their LR files are read at that scale)."""
        return {"scale": self.scale} if self.kind == "sr" else {}

    def model_kwargs(self, spec) -> dict:
        kw = super().model_kwargs(spec)
        if self.kind == "sr":
            kw.setdefault("scale", self.scale)
        if self.kind == "inpaint":
            if spec.name != "unet_attention":
                raise VisionbenchError(
                    f"model '{spec.name}' cannot inpaint (it has no mask input); use unet_attention"
                )
            kw.setdefault("extra_in", 1)
        if self.options.get("perceptual_weights"):  # ESRGAN: VGG-19 (weights: build_model)
            kw.setdefault("perceptual", "vgg19")
        return kw

    def build_model(self, spec, info) -> nn.Module:
        """ESRGAN: loads the user's VGG-19 file when training and records which perceptual
        features the run used in its state; every other model as the base builds it."""
        model = super().build_model(spec, info)
        if compression.is_codec(model) != (self.kind == "codec"):
            raise VisionbenchError(
                f"model '{spec.name}' is a learned codec: train it with --degradation "
                "codec:LAMBDA (e.g. codec:0.01)"
                if self.kind != "codec"
                else f"--degradation codec:LAMBDA needs a learned codec (a model with an entropy "
                f"model, e.g. codec_factorized); '{spec.name}' has none"
            )
        path = getattr(self, "perceptual_weights", None)  # set by prepare: training only
        if path:
            source = esrgan.load_perceptual_weights(model, path)
        elif getattr(model, "relativistic", False):
            source = model.perceptual_source
        else:
            return model
        if self.state is not None and not self.state.perceptual_features:
            self.state = dataclasses.replace(self.state, perceptual_features=source)
        return model

    def input_channels(self, info) -> int:
        return info.in_chans + (1 if self.kind == "inpaint" else 0)

    def example_input(self, info, batch: int = 1) -> torch.Tensor:
        """A degraded batch: noisy, downscaled, or masked with the mask channel appended."""
        clean = torch.rand(batch, info.in_chans, *self.input_hw(info))
        return self.degrade(clean, torch.Generator().manual_seed(0))

    # degradation ------------------------------------------------------------------------------
    def degrade(self, clean: torch.Tensor, generator: torch.Generator, test: bool = False):
        """Noisy (unclipped, as in the literature), downscaled, or masked image + mask channel;
        a codec's input is the clean image itself."""
        if self.kind == "codec":
            return clean
        if self.kind == "noise":
            noise = torch.randn(clean.shape, generator=generator).to(clean.device)
            return clean + self.sigma * noise
        if self.kind == "sr":
            return downscale(clean, self.scale)
        n, _, h, w = clean.shape
        keep = inpainting.make_mask(self.mask, n, h, w, generator, centred=test).to(clean.device)
        return torch.cat([clean * keep, keep], 1)

    def augment(self, batch, generator):
        clean = augment.apply(self.recipe.augment, batch, generator)
        return self.degrade(clean, generator), clean

    def rd_terms(self, model: nn.Module, clean: torch.Tensor) -> dict[str, torch.Tensor]:
        """A codec's rate-distortion loss on a batch: bpp (the model's -log2 likelihood of its
        noisy latent per pixel, the paper's relaxation) + lambda * 255^2 * MSE (CompressAI's
        scale of lambda), with both terms for the training log."""
        h, w = clean.shape[-2:]
        out, bits = model(pad_to(clean, model), mode="rd")
        mse = F.mse_loss(out[..., :h, :w], clean)
        bpp = (bits / (h * w)).mean()
        return {"loss": bpp + self.rd_lambda * 255**2 * mse, "bpp": bpp, "mse": mse}

    def attack_loss(self, model: nn.Module, batch) -> torch.Tensor:
        """An attack on what is scored: the squared error against the clean image of the output
        as evaluation makes it (any size: padded, cropped, inpainting's known pixels kept). A
        model whose output is not differentiable (a codec's bitstream, a diffusion sampler) is
        attacked through its training loss."""
        degraded, clean = batch[:2]
        m = unwrap(model)
        if compression.is_codec(m) or getattr(m, "returns_loss", False):
            return self.loss(model, batch)
        return F.mse_loss(self.output(model, degraded), clean)

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        degraded, clean = batch[:2]  # a test batch also carries its gray flag
        if self.kind == "codec":
            return self.rd_terms(model, clean)["loss"]
        if getattr(unwrap(model), "returns_loss", False):
            return model(degraded, clean)
        out = self.composite(model(degraded), degraded)
        loss = F.l1_loss if self.options.get("loss") == "l1" else F.mse_loss
        return loss(out, clean)

    # adversarial training (SRGAN/ESRGAN style) -------------------------------------------------
    def optimizers(self, model, recipe):
        m = unwrap(model)
        if getattr(m, "relativistic", False):
            return esrgan.optimizers(model, recipe)
        if not getattr(m, "adversarial", False):
            return super().optimizers(model, recipe)
        from ..engine.optim import make_optimizer

        return [
            make_optimizer(m.generator.parameters(), recipe),
            make_optimizer(m.discriminator.parameters(), recipe),
        ]

    def train_step(self, ctx, model, batch):
        m = unwrap(model)
        if self.kind == "codec":
            with ctx.autocast():
                terms = self.rd_terms(model, batch[1])
            # clipped at norm 1 (CompressAI's training example does the same): without it the
            # GDN codec diverged in its first epoch at lr 2e-3 (train MSE 8.8, outputs +-3)
            ctx.backward_step(terms["loss"], clip=1.0)
            return {k: v.detach() for k, v in terms.items()}
        if getattr(m, "relativistic", False):
            return esrgan.train_step(self, ctx, model, batch)
        if not getattr(m, "adversarial", False):
            return super().train_step(ctx, model, batch)
        degraded, clean = batch
        # Every network call goes through the wrapper's forward, so DDP all-reduces both
        # networks' gradients (and compile sees them). One forward per backward: the restored
        # images are made once under no_sync; the generator's gradient reaches it through the
        # generator phase's discriminator forward, whose output graph DDP searches for the
        # parameters it used. That forward also runs during the warm start (weighted 0, exactly
        # the pixel loss), so the generator's gradients are all-reduced there too.
        with ctx.autocast():
            with distributed.no_sync(model):
                fake = model(degraded, mode="generate")
            d_real, d_fake = model(clean, fake.detach(), mode="discriminate")
            loss_d = bce(d_real, True) + bce(d_fake, False)
        ctx.backward_step(loss_d, opt=1)
        # ESRGAN's warm start: pixel loss only for the first half of training.
        steps_per_epoch = max(1, self.n_train // self.recipe.batch_size)
        adversarial = ctx.step >= self.recipe.epochs * steps_per_epoch // 2
        with ctx.autocast():
            pixel = F.l1_loss(fake, clean)
            adv = bce(model(fake, mode="discriminate"), True) * (1.0 if adversarial else 0.0)
            loss_g = pixel + m.adv_weight * adv
        ctx.backward_step(loss_g, opt=0)
        return {"loss": pixel.detach(), "adv": adv.detach(), "d_loss": loss_d.detach()}

    # evaluation -------------------------------------------------------------------------------
    def composite(self, out: torch.Tensor, degraded: torch.Tensor) -> torch.Tensor:
        """Inpainting keeps every known pixel as it was; other degradations pass through."""
        if self.kind != "inpaint":
            return out
        c = out.shape[1]
        keep = degraded[:, c:]
        return keep * degraded[:, :c] + (1 - keep) * out

    def restore(self, model: nn.Module, degraded: torch.Tensor) -> torch.Tensor:
        """Run the model on any size: pad to the model's size divisor (reflect), crop back."""
        m = unwrap(model)
        if compression.is_codec(m) and not m.training:  # through the real bitstream
            out = [compression.codec_code(m, img[None])[0] for img in degraded]
            return torch.cat(out).to(degraded.device)
        return self.output(model, degraded).clamp(0, 1)

    def output(self, model: nn.Module, degraded: torch.Tensor) -> torch.Tensor:
        """The model's output for a degraded image of any size, unclamped (differentiable)."""
        h, w = degraded.shape[-2:]
        out = model(pad_to(degraded, model)).float()
        return self.composite(out[..., : h * self.scale, : w * self.scale], degraded)

    def baseline_output(self, degraded: torch.Tensor) -> torch.Tensor:
        if self.kind == "codec":  # JPEG's output depends on the codec's rate: see the evaluator
            raise VisionbenchError("codec: the JPEG baseline is scored at the codec's own rate")
        if self.kind == "noise":
            return degraded.clamp(0, 1)
        if self.kind == "sr":
            return upscale(degraded, self.scale)
        c = degraded.shape[1] - 1
        return inpainting.mean_fill(degraded[:, :c], degraded[:, c:])

    def test_pairs(self, dataset, purpose: str = "test"):
        """(degraded, clean, gray) for each test image; the noise or mask of image i is seeded by
        i alone. Super-resolution tests as the papers do: the set's own LR images when it ships
        them (SR pairs), else MATLAB-compatible bicubic downscaling (`data.imresize`).
        Validation and the quick challenges score centre crops (made low-resolution here)."""
        crop = {"val": VAL_CROP, "challenge": CHALLENGE_CROP}.get(purpose)
        for i in range(len(dataset)):
            gray = single_channel_file(dataset, i)
            if self.kind == "sr" and crop is None:
                yield (*imresize.sr_pair(dataset, i, self.scale), gray)
                continue
            clean = dataset[i][None]
            if crop is not None:
                clean = centre_crop(clean, crop)
            if self.kind == "sr":
                h, w = clean.shape[-2:]
                clean = clean[..., : h - h % self.scale, : w - w % self.scale]
            g = torch.Generator().manual_seed(1_000_003 + i)
            yield self.degrade(clean, g, test=True), clean, gray

    def eval_batches(self, dataset, device, purpose: str = "test"):
        """One (degraded, clean, gray) image pair at a time: test images differ in size."""
        return self.test_pairs(dataset, purpose)

    # Corruptions and attacks (the challenges) hit the scene the model is asked to recover, and the
    # output is always scored against the CLEAN image: a blurred scene restored perfectly is still
    # blurred, so PSNR falls as severity rises. Super-resolution perturbs the low-resolution input
    # itself (the set's shipped LR image where it has one; an attack's epsilon is then measured in
    # the pixels the model sees, as in the SR attack literature); denoising perturbs the clean image
    # under the SAME noise (additive, so an attack's delta is the delta on the noisy input);
    # inpainting perturbs the visible pixels and keeps the hole. A codec reproduces what it is
    # given, so it is scored against the corrupted image it was handed.
    def images_of(self, batch) -> torch.Tensor:
        return batch[0] if self.kind == "sr" else batch[1]

    def with_images(self, batch, images):
        degraded, clean, *rest = batch
        if self.kind == "sr":
            return (images, clean, *rest)
        if self.kind == "noise":
            return (images + (degraded - clean), clean, *rest)
        if self.kind == "inpaint":
            keep = degraded[:, images.shape[1] :]
            return (torch.cat([images * keep, keep], 1), clean, *rest)
        return (images, images, *rest)  # codec

    def scores(
        self, out: torch.Tensor, clean: torch.Tensor, degraded=None, gray: bool = False
    ) -> dict[str, float]:
        crop = self.scale if self.kind == "sr" else 0
        o, c = crop_border(out, crop), crop_border(clean, crop)
        s = {"psnr": float(psnr(o, c)[0]), "ssim": float(ssim(o, c)[0])}
        if o.shape[1] == 3:
            oy, cy = luma(o, gray), luma(c, gray)
            s |= {"psnr_y": float(psnr(oy, cy)[0]), "ssim_y": float(ssim(oy, cy)[0])}
        if self.kind == "inpaint":
            s |= inpainting.masked_scores(out, clean, degraded[:, clean.shape[1] :])
        return s

    def codec_scores(self, out: torch.Tensor, clean: torch.Tensor, gray: bool = False) -> dict:
        """A codec's (or JPEG's) scores: the restoration scores plus MS-SSIM on images of at
        least 161 px a side (its five scales need that)."""
        s = self.scores(out, clean, gray=gray)
        if min(clean.shape[-2:]) >= ms_ssim_min_side():
            s["ms_ssim"] = float(ms_ssim(out, clean)[0])
        return s

    def evaluator(self, purpose: str = "test") -> RestorationEvaluator:
        return RestorationEvaluator(self)

    def image_scores(self, model: nn.Module, dataset, device) -> list[dict[str, float]]:
        """Scores of each test image, the baseline's beside them (prefixed, e.g. noisy_psnr)."""
        ev = self.evaluator()
        evaluate(model, self.eval_batches(dataset, device), ev)
        return ev.rows

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Restore images [N,C,H,W] in [0,1] already degraded (noisy, low-resolution; inpainting
        takes the image with a mask channel appended, 1 = known)."""
        return self.restore(model, inputs)

    prediction_kind = "restored image"
    prediction_suffix = "restored"

    def pictures(self, model, bundle, out_dir: Path, device) -> list[Path]:
        from ..viz.plots import triptych_png

        if self.kind == "codec":
            return self.codec_pictures(unwrap(model), bundle.test, out_dir)
        rows = []
        for i, (degraded, clean, _) in enumerate(self.test_pairs(bundle.test)):
            if i >= 3:
                break
            with torch.no_grad():
                out = self.restore(model, degraded.to(device)).cpu()
            shown = self.baseline_output(degraded)
            rows.append((shown[0], out[0], clean[0]))
        titles = (self.baseline, "restored", "clean")
        paths = [triptych_png(rows, titles, out_dir / "restoration_samples.png")]
        m = unwrap(model)
        if compression.is_autoencoder(m) and self.kind != "sr":
            paths.append(self.rate_distortion(m, bundle.test, out_dir, device))
        return paths

    @torch.no_grad()
    def codec_pictures(self, m, dataset, out_dir: Path) -> list[Path]:
        """A learned codec beside JPEG: the first test images as JPEG at the lowest quality
        that spends at least the codec's bytes, the codec's and the original; and
        rate_distortion.png, the codec's point on JPEG's curve (qualities
        compression.JPEG_CURVE), PSNR and MS-SSIM, means over the test images."""
        from ..viz.plots import codec_rate_distortion_png, triptych_png

        rows, mine, curve = [], [], {q: [] for q in compression.JPEG_CURVE}
        for i, (_, clean, gray) in enumerate(self.test_pairs(dataset)):
            coded, bpp, _ = compression.codec_code(m, clean)
            s = self.codec_scores(coded, clean, gray)
            mine.append((bpp, s["psnr"], s.get("ms_ssim")))
            pixels = clean.shape[-2] * clean.shape[-1]
            for q in compression.JPEG_CURVE:
                out, n = compression.jpeg(clean, q)
                s = self.codec_scores(out, clean, gray)
                curve[q].append((8 * n / pixels, s["psnr"], s.get("ms_ssim")))
            if i < 3:
                sizes = compression.jpeg_sizes(clean)
                q = min((q for q, n in sizes.items() if 8 * n / pixels >= bpp), default=95)
                rows.append((compression.jpeg(clean, q)[0][0], coded[0], clean[0]))
        titles = ("JPEG (first quality with >= the codec's bytes)", "learned codec", "original")
        paths = [triptych_png(rows, titles, out_dir / "codec_samples.png")]

        def mean(points):
            cols = list(zip(*points))
            ms = None if None in cols[2] else sum(cols[2]) / len(cols[2])
            return (sum(cols[0]) / len(cols[0]), sum(cols[1]) / len(cols[1]), ms)

        curves = {
            f"{type(m).__name__} (lambda {self.rd_lambda:g})": [mean(mine)],
            "JPEG (Pillow, q " + ", ".join(map(str, compression.JPEG_CURVE)) + ")": [
                mean(p) for p in curve.values()
            ],
        }
        paths.append(codec_rate_distortion_png(curves, out_dir / "rate_distortion.png"))
        return paths

    @torch.no_grad()
    def rate_distortion(self, m, dataset, out_dir: Path, device) -> Path:
        """PSNR against latent bits per pixel at 2-8 bit latents, averaged over the test images."""
        from ..viz.plots import rate_distortion_png

        points = []
        for bits in (2, 3, 4, 6, 8):
            rates, scores = [], []
            for degraded, clean, _ in self.test_pairs(dataset):
                h, w = degraded.shape[-2:]
                out, rate = compression.code_at(m, pad_to(degraded, m).to(device), bits)
                out = self.composite(out.float().cpu()[..., :h, :w], degraded).clamp(0, 1)
                rates.append(rate)
                scores.append(float(psnr(out, clean)[0]))
            points.append((sum(rates) / len(rates), sum(scores) / len(scores), bits))
        return rate_distortion_png(
            {type(m).__name__: points},
            out_dir / "rate_distortion.png",
            raw_bpp=8.0 * clean.shape[1],
        )
