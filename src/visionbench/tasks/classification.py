"""Image classification: logits out, cross-entropy in, accuracy as the ranking metric."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.registry import DataBundle, DataInfo
from ..data.tensors import TensorSet
from ..engine.batches import iterate
from ..metrics.classification import confusion_matrix, scores_from_confusion, topk_accuracy
from ..models.registry import ModelSpec
from . import augment
from .base import Task, register_task


class Classifier(nn.Module):
    """A network with its input normalisation inside, so predict and export need no extra state."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(
        self, x: torch.Tensor, target: torch.Tensor | None = None, label_smoothing: float = 0.0
    ) -> torch.Tensor:
        """Logits; with `target`, the training loss (through forward, so DDP hooks see it)."""
        z = (x - self.mean) / self.std
        if target is None:
            return self.net(z)
        if hasattr(self.net, "training_loss"):  # e.g. CapsNet: margin + reconstruction loss
            return self.net.training_loss(z, target)
        return F.cross_entropy(self.net(z), target, label_smoothing=label_smoothing)


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    mode = "bilinear" if size > images.shape[-1] else "area"
    out = F.interpolate(
        images,
        size=(size, size),
        mode=mode,
        **({"align_corners": False} if mode == "bilinear" else {}),
    )
    return out.clamp(0, 1)


@register_task
class Classification(Task):
    name = "classification"
    ranking_metric = "accuracy"
    higher_is_better = True
    description = "assign one of K classes to an image (Sec. V.1)"
    metric_names = ("accuracy", "top5_accuracy", "precision_macro", "recall_macro", "f1_macro")

    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        size = self.cfg.img_size or spec.input_size(bundle.info.img_size)
        self.input_size = size
        for part in ("train", "val", "test"):
            ds = getattr(bundle, part)
            if isinstance(ds, TensorSet):
                setattr(bundle, part, TensorSet(resize_images(ds.images, size), ds.labels))
        self.set_channel_stats(bundle)
        return bundle

    def build_model(self, spec: ModelSpec, info: DataInfo) -> nn.Module:
        if not hasattr(self, "mean"):  # rebuilt from a run: statistics come from config.yaml
            self.input_size = self.options["input_size"]
            self.mean, self.std = self.options["mean"], self.options["std"]
        from ..models.registry import create_model

        net = create_model(
            spec.name,
            task=self.name,
            num_classes=info.num_classes,
            in_chans=info.in_chans,
            img_size=self.input_size,
            **self.cfg.model_kwargs,
        )
        return Classifier(net, self.mean, self.std)

    def run_extras(self) -> dict:
        return {"input_size": self.input_size, "mean": self.mean, "std": self.std}

    def augment(self, batch, generator):
        x, y = batch
        return augment.apply(self.recipe.augment, x, generator), y

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        x, y = batch
        return model(x, y, self.recipe.label_smoothing)

    @torch.no_grad()
    def logits(self, model: nn.Module, dataset, device, batch_size: int = 256):
        """All logits and targets, copied to the CPU once (a copy per batch syncs a GPU per batch)."""
        outs, targets = [], []
        for x, y in iterate(dataset, batch_size, device=device):
            outs.append(model(x).float())
            targets.append(y)
        return torch.cat(outs).cpu(), torch.cat(targets).cpu()

    def evaluate(self, model: nn.Module, dataset, device) -> dict[str, float]:
        logits, y = self.logits(model, dataset, device)
        k = logits.shape[1]
        pred = logits.argmax(1)
        out = scores_from_confusion(confusion_matrix(y, pred, k))
        out = {m: out[m] for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro")}
        if k > 5:
            out["top5_accuracy"] = topk_accuracy(logits, y, 5)
        out["loss"] = float(F.cross_entropy(logits, y))
        out["chance_accuracy"] = float(torch.bincount(y, minlength=k).max() / len(y))
        return out

    def per_sample(self, model: nn.Module, dataset, device) -> dict[str, list[float]]:
        logits, y = self.logits(model, dataset, device)
        return {"accuracy": (logits.argmax(1) == y).double().tolist()}

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities for images [N,C,H,W] in [0,1] of any size."""
        x = resize_images(inputs, self.input_size)
        return model(x).float().softmax(1)

    def pictures(self, model, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        from ..analysis.plots import confusion_matrix_png, misclassified_png

        logits, y = self.logits(model, bundle.test, device)
        names = bundle.info.class_names
        cm = confusion_matrix(y, logits.argmax(1), logits.shape[1])
        paths = [confusion_matrix_png(cm, names, out_dir / "confusion_matrix.png")]
        images = bundle.test.images if isinstance(bundle.test, TensorSet) else None
        if images is not None:
            paths.append(misclassified_png(images, y, logits, names, out_dir / "misclassified.png"))
        return paths
