"""Corruption and adversarial studies through a probe (the task-agnostic evaluator hook)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from visionbench.analysis.robustness import adversarial_study, corruption_study


class ToyProbe:
    """Accuracy of a fixed random linear classifier on seeded images in two batches; the labels
    are its own clean predictions, so clean accuracy is 1."""

    metric, higher_is_better, bounded = "accuracy", True, True

    def __init__(self):
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 4)).eval()
        x = torch.rand(24, 3, 16, 16, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = self.net(x).argmax(1)
        self.batches = [(x[:12], y[:12]), (x[12:], y[12:])]
        self.calls = 0

    def score(self, transform=None):
        self.calls += 1
        right = 0
        for i, (x, y) in enumerate(self.batches):
            xi = transform(x, (x, y), i) if transform else x
            with torch.no_grad():
                right += int((self.net(xi).argmax(1) == y).sum())
        return {"accuracy": right / 24}

    def loss(self, batch):
        y = batch[1]
        return lambda x: F.cross_entropy(self.net(x), y, reduction="none")


def test_corruption_study_fills_the_table_and_scores_against_a_reference():
    p = ToyProbe()
    s = corruption_study(p, ("gaussian_noise", "contrast"), (1, 5))
    assert s["clean"] == 1.0 and set(s["table"]) == {"gaussian_noise", "contrast"}
    assert s["table"]["gaussian_noise"][5] < s["table"]["gaussian_noise"][1] <= 1.0
    assert s["table"]["contrast"][5] < s["table"]["contrast"][1] < 1.0
    assert set(s["table"]["contrast"]) == {1, 5}
    assert p.calls == 1 + 2 * 2
    assert s["errors"]["mean_error"] == pytest.approx(
        sum(1 - v for row in s["table"].values() for v in row.values()) / 4
    )
    again = corruption_study(ToyProbe(), ("gaussian_noise", "contrast"), (1, 5))
    assert again["table"] == s["table"]  # seeded
    ref = json.loads(json.dumps(s))  # a reference read back from challenges.json
    ref["name"] = "itself"
    vs = corruption_study(ToyProbe(), ("gaussian_noise", "contrast"), (1, 5), reference=ref)
    assert all(v == pytest.approx(1.0) for v in vs["errors"]["ce"].values())
    assert vs["errors"]["mce"] == pytest.approx(1.0)
    assert vs["errors"]["reference"] == "itself"


def test_adversarial_study_starts_clean_and_falls():
    p = ToyProbe()
    s = adversarial_study(p, {"linf": [0.0, 0.05, 0.3]}, steps=5)
    pgd = [r["score"] for r in s["rows"] if r["attack"] == "pgd"]
    fgsm = [r["score"] for r in s["rows"] if r["attack"] == "fgsm"]
    assert pgd[0] == fgsm[0] == 1.0
    assert pgd[-1] < 0.5 and pgd[-1] <= fgsm[-1]


def test_the_robust_metric_is_the_worst_attack_at_each_epsilon():
    from visionbench.analysis.robustness import worst_attack

    rows = [
        {"attack": "fgsm", "norm": "linf", "eps": 0.0, "score": 30.0},
        {"attack": "fgsm", "norm": "linf", "eps": 0.03, "score": 27.5},  # FGSM hurts more
        {"attack": "pgd", "norm": "linf", "eps": 0.0, "score": 30.0},
        {"attack": "pgd", "norm": "linf", "eps": 0.03, "score": 28.0},
        {"attack": "pgd", "norm": "linf", "eps": 0.01, "score": 29.0},
        {"attack": "pgd", "norm": "l2", "eps": 0.5, "score": 1.0},  # another norm: not mixed in
    ]
    assert worst_attack(rows, higher_is_better=True) == [
        {"eps": 0.0, "score": 30.0, "attack": "fgsm"},
        {"eps": 0.01, "score": 29.0, "attack": "pgd"},
        {"eps": 0.03, "score": 27.5, "attack": "fgsm"},
    ]
    lower = worst_attack(rows, higher_is_better=False)  # an error metric: the highest is worst
    assert [(w["eps"], w["attack"]) for w in lower] == [(0.0, "fgsm"), (0.01, "pgd"), (0.03, "pgd")]
