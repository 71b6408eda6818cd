"""Image classification: logits out, cross-entropy in, accuracy as the ranking metric."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.registry import DataBundle, DataInfo
from ..data.tensors import TensorSet
from ..engine.evaluation import Evaluator, evaluate
from ..metrics.classification import confusion_matrix, scores_from_confusion, topk_accuracy
from ..models.registry import ModelSpec
from . import augment, pretraining
from .base import Task, TaskState, register_task


class Classifier(nn.Module):
    """A network with its input normalisation inside, so predict and export need no extra state."""

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        # a net whose forwards use part of its parameters (an MAE's decoder) tells DDP
        self.find_unused_parameters = getattr(net, "find_unused_parameters", False)
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


def resize_images(images: torch.Tensor, size: int | list[int] | tuple[int, int]) -> torch.Tensor:
    """Images resized to `size` ((H, W), or one side for a square): bilinear up, area down."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if images.shape[-2] == h and images.shape[-1] == w:
        return images
    mode = "bilinear" if h > images.shape[-2] else "area"
    out = F.interpolate(
        images,
        size=(h, w),
        mode=mode,
        **({"align_corners": False} if mode == "bilinear" else {}),
    )
    return out.clamp(0, 1)


@dataclass(frozen=True)
class ClassificationState(TaskState):
    """The input size the model was built for and the training images' channel statistics."""

    input_size: list[int]  # [H, W]
    mean: list[float]
    std: list[float]

    @classmethod
    def from_dict(cls, data: dict, source: str = "task state") -> ClassificationState:
        size = data.get("input_size")
        if isinstance(size, int):  # runs written before task_state.json: one square side
            data = {**data, "input_size": [size, size]}
        return super().from_dict(data, source)


class ClassificationEvaluator(Evaluator):
    """Keeps every logit (a few floats per image) so compute() matches the batch-free formula."""

    def reset(self) -> None:
        self.logits: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, batch, outputs) -> None:
        self.logits.append(outputs.float())
        self.targets.append(batch[1])

    def gathered(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All logits and targets, copied to the CPU once (a copy per batch syncs a GPU)."""
        return torch.cat(self.logits).cpu(), torch.cat(self.targets).cpu()

    def compute(self) -> dict[str, float]:
        logits, y = self.gathered()
        k = logits.shape[1]
        pred = logits.argmax(1)
        out = scores_from_confusion(confusion_matrix(y, pred, k))
        out = {m: out[m] for m in ("accuracy", "precision_macro", "recall_macro", "f1_macro")}
        if k > 5:
            out["top5_accuracy"] = topk_accuracy(logits, y, 5)
        out["loss"] = float(F.cross_entropy(logits, y))
        out["chance_accuracy"] = float(torch.bincount(y, minlength=k).max() / len(y))
        return out

    def per_sample(self) -> dict[str, list[float]]:
        logits, y = self.gathered()
        return {"accuracy": (logits.argmax(1) == y).double().tolist()}


@register_task
class Classification(Task):
    name = "classification"
    ranking_metric = "accuracy"
    higher_is_better = True
    description = "assign one of K classes to an image (Sec. V.1)"
    metric_names = ("accuracy", "top5_accuracy", "precision_macro", "recall_macro", "f1_macro")
    suite_data = ("digits", {})
    State = ClassificationState
    baselines = {"accuracy": "chance_accuracy"}
    prediction_kind = "top classes"
    # a masked autoencoder's reconstructions of test images, made by `pretrain` before
    # fine-tuning moves the weights on, drawn by `pictures` (None: no pre-training phase)
    pretrained_rows: torch.Tensor | None = None

    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        """Resize the in-memory splits to the model's input size; learn the channel statistics
        (a run loaded for eval keeps the state it was trained with)."""
        self.info = bundle.info
        if self.state is None:
            side = self.cfg.img_size or spec.input_size(bundle.info.img_size)
            size = [side, side]
        else:
            size = self.state.input_size
        for part in ("train", "val", "test", "unlabelled"):
            ds = getattr(bundle, part)
            if isinstance(ds, TensorSet):
                setattr(bundle, part, TensorSet(resize_images(ds.images, size), ds.labels))
        if self.state is None:
            mean, std = self.channel_stats(bundle, self.options)
            self.state = ClassificationState(input_size=size, mean=mean, std=std)
        return bundle

    def eval_data_options(self, info: DataInfo) -> dict:
        """Another set's images at the size and channel count the model was built for."""
        return {"img_size": self.require_state().input_size[0], "channels": info.in_chans}

    def build_model(self, spec: ModelSpec, info: DataInfo) -> nn.Module:
        from ..models.registry import create_model

        st = self.require_state()
        net = create_model(
            spec.name,
            task=self.name,
            num_classes=info.num_classes,
            in_chans=info.in_chans,
            img_size=st.input_size[0],
            **self.model_kwargs(spec),
        )
        return Classifier(net, st.mean, st.std)

    def input_hw(self, info: DataInfo) -> tuple[int, int]:
        h, w = self.require_state().input_size
        return h, w

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        return resize_images(images, self.require_state().input_size)

    def augment(self, batch, generator):
        x, y = batch
        return augment.apply(self.recipe.augment, x, generator), y

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        x, y = batch
        return model(x, y, self.recipe.label_smoothing)

    def pretrain(self, model: nn.Module, bundle: DataBundle, recipe, device) -> dict:
        """A masked autoencoder's self-supervised phase (tasks/pretraining.py); {} otherwise.
        Its reconstructions of test images are kept for `pictures`, made before fine-tuning."""
        record = pretraining.pretrain(self, model, bundle, recipe, self.cfg, device)
        if record and isinstance(bundle.test, TensorSet):
            self.pretrained_rows = pretraining.reconstruction_rows(model, bundle.test.images)
        return record

    def evaluator(self, purpose: str = "test") -> ClassificationEvaluator:
        return ClassificationEvaluator()

    @torch.no_grad()
    def logits(self, model: nn.Module, dataset, device) -> tuple[torch.Tensor, torch.Tensor]:
        ev = self.evaluator()
        evaluate(model, self.eval_batches(dataset, device), ev)
        return ev.gathered()

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Class probabilities for images [N,C,H,W] in [0,1] of any size."""
        return model(self.model_input(inputs)).float().softmax(1)

    def write_prediction(self, outputs, input_path, output, *, info, metrics, top: int = 5):
        """The top-k (class name, probability) pairs; nothing is written."""
        probs = outputs[0]
        k = min(top, probs.numel())
        vals, idx = probs.topk(k)
        names = info.class_names or [str(i) for i in range(probs.numel())]
        return [(names[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())]

    def pictures(self, model, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        from ..viz.plots import confusion_matrix_png, misclassified_png

        logits, y = self.logits(model, bundle.test, device)
        names = bundle.info.class_names
        cm = confusion_matrix(y, logits.argmax(1), logits.shape[1])
        paths = [confusion_matrix_png(cm, names, out_dir / "confusion_matrix.png")]
        images = bundle.test.images if isinstance(bundle.test, TensorSet) else None
        if images is not None:
            paths.append(misclassified_png(images, y, logits, names, out_dir / "misclassified.png"))
        if self.pretrained_rows is not None:
            path = out_dir / "mae_reconstructions.png"
            paths.append(pretraining.reconstruction_picture(self.pretrained_rows, path))
        return paths
