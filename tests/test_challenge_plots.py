"""The challenge figures render (PNG bytes) and the learning-curve interval is the t interval."""

from __future__ import annotations

import math

import pytest
import torch

from visionbench.analysis import challenge_plots as cp

PNG = b"\x89PNG"


def test_t_interval_matches_the_textbook_formula():
    mean, lo, hi = cp.t_interval([0.80, 0.84, 0.88])
    # sd 0.04, n 3, t(0.975, 2) = 4.303: half width 4.303 * 0.04 / sqrt(3) = 0.0994
    assert mean == pytest.approx(0.84)
    assert hi - mean == pytest.approx(4.3027 * 0.04 / math.sqrt(3), rel=1e-3)
    assert lo == pytest.approx(2 * mean - hi)
    assert cp.t_interval([0.5]) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in cp.t_interval([]))


def test_every_figure_renders():
    table = {"fog": {1: 0.9, 2: 0.8, 3: 0.7}, "contrast": {1: 0.95, 2: float("nan"), 3: 0.5}}
    assert cp.corruption_heatmap_png(table, "accuracy", "t", clean=0.97).startswith(PNG)
    rows = [
        {"attack": a, "norm": "linf", "eps": e, "score": 1 - e * (2 if a == "pgd" else 1)}
        for a in ("fgsm", "pgd")
        for e in (0.0, 0.1, 0.2)
    ]
    assert cp.epsilon_png(rows, "accuracy", "t").startswith(PNG)
    imgs = torch.rand(3, 3, 8, 8)
    maps = {"grad-cam": torch.rand(3, 8, 8), "random": torch.rand(3, 8, 8)}
    png = cp.saliency_grid_png(imgs, maps, ["a", "b", "c"], "t", {"grad-cam": "del 0.1 / ins 0.9"})
    assert png.startswith(PNG)
    curve = {"lenet5": {0.1: [0.5, 0.6, 0.55], 1.0: [0.9, 0.92, 0.91]}, "vit": {0.1: [0.3]}}
    assert cp.learning_curve_png(curve, "accuracy", "t").startswith(PNG)
    bars = {"lenet5": {"aligned": 0.99, "conflicting": 0.4}}
    assert cp.group_bars_png(bars, "t").startswith(PNG)
