"""Semantic segmentation metrics from one confusion matrix accumulated over the whole dataset.

The mmsegmentation definitions: ignore index 255 is dropped before counting; per-class IoU is
intersection / union and classes whose union is empty (absent from both ground truth and
prediction) are NaN and excluded from mIoU; pixel accuracy (aAcc) is correct / labelled pixels;
mean class accuracy (mAcc) averages per-class recall over classes present in the ground truth.
Averaging per-image mIoU instead would weight small images and rare classes differently.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import VisionbenchError
from .registry import register_metric

IGNORE_INDEX = 255


def seg_confusion(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    num_classes: int,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """[K,K] int64 counts (rows: true class, columns: predicted) of one map or a batch of maps.

    Counted with numpy's bincount, several times faster on CPU than torch.bincount.
    """
    pred = _as_int64(pred)
    target = _as_int64(target)
    if pred.shape != target.shape:
        raise VisionbenchError(f"prediction has {pred.size} pixels, ground truth {target.size}")
    keep = target != ignore_index
    pred, target = pred[keep], target[keep]
    for name, t in (("ground truth", target), ("prediction", pred)):
        bad = t[(t < 0) | (t >= num_classes)]
        if bad.size:
            raise VisionbenchError(
                f"{name} holds class {int(bad[0])}, outside 0..{num_classes - 1} "
                f"and not the ignore index {ignore_index}"
            )
    counts = np.bincount(target * num_classes + pred, minlength=num_classes**2)
    return torch.from_numpy(counts).reshape(num_classes, num_classes)


def _as_int64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).reshape(-1).astype(np.int64, copy=False)


class SegConfusion:
    """Accumulate a dataset's confusion matrix batch by batch, then read the scores."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX):
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.long)

    def update(self, pred, target) -> None:
        self.matrix += seg_confusion(pred, target, self.num_classes, self.ignore_index)

    def compute(self) -> dict:
        return seg_scores(self.matrix)


def seg_scores(cm: torch.Tensor) -> dict:
    """miou, pixel_accuracy, mean_class_accuracy, and per-class IoU/accuracy lists (NaN: absent)."""
    cm = torch.as_tensor(cm).double()
    inter = cm.diag()
    gt, pr = cm.sum(1), cm.sum(0)
    union = gt + pr - inter
    nan = torch.full_like(inter, float("nan"))
    iou = torch.where(union > 0, inter / union.clamp(min=1), nan)
    acc = torch.where(gt > 0, inter / gt.clamp(min=1), nan)
    total = gt.sum()
    return {
        "miou": float(iou.nanmean()) if (union > 0).any() else float("nan"),
        "pixel_accuracy": float(inter.sum() / total) if total > 0 else float("nan"),
        "mean_class_accuracy": float(acc.nanmean()) if (gt > 0).any() else float("nan"),
        "per_class_iou": iou.tolist(),
        "per_class_accuracy": acc.tolist(),
    }


register_metric(
    name="miou",
    task="segmentation",
    definition="mean over classes of intersection / union, from one dataset-wide confusion matrix",
    settings="ignore index 255; classes with empty union excluded from the mean",
    reference="mmsegmentation IoUMetric (mIoU)",
)
register_metric(
    name="per_class_iou",
    task="segmentation",
    definition="intersection / union of each class over the whole dataset",
    settings="ignore index 255; NaN where the class is absent from ground truth and prediction",
    reference="mmsegmentation IoUMetric (per-class IoU)",
)
register_metric(
    name="pixel_accuracy",
    task="segmentation",
    definition="correctly labelled pixels / labelled pixels",
    settings="ignore index 255",
    reference="mmsegmentation IoUMetric (aAcc)",
)
register_metric(
    name="mean_class_accuracy",
    task="segmentation",
    definition="mean over classes of correct pixels / ground-truth pixels of the class",
    settings="ignore index 255; classes absent from the ground truth excluded",
    reference="mmsegmentation IoUMetric (mAcc)",
)
