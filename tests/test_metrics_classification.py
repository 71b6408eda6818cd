"""Classification metrics against scikit-learn on seeded problems, incl. classes never predicted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from visionbench.metrics.classification import (
    confusion_matrix,
    scores_from_confusion,
    topk_accuracy,
)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    k = 7
    y = rng.integers(0, k, 200)
    pred = np.where(rng.random(200) < 0.6, y, rng.integers(0, k, 200))
    pred[pred == 3] = 4  # class 3 is never predicted
    y[y == 6] = 5  # class 6 never occurs in the targets
    labels = list(range(k))
    cm = confusion_matrix(torch.tensor(y), torch.tensor(pred), k)
    np.testing.assert_array_equal(cm.numpy(), skm.confusion_matrix(y, pred, labels=labels))
    out = scores_from_confusion(cm)
    assert out["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    for name, fn in (
        ("precision", skm.precision_score),
        ("recall", skm.recall_score),
        ("f1", skm.f1_score),
    ):
        for avg in ("micro", "macro", "weighted"):
            ref = fn(y, pred, labels=labels, average=avg, zero_division=0)
            assert out[f"{name}_{avg}"] == pytest.approx(ref, abs=1e-12), (name, avg)
        ref = fn(y, pred, labels=labels, average=None, zero_division=0)
        np.testing.assert_allclose(out[f"per_class_{name}"], ref, atol=1e-12)
    assert out["per_class_precision"][3] == 0.0 and out["per_class_recall"][6] == 0.0


def test_topk_matches_sklearn():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(300, 10))
    y = rng.integers(0, 10, 300)
    for k in (1, 3, 5):
        ref = skm.top_k_accuracy_score(y, logits, k=k, labels=range(10))
        assert topk_accuracy(torch.tensor(logits), torch.tensor(y), k) == pytest.approx(ref)


def test_confusion_matrix_plot(tmp_path):
    from visionbench.viz.plots import confusion_matrix_png

    cm = confusion_matrix(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 2, 1]), 3)
    path = confusion_matrix_png(cm, ["a", "b", "c"], tmp_path / "cm.png")
    assert path.exists() and path.read_bytes()[:4] == b"\x89PNG"


def test_a_200_class_confusion_matrix_is_a_bounded_picture(tmp_path):
    """Tiny ImageNet's 200 classes drew a 10,000-pixel square with 40,000 labels (1.5 GB, a
    minute); above 30 classes the picture keeps a fixed size and names every n-th class."""
    from PIL import Image

    from visionbench.viz.plots import confusion_matrix_png

    g = torch.Generator().manual_seed(0)
    y, p = torch.randint(0, 200, (2000,), generator=g), torch.randint(0, 200, (2000,), generator=g)
    names = [f"n{i:08d}" for i in range(200)]
    path = confusion_matrix_png(confusion_matrix(y, p, 200), names, tmp_path / "cm.png")
    w, h = Image.open(path).size
    assert max(w, h) < 2000  # 12 inches at 110 dpi, plus the labels
    small = confusion_matrix_png(
        confusion_matrix(y % 10, p % 10, 10), names[:10], tmp_path / "s.png"
    )
    assert Image.open(small).size[0] < Image.open(path).size[0]
