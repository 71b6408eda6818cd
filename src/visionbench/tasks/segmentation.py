"""Semantic segmentation: a class for every pixel, per-pixel cross-entropy in, mIoU out.

Masks are int64 [N,H,W] with 255 marking pixels that are neither trained on nor scored (VOC's
object borders, Cityscapes' void). The metrics come from one confusion matrix accumulated over
the whole test split (`metrics.segmentation`), and the baseline beside them predicts the most
frequent ground-truth class everywhere, which on scenes that are mostly background already
reaches a high pixel accuracy but a low mIoU: the reason mIoU ranks segmenters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.registry import DataBundle, DataInfo
from ..engine.evaluation import Evaluator
from ..errors import VisionbenchError
from ..metrics.segmentation import IGNORE_INDEX, SegConfusion, seg_scores
from ..models.registry import ModelSpec, create_model
from .base import Task, TaskState, register_task

AUGMENTS = ("none", "hflip")


class Segmenter(nn.Module):
    """A dense network with its input normalisation and size padding inside.

    Any input size works: the input is padded (edge values) at the bottom and right to the
    network's `size_divisor` and the logits are cropped back, so predict, profile and export need
    nothing but the saved weights.
    """

    def __init__(self, net: nn.Module, mean: list[float], std: list[float]):
        super().__init__()
        self.net = net
        self.divisor = int(getattr(net, "size_divisor", 1))
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [N,K,H,W]; with `target` [N,H,W], the training loss (through forward for DDP)."""
        h, w = x.shape[-2:]
        z = (x - self.mean) / self.std
        ph, pw = -h % self.divisor, -w % self.divisor
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph), mode="replicate")
        logits = self.net(z)[..., :h, :w]
        if target is None:
            return logits
        return F.cross_entropy(logits.float(), target, ignore_index=IGNORE_INDEX)


def joint_hflip(
    x: torch.Tensor, mask: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mirror half of the images left-right, each with its own mask, so labels stay aligned."""
    flip = torch.randint(0, 2, (x.shape[0],), generator=generator).bool().to(x.device)
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mask = torch.where(flip[:, None, None], mask.flip(-1), mask)
    return x, mask


def palette() -> np.ndarray:
    """[256,3] uint8 colours: class 0 black, then distinct colours; 255 (ignore) white.

    Colours come from spreading the bits of the class index over R, G and B (the scheme VOC
    masks use), so every class index has its own colour for any class count.
    """
    pal = np.zeros((256, 3), np.uint8)
    for k in range(256):
        c, r, g, b = k, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        pal[k] = (r, g, b)
    pal[IGNORE_INDEX] = 255
    return pal


def colourise(mask: torch.Tensor) -> torch.Tensor:
    """Class map [H,W] -> colour image [3,H,W] in [0,1] with `palette`'s colours."""
    pal = torch.from_numpy(palette()).float() / 255
    return pal[mask.long().clamp(0, 255)].permute(2, 0, 1)


def save_mask(mask: torch.Tensor, path: str | Path) -> Path:
    """A class map as an indexed PNG: pixel values are class ids, the palette colours them."""
    from PIL import Image

    im = Image.fromarray(mask.to(torch.uint8).cpu().numpy(), mode="P")
    im.putpalette(palette().reshape(-1).tolist())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)
    return path


@dataclass(frozen=True)
class SegmentationState(TaskState):
    """The training images' channel statistics (normalisation inside the model)."""

    mean: list[float]
    std: list[float]


class SegmentationEvaluator(Evaluator):
    """One confusion matrix over every scored pixel of the split; the baseline from its rows."""

    def __init__(self, num_classes: int, class_names: list[str], metric_names: tuple[str, ...]):
        self.k, self.names, self.metric_names = num_classes, class_names, metric_names

    def reset(self) -> None:
        self.conf = SegConfusion(self.k)

    def infer(self, model, batch):
        return model(batch[0]).argmax(1)

    def update(self, batch, outputs) -> None:
        self.conf.update(outputs, batch[1])

    def compute(self) -> dict[str, float]:
        cm = self.conf.matrix
        scores = seg_scores(cm)
        out = {k: scores[k] for k in self.metric_names}
        names = self.names or [str(k) for k in range(self.k)]
        for name, iou in zip(names, scores["per_class_iou"]):
            out[f"iou_{name}"] = None if np.isnan(iou) else iou
        # the all-majority-class prediction, scored on the same pixels
        gt = cm.sum(1)
        majority = torch.zeros_like(cm)
        majority[:, int(gt.argmax())] = gt
        base = seg_scores(majority)
        out["majority_miou"] = base["miou"]
        out["majority_pixel_accuracy"] = base["pixel_accuracy"]
        return out


