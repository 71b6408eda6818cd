"""Anomaly metrics against scikit-learn and a hand-computed PRO."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score

from visionbench.errors import VisionbenchError
from visionbench.metrics.anomaly import auroc, f1_max, pixel_auroc, pro_score


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    s = np.round(rng.random(500) + 0.4 * y, 1)  # rounded: many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    maps = rng.random((4, 16, 16))
    masks = maps + rng.normal(0, 0.3, maps.shape) > 0.8
    assert pixel_auroc(masks, maps) == pytest.approx(roc_auc_score(masks.ravel(), maps.ravel()))


def test_f1_max_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.random(300) < 0.2
    s = np.round(rng.random(300) + 0.5 * y, 2)
    p, r, thr = precision_recall_curve(y, s)
    f1 = np.where(p + r > 0, 2 * p * r / np.maximum(p + r, 1e-300), 0)[:-1]
    out = f1_max(y, s)
    assert out["f1_max"] == pytest.approx(f1.max(), abs=1e-12)
    assert out["threshold"] == pytest.approx(thr[f1.argmax()])


def test_pro_hand_computed():
    # one region of 2 pixels, 8 normal pixels. Descending scores: region px (pro .5), normal
    # (fpr 1/8), region px (pro 1), then the other normals. Curve: (0,.5) (1/8,.5) (1/8,1)...
    gt = np.zeros((1, 2, 5), int)
    gt[0, 0, :2] = 1
    amap = np.zeros((1, 2, 5))
    amap[0, 0, :2] = [0.9, 0.7]
    amap[0, 0, 2] = 0.8
    amap[0, 1, :] = 0.1 * np.arange(5)  # 0 .. 0.4, below the region
    amap[0, 0, 3:] = [0.05, 0.06]
    area = 0.5 * (1 / 8) + 1.0 * (0.3 - 1 / 8)
    assert pro_score(gt, amap) == pytest.approx(area / 0.3)
    perfect = gt * 1.0
    assert pro_score(gt, perfect) == pytest.approx(1.0)


def test_one_class_only_is_an_error():
    with pytest.raises(VisionbenchError, match="both"):
        auroc(np.ones(4), np.arange(4))
