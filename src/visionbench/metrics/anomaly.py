"""Anomaly detection metrics: image AUROC, pixel AUROC, F1-max and PRO (MVTec AD's definitions).

All four are exact and vectorised (no threshold grid): AUROC by the Mann-Whitney rank sum with
average ranks for ties (what scikit-learn's roc_auc_score computes), F1-max over every distinct
score threshold (scikit-learn's precision_recall_curve points), PRO as MVTec AD's evaluation
script computes it: mean per-region overlap integrated over the false-positive rate up to 0.3,
divided by 0.3.
"""

from __future__ import annotations

import numpy as np
import torch

from ..errors import VisionbenchError
from .registry import register_metric


def _flat(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x).reshape(-1)


def _labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y, s = _flat(labels).astype(bool), _flat(scores).astype(np.float64)
    if y.shape != s.shape:
        raise VisionbenchError(f"{s.size} scores for {y.size} labels")
    if y.all() or not y.any():
        raise VisionbenchError("AUROC needs both normal and anomalous samples")
    return y, s


def auroc(labels, scores) -> float:
    """Area under the ROC curve for binary labels (1 = anomalous) and scores (higher = more)."""
    from scipy.stats import rankdata

    y, s = _labels_scores(labels, scores)
    ranks = rankdata(s)  # average ranks: ties count one half
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pixel_auroc(masks, anomaly_maps) -> float:
    """AUROC over all pixels of all test images (ground-truth masks, anomaly maps)."""
    return auroc(masks, anomaly_maps)


def f1_max(labels, scores) -> dict[str, float]:
    """The best F1 over all thresholds `score >= t`, and that threshold."""
    y, s = _labels_scores(labels, scores)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    denom = precision + recall
    f1 = np.where(denom > 0, 2 * precision * recall / np.where(denom > 0, denom, 1), 0.0)
    best = int(f1.argmax())
    return {"f1_max": float(f1[best]), "threshold": float(s[last[best]])}


def pro_score(masks, anomaly_maps, fpr_limit: float = 0.3) -> float:
    """Normalised area under the per-region-overlap curve up to `fpr_limit` (MVTec AD).

    Each connected anomalous region of each ground-truth mask weighs equally, whatever its size;
    the false-positive rate is over normal pixels. masks/anomaly_maps: [N,H,W].
    """
    from scipy.ndimage import label

    gt = np.asarray(masks.cpu() if isinstance(masks, torch.Tensor) else masks) > 0
    amap = np.asarray(
        anomaly_maps.cpu() if isinstance(anomaly_maps, torch.Tensor) else anomaly_maps
    ).astype(np.float64)
    if gt.ndim == 2:
        gt, amap = gt[None], amap[None]
    if gt.shape != amap.shape:
        raise VisionbenchError(f"masks {gt.shape} and anomaly maps {amap.shape} differ in shape")
    regions = np.zeros(gt.shape, np.int64)
    n_regions = 0
    for i in range(len(gt)):
        lab, n = label(gt[i], structure=np.ones((3, 3), int))  # 8-connected
        regions[i] = np.where(lab > 0, lab + n_regions, 0)
        n_regions += n
    n_normal = int((~gt).sum())
    if n_regions == 0 or n_normal == 0:
        raise VisionbenchError("PRO needs anomalous regions and normal pixels")
    sizes = np.bincount(regions.reshape(-1), minlength=n_regions + 1).astype(np.float64)
    r = regions.reshape(-1)
    fpr_step = np.where(r == 0, 1.0 / n_normal, 0.0)
    pro_step = np.where(r > 0, 1.0 / (n_regions * sizes[r]), 0.0)
    s = amap.reshape(-1)
    order = np.argsort(-s, kind="mergesort")
    last = np.r_[np.flatnonzero(np.diff(s[order])), s.size - 1]
    fpr = np.r_[0.0, np.cumsum(fpr_step[order])[last]]
    pro = np.r_[0.0, np.cumsum(pro_step[order])[last]]
    keep = fpr <= fpr_limit
    x, y = fpr[keep], pro[keep]
    if x[-1] < fpr_limit and keep.sum() < fpr.size:  # interpolate the point at the limit
        j = int(keep.sum())
        t = (fpr_limit - fpr[j - 1]) / (fpr[j] - fpr[j - 1])
        x, y = np.r_[x, fpr_limit], np.r_[y, pro[j - 1] + t * (pro[j] - pro[j - 1])]
    trapezoid = getattr(np, "trapezoid", None) or np.trapz  # numpy < 2 has only trapz
    return float(trapezoid(y, x) / fpr_limit)


register_metric(
    name="image_auroc",
    task="anomaly",
    definition="area under the ROC curve of per-image anomaly scores",
    settings="exact (rank statistic, ties count one half)",
    reference="sklearn.metrics.roc_auc_score",
)
register_metric(
    name="pixel_auroc",
    task="anomaly",
    definition="area under the ROC curve over all pixels of all test images",
    settings="exact; ground-truth masks binarised at > 0",
    reference="sklearn.metrics.roc_auc_score on flattened maps",
)
register_metric(
    name="f1_max",
    task="anomaly",
    definition="best F1 over all score thresholds",
    settings="every distinct score is a threshold (score >= t is anomalous)",
    reference="max F1 over sklearn.metrics.precision_recall_curve",
)
register_metric(
    name="pro",
    task="anomaly",
    definition="mean per-region overlap, integrated over the false-positive rate to 0.3, / 0.3",
    settings="regions = 8-connected components of each mask; FPR over normal pixels",
    reference="MVTec AD evaluation script (Bergmann et al. 2021) compute_pro",
)
