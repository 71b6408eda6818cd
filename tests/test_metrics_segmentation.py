"""mIoU, per-class IoU, pixel and class accuracy: hand-computed with ignored pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from visionbench.errors import VisionbenchError
from visionbench.metrics.segmentation import SegConfusion, seg_confusion, seg_scores


def test_hand_computed_with_ignored_pixels():
    target = torch.tensor([[0, 0, 1, 1], [2, 255, 255, 1]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 2, 3, 1]])  # ignored pixels predict anything
    cm = seg_confusion(pred, target, num_classes=4)
    assert int(cm.sum()) == 6
    out = seg_scores(cm)
    # class 0: I=1, U=3; class 1: I=3, U=4; class 2: I=0, U=1; class 3: empty union -> excluded
    assert out["per_class_iou"][:3] == pytest.approx([1 / 3, 3 / 4, 0.0])
    assert math.isnan(out["per_class_iou"][3])
    assert out["miou"] == pytest.approx((1 / 3 + 3 / 4 + 0) / 3)
    assert out["pixel_accuracy"] == pytest.approx(4 / 6)
    assert out["mean_class_accuracy"] == pytest.approx((1 / 2 + 1 + 0) / 3)


def test_dataset_wide_accumulation_is_not_a_mean_of_images():
    acc = SegConfusion(2)
    acc.update(torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 0, 0]))  # image mIoU 0.75/2
    acc.update(torch.tensor([1, 1]), torch.tensor([1, 1]))
    out = acc.compute()
    # dataset: class 0 I=3 U=4, class 1 I=2 U=3
    assert out["miou"] == pytest.approx((3 / 4 + 2 / 3) / 2)


def test_matches_sklearn_on_random_maps():
    from sklearn.metrics import confusion_matrix, jaccard_score

    rng = np.random.default_rng(0)
    t = rng.integers(0, 6, (3, 40, 50))
    p = rng.integers(0, 6, (3, 40, 50))
    t[rng.random(t.shape) < 0.1] = 255
    keep = t != 255
    cm = seg_confusion(torch.from_numpy(p), torch.from_numpy(t), 6)
    np.testing.assert_array_equal(cm.numpy(), confusion_matrix(t[keep], p[keep], labels=range(6)))
    ref = jaccard_score(t[keep], p[keep], average=None, labels=range(6))
    np.testing.assert_allclose(seg_scores(cm)["per_class_iou"], ref, atol=1e-12)


def test_out_of_range_class_is_a_clear_error():
    with pytest.raises(VisionbenchError, match="class 7"):
        seg_confusion(torch.tensor([7]), torch.tensor([0]), 3)
    with pytest.raises(VisionbenchError, match="pixels"):
        seg_confusion(torch.zeros(3), torch.zeros(4), 3)
