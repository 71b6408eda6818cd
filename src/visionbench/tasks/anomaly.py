"""Anomaly detection: learn what normal looks like from normal images only, then score every test
image and every pixel by how badly the model explains it (Sec. V, autoencoders and GANs).

Two ways to turn a reconstruction model into a detector (task option `scoring`):

- `reconstruct` (bottleneck autoencoders, e.g. `dae`): the anomaly map is the per-pixel squared
  reconstruction error. Works when the code is too narrow to carry what training never showed.
- `inpaint` (models with skip connections, e.g. `unet_attention`): a U-Net trained to reconstruct
  learns the identity through its skips and copies a defect straight through (error ~0 everywhere).
  So, after RIAD (Zavrtanik et al. 2021), it learns to fill random grid cells from their context;
  at test time every pixel is hidden once (the cells split into disjoint sets) and scored by the
  error of its reconstruction from surroundings it could not copy from.

Maps are smoothed with a Gaussian (sigma 2 px): a defect is a region, single-pixel errors are
texture noise. The image score is the mean of the top 1% of map values: the max alone is one
noisy pixel, the mean of the whole map dilutes a scratch covering 1% of the image to nothing.

Beside every metric sits a model-free baseline on the same images: the per-pixel squared z-score
against the training images' per-pixel mean and standard deviation, scored the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.registry import DataBundle, DataInfo
from ..engine.batches import iterate
from ..engine.evaluation import Evaluator
from ..errors import VisionbenchError
from ..metrics.anomaly import auroc, f1_max, pro_score
from ..models.registry import ModelSpec
from . import augment, ganomaly
from .base import Task, TaskState, pad_to, register_task

SCORINGS = ("reconstruct", "inpaint", "latent")
# Models whose skip connections copy their input: reconstruction error is blind for them, so they
# default to inpainting and get a mask channel (the restoration task's inpainting input).
SKIP_MODELS = ("unet_attention",)
LATENT_MODELS = ("ganomaly",)  # scored by their latent distance (tasks/ganomaly.py)


def gaussian_blur(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [N,1,H,W] maps, reflect-padded (no dark rim at the border)."""
    if sigma <= 0:
        return maps
    r = max(1, int(3 * sigma + 0.5))
    r = min(r, maps.shape[-1] - 1, maps.shape[-2] - 1)
    t = torch.arange(-r, r + 1, dtype=maps.dtype, device=maps.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(maps, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def top_mean(maps: torch.Tensor, fraction: float) -> torch.Tensor:
    """Per-image mean of the largest `fraction` of map values ([N,...] -> [N])."""
    flat = maps.flatten(1)
    k = max(1, int(round(fraction * flat.shape[1])))
    return flat.topk(k, dim=1).values.mean(1)


def cell_parts(h: int, w: int, cell: int, parts: int, generator: torch.Generator) -> torch.Tensor:
    """[parts,1,h,w] masks (1 = hidden): grid cells dealt at random into `parts` disjoint sets,
    so together they hide every pixel exactly once."""
    gh, gw = -(-h // cell), -(-w // cell)
    owner = torch.randperm(gh * gw, generator=generator) % parts
    owner = owner.view(1, 1, gh, gw).float()
    owner = F.interpolate(owner, scale_factor=cell, mode="nearest")[..., :h, :w]
    return torch.cat([(owner == p).float() for p in range(parts)])


def split_batch(batch) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """(images, labels, masks) from an anomaly batch (image, label, mask) or a bare image batch."""
    if isinstance(batch, (tuple, list)):
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
        m = batch[2] if len(batch) > 2 else None
        return x, y, m
    return batch, None, None


@dataclass(frozen=True)
class AnomalyState(TaskState):
    """How maps are made and scored: reconstruct or inpaint (RIAD), smoothing, top fraction."""

    scoring: str
    smooth: float = 2.0
    top_fraction: float = 0.01
    cell: int = 8
    parts: int = 4


class AnomalyEvaluator(Evaluator):
    """Maps of the model and the baseline for every image, scored once over the whole split
    (AUROC and PRO rank all images and pixels together)."""

    def __init__(self, task: AnomalyDetection):
        self.task = task

    def reset(self) -> None:
        self.parts: dict[str, list] = {"maps": [], "base": [], "labels": [], "masks": []}

    def infer(self, model, batch):
        x, _, _ = split_batch(batch)
        return self.task.anomaly_maps(model, x)

    def update(self, batch, outputs) -> None:
        x, y, m = split_batch(batch)
        out = self.parts
        out["maps"].append(outputs.cpu())
        if self.task.stats is not None:
            out["base"].append(self.task.baseline_maps(x).cpu())
        n = x.shape[0]
        out["labels"].append(y.cpu() if y is not None else torch.zeros(n, dtype=torch.long))
        out["masks"].append(m.cpu() if m is not None else torch.zeros(n, *x.shape[-2:]))

    def compute(self) -> dict[str, float]:
        s = {k: torch.cat(v) if v else None for k, v in self.parts.items()}
        t, labels = self.task, s["labels"]
        if bool((labels == 0).all()) or bool((labels != 0).all()):
            # validation holds normal images only: report how well normal images are explained
            return {"normal_score": float(top_mean(s["maps"], t.top).mean())}
        out = t.metrics(s["maps"], labels, s["masks"])
        if s["base"] is not None:
            base = t.metrics(s["base"], labels, s["masks"])
            out |= {f"baseline_{k}": v for k, v in base.items() if k in t.baselines}
        return out


@register_task
class AnomalyDetection(Task):
    name = "anomaly"
    ranking_metric = "image_auroc"
    higher_is_better = True
    description = "detect and localise defects, trained on normal images only"
    metric_names = ("image_auroc", "pixel_auroc", "f1_max", "pro")
    suite_data = ("textures", {})

    State = AnomalyState
    baselines = {m: f"baseline_{m}" for m in ("image_auroc", "pixel_auroc", "f1_max", "pro")}
    also_shown = ("pixel_auroc", "f1_max", "pro")  # localisation beside detection
    prediction_kind = "anomaly map"
    eval_batch_size = 64
    # an inpainting model's map takes several passes per image: the quick form takes fewer
    # (stratified, so both normal and defective images are scored)
    quick_challenge_images = 40

    def __init__(self, cfg):
        super().__init__(cfg)
        scoring = self.options.get("scoring")
        if scoring is not None and scoring not in SCORINGS:
            raise VisionbenchError(f"scoring must be one of {', '.join(SCORINGS)}, got '{scoring}'")
        self.stats: tuple[torch.Tensor, torch.Tensor] | None = None

    # the state's fields, read where the scoring code needs them
    scoring = property(lambda self: self.require_state().scoring)
    sigma = property(lambda self: self.require_state().smooth)
    top = property(lambda self: self.require_state().top_fraction)
    cell = property(lambda self: self.require_state().cell)
    parts = property(lambda self: self.require_state().parts)

    # data and model -------------------------------------------------------------------------
    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        """Refuse training or validation data with a defect in it; learn the baseline's
        per-pixel mean and standard deviation from the training images."""
        self.info = bundle.info
        if self.state is None:
            o = self.options
            scoring = o.get("scoring") or ("inpaint" if spec.name in SKIP_MODELS else "reconstruct")
            if spec.name in LATENT_MODELS:
                scoring = o.get("scoring") or "latent"
            if (scoring == "latent") != (spec.name in LATENT_MODELS):
                raise VisionbenchError(
                    f"scoring=latent is for {', '.join(LATENT_MODELS)} and their only scoring; "
                    f"got scoring={scoring} with model '{spec.name}'"
                )
            if scoring == "inpaint" and spec.name not in SKIP_MODELS:
                raise VisionbenchError(
                    f"model '{spec.name}' cannot score by inpainting (it has no mask input); "
                    "use scoring=reconstruct or model unet_attention"
                )
            self.state = AnomalyState(
                scoring=scoring,
                smooth=float(o.get("smooth", 2.0)),
                top_fraction=float(o.get("top_fraction", 0.01)),
                cell=int(o.get("cell", 8)),  # RIAD's cell side at test time
                parts=int(o.get("parts", 4)),  # 1/parts of the cells hidden per pass
            )
        total, total_sq, n = None, None, 0
        for part in ("train", "val"):
            for batch in iterate(getattr(bundle, part), 256):
                x, y, _ = split_batch(batch)
                if y is not None and bool((y != 0).any()):
                    raise VisionbenchError(
                        f"the {part} split of '{bundle.info.name}' holds anomalous images; "
                        "anomaly detection trains on normal images only"
                    )
                if part == "train":
                    x = x.double()
                    s, s2 = x.sum(0), (x * x).sum(0)
                    total = s if total is None else total + s
                    total_sq = s2 if total_sq is None else total_sq + s2
                    n += x.shape[0]
        if not n:
            raise VisionbenchError(f"'{bundle.info.name}' has no training images")
        mean = total / n
        std = (total_sq / n - mean**2).clamp(min=0).sqrt()
        self.stats = (mean.float(), std.float().clamp(min=0.02))
        return bundle

    def model_kwargs(self, spec: ModelSpec) -> dict:
        kw = super().model_kwargs(spec)
        if self.scoring == "inpaint":
            kw.setdefault("extra_in", 1)
        return kw

    def input_channels(self, info: DataInfo) -> int:
        """What the model sees in one forward pass (image, plus the mask channel if inpainting)."""
        return info.in_chans + (1 if self.scoring == "inpaint" else 0)

    # training -------------------------------------------------------------------------------
    def augment(self, batch, generator):
        """(model input, target, weight): the image itself, or the image with hidden cells."""
        x, _, _ = split_batch(batch)
        x = augment.apply(self.recipe.augment, x, generator)
        if self.scoring != "inpaint":
            return x, x, None
        # RIAD trains on several cell sizes, so the model fills holes of every scale
        cell = (2, 4, 8, 16)[int(torch.randint(0, 4, (1,), generator=generator))]
        hidden = cell_parts(x.shape[-2], x.shape[-1], cell, self.parts, generator)
        pick = torch.randint(0, self.parts, (x.shape[0],), generator=generator)
        hidden = hidden[pick].to(x.device)
        keep = 1 - hidden
        return torch.cat([x * keep, keep], 1), x, hidden

    def optimizers(self, model, recipe):
        if ganomaly.is_latent_scored(model):
            return ganomaly.optimizers(model, recipe)
        return super().optimizers(model, recipe)

    def train_step(self, ctx, model, batch):
        if ganomaly.is_latent_scored(model):
            return ganomaly.train_step(ctx, model, batch[0])
        return super().train_step(ctx, model, batch)

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        inp, target, hidden = batch
        err = (model(inp) - target) ** 2
        if hidden is None:
            return err.mean()
        return (err * hidden).sum() / (hidden.sum() * err.shape[1]).clamp(min=1)

    def attack_loss(self, model: nn.Module, batch) -> torch.Tensor:
        """An attack on the detector's decision: raise the image score (the mean of the map's top
        fraction, as scored) of normal images and lower that of anomalous ones, so AUROC falls."""
        x, y, _ = split_batch(batch)
        scores = top_mean(self.anomaly_maps(model, x), self.top)
        sign = 1.0 - 2.0 * (y != 0).float().to(scores.device) if y is not None else 1.0
        return (sign * scores).mean()

    # scoring --------------------------------------------------------------------------------
    def anomaly_maps(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """[N,1,H,W] per-pixel anomaly scores (smoothed squared error) for images [N,C,H,W]."""
        h, w = x.shape[-2:]
        xp = pad_to(x, model)
        if self.scoring == "latent":
            return ganomaly.score_maps(model, x)
        if self.scoring == "inpaint":
            g = torch.Generator().manual_seed(0)  # the same cells for every image and run
            parts = cell_parts(xp.shape[-2], xp.shape[-1], self.cell, self.parts, g).to(x.device)
            err = torch.zeros_like(xp[:, :1])
            for hidden in parts:
                keep = (1 - hidden).expand(xp.shape[0], 1, -1, -1)
                out = model(torch.cat([xp * keep, keep], 1)).float()
                err += hidden * ((out - xp.float()) ** 2).mean(1, keepdim=True)
        else:
            err = ((model(xp).float() - xp.float()) ** 2).mean(1, keepdim=True)
        return gaussian_blur(err[..., :h, :w], self.sigma)

    def baseline_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Squared z-score of each pixel against the training images' per-pixel statistics."""
        mean, std = (s.to(x.device) for s in self.stats)
        if mean.shape[-2:] != x.shape[-2:]:  # another size (predict): the global statistics
            mean, std = mean.mean(), std.mean()
        z = ((x.float() - mean) / std) ** 2
        return gaussian_blur(z.mean(1, keepdim=True), self.sigma)

    def metrics(self, maps: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor) -> dict:
        """image_auroc, pixel_auroc, f1_max (image level), pro from [N,1,H,W] maps."""
        scores = top_mean(maps, self.top)
        f1 = f1_max(labels, scores)
        out = {
            "image_auroc": auroc(labels, scores),
            "f1_max": f1["f1_max"],
            "image_threshold": f1["threshold"],
        }
        gt = masks > 0
        if gt.any() and not gt.all():
            amap = maps[:, 0]
            out["pixel_auroc"] = auroc(gt, amap)
            out["pro"] = pro_score(gt, amap)
            out["pixel_threshold"] = f1_max(gt, amap)["threshold"]
        return out

    def evaluator(self, purpose: str = "test") -> AnomalyEvaluator:
        return AnomalyEvaluator(self)

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Anomaly maps [N,1,H,W] (squared-error units) for images [N,C,H,W] in [0,1]."""
        return self.anomaly_maps(model, inputs)

    def write_prediction(self, outputs, input_path, output, *, info, metrics, top: int = 5):
        """A grey-level map; the run's F1-best pixel threshold is mid-grey."""
        from ..data.io import write_image

        dest = output or input_path.with_name(input_path.stem + "_anomaly.png")
        return write_image(self.map_image(outputs[0], metrics), dest)

    @staticmethod
    def map_image(amap: torch.Tensor, metrics: dict) -> torch.Tensor:
        """A map [1,H,W] as a grey image: the run's F1-best pixel threshold shows as mid-grey, so
        maps of different images share one scale (the map's own max without that threshold)."""
        thr = metrics.get("pixel_threshold") or float(amap.max()) / 2 or 1.0
        return (amap / (2 * thr)).clamp(0, 1)

    def pictures(self, model, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        """Rows of image | ground truth | anomaly map: two normal test images, four defective."""
        from ..viz.plots import triptych_png

        test = bundle.test
        labels = getattr(test, "labels", None)
        if labels is None:  # a folder dataset: read the labels only
            labels = torch.tensor([int(split_batch(test[i])[1]) for i in range(len(test))])
        normal = torch.nonzero(labels == 0).flatten()[:2].tolist()
        defect = torch.nonzero(labels != 0).flatten()[:4].tolist()
        samples = [test[i] for i in normal + defect]
        if not samples:
            return []
        images = torch.stack([split_batch(x)[0] for x in samples])
        masks = [split_batch(x)[2] for x in samples]
        with torch.no_grad():
            maps = self.anomaly_maps(model, images.to(device)).float().cpu()
        scale = float(maps.max()) or 1.0  # one scale for all rows: normal rows must look calm
        rows = [
            (img, (m if m is not None else torch.zeros(img.shape[-2:]))[None].float(), amap)
            for img, m, amap in zip(images, masks, (maps / scale).clamp(0, 1))
        ]
        titles = ("test image (2 normal, then defective)", "ground truth", "anomaly map")
        return [triptych_png(rows, titles, out_dir / "anomaly_maps.png")]