@register_task
class Segmentation(Task):
    name = "segmentation"
    augmentations = AUGMENTS
    ranking_metric = "miou"
    higher_is_better = True
    description = "assign one of K classes to every pixel (Sec. V.3, semantic segmentation)"
    metric_names = ("miou", "pixel_accuracy", "mean_class_accuracy")
    suite_data = ("shapes", {})
    State = SegmentationState
    baselines = {"miou": "majority_miou", "pixel_accuracy": "majority_pixel_accuracy"}
    also_shown = ("pixel_accuracy", "mean_class_accuracy")
    prediction_kind = "class mask"
    eval_batch_size = 32

    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        self.info = bundle.info
        if self.state is None:  # a run loaded for eval keeps the state it was trained with
            mean, std = self.channel_stats(bundle, self.options)
            self.state = SegmentationState(mean=mean, std=std)
        return bundle

    def build_model(self, spec: ModelSpec, info: DataInfo) -> nn.Module:
        st = self.require_state()
        net = create_model(
            spec.name,
            task=self.name,
            num_classes=info.num_classes,
            in_chans=info.in_chans,
            img_size=self.cfg.img_size or spec.input_size(info.img_size),
            **self.model_kwargs(spec),
        )
        return Segmenter(net, st.mean, st.std)

    # training -------------------------------------------------------------------------------
    def augment(self, batch, generator):
        x, mask = batch
        if self.recipe.augment not in AUGMENTS:
            raise VisionbenchError(
                f"segmentation augmentation must be one of {', '.join(AUGMENTS)}, "
                f"got '{self.recipe.augment}'"
            )
        if self.recipe.augment == "hflip":
            return joint_hflip(x, mask, generator)
        return x, mask

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        x, mask = batch
        return model(x, mask)

    # evaluation -----------------------------------------------------------------------------
    def evaluator(self, purpose: str = "test") -> SegmentationEvaluator:
        info = self.info
        return SegmentationEvaluator(info.num_classes, info.class_names, self.metric_names)

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """Class maps [N,H,W] (int64) for images [N,C,H,W] in [0,1] of any size."""
        return model(inputs).argmax(1)

    def write_prediction(self, outputs, input_path, output, *, info, metrics, top: int = 5):
        """An indexed PNG: class ids as pixel values, a colour palette to see them."""
        dest = output or input_path.with_name(input_path.stem + "_mask.png")
        return save_mask(outputs[0], dest)

    def pictures(self, model, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        test = bundle.test
        n = min(6, len(test))
        if n == 0:
            return []
        items = [test[i] for i in range(n)]
        images = torch.stack([x for x, _ in items])
        masks = torch.stack([m for _, m in items])
        with torch.no_grad():
            pred = model(images.to(device)).argmax(1).cpu()
        return [
            segmentation_grid(
                images, masks, pred, bundle.info.class_names, out_dir / "segmentation.png"
            )
        ]


def segmentation_grid(
    images: torch.Tensor, masks: torch.Tensor, pred: torch.Tensor, names: list[str], path: Path
) -> Path:
    """Rows of image | ground truth | prediction, colour-coded, with a legend of the classes."""
    from matplotlib.patches import Patch

    from ..viz.plots import _save, _show, plt

    fig, axes = plt.subplots(len(images), 3, figsize=(5.4, 1.8 * len(images)), squeeze=False)
    for row, (img, gt, p) in enumerate(zip(images, masks, pred)):
        for ax, shown in zip(axes[row], (img, colourise(gt), colourise(p))):
            _show(ax, shown)
    for ax, title in zip(axes[0], ("image", "ground truth", "prediction")):
        ax.set_title(title, fontsize=9)
    pal = palette() / 255
    handles = [Patch(color=pal[i], label=name) for i, name in enumerate(names)]
    handles.append(Patch(facecolor="white", edgecolor="grey", label="ignored (255)"))
    fig.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=8)
    fig.subplots_adjust(bottom=0.6 / len(images) / 1.8 + 0.02)
    return _save(fig, path)
