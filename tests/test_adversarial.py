"""FGSM and PGD through a loss function: epsilon balls, strength, and agreement with the
adversarial-robustness-toolbox where it is installed. Offline, seeded, seconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from visionbench.analysis.adversarial import epsilon_curve, fgsm, pgd, project
from visionbench.errors import VisionbenchError


@pytest.fixture(scope="module")
def fixed_model():
    """A one-hidden-layer MLP fitted full-batch on 1,200 real 8x8 digits (seeded, ~1 s), and
    300 held-out digits it classifies at about 95%."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16, dtype=torch.float32).view(-1, 1, 8, 8)
    y = torch.tensor(d.target)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(net(x[:1200]), y[:1200]).backward()
        opt.step()
    net.eval().requires_grad_(False)
    xt, yt = x[1200:1500], y[1200:1500]
    assert (net(xt).argmax(1) == yt).float().mean() > 0.9
    return net, xt, yt


def loss_and_acc(net, y):
    return (
        lambda x: F.cross_entropy(net(x), y, reduction="none"),
        lambda x: float((net(x).argmax(1) == y).float().mean()),
    )


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
def test_pgd_stays_in_the_epsilon_ball_and_the_image_range(fixed_model, norm, eps):
    net, x, y = fixed_model
    loss, _ = loss_and_acc(net, y)
    for random_init in (True, False):
        adv = pgd(x, loss, eps, norm, steps=7, random_init=random_init, seed=3)
        d = (adv - x).flatten(1)
        size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
        assert (size <= eps + 1e-5).all()
        assert size.max() > 0.9 * eps  # it uses the budget
        assert adv.min() >= 0 and adv.max() <= 1
    one = fgsm(x, loss, eps, norm).sub(x).flatten(1)
    assert ((one.abs().amax(1) if norm == "linf" else one.norm(dim=1)) <= eps + 1e-5).all()


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 0.5)])
def test_pgd_beats_fgsm_and_both_beat_clean(fixed_model, norm, eps):
    net, x, y = fixed_model
    loss, acc = loss_and_acc(net, y)
    clean, one, many = acc(x), acc(fgsm(x, loss, eps, norm)), acc(pgd(x, loss, eps, norm, steps=20))
    assert many < one < clean
    assert one - many > 0.02  # measured 0.44 vs 0.39 (L-inf 0.1), 0.61 vs 0.43 (L2 0.5)


def test_pgd_is_seeded_and_eps_zero_is_the_clean_input(fixed_model):
    net, x, y = fixed_model
    loss, _ = loss_and_acc(net, y)
    a, b = pgd(x, loss, 0.1, seed=1), pgd(x, loss, 0.1, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, pgd(x, loss, 0.1, seed=2))
    assert torch.equal(pgd(x, loss, 0.0), x) and torch.equal(fgsm(x, loss, 0.0), x)


def test_epsilon_curve_falls_with_epsilon(fixed_model):
    net, x, y = fixed_model
    loss, acc = loss_and_acc(net, y)
    rows = epsilon_curve(x, loss, acc, (0.0, 0.05, 0.1, 0.2), attacks=("pgd",), steps=5)
    scores = [r["score"] for r in rows]
    assert scores[0] == pytest.approx(acc(x))
    assert all(b <= a for a, b in zip(scores, scores[1:])) and scores[-1] < 0.1


def test_any_loss_works_a_per_pixel_one_included():
    """A segmentation-style loss (per-pixel cross-entropy of a 1x1 conv) attacks just as well."""
    torch.manual_seed(0)
    seg = nn.Conv2d(3, 4, 3, padding=1)
    x = torch.rand(2, 3, 16, 16)
    target = seg(x).argmax(1)
    loss = lambda z: F.cross_entropy(seg(z), target, reduction="none").flatten(1).mean(1)  # noqa: E731
    adv = pgd(x, loss, 8 / 255, steps=5)
    assert loss(adv).mean() > loss(x).mean()


def test_projection_and_errors():
    d = torch.tensor([[[[3.0, 4.0]]]])
    torch.testing.assert_close(project(d, 1.0, "l2"), d / 5)
    torch.testing.assert_close(project(d, 1.0, "linf"), torch.ones_like(d))
    with pytest.raises(VisionbenchError, match="norm"):
        fgsm(torch.rand(1, 1, 2, 2), lambda z: z.sum(), 0.1, "l1")
    with pytest.raises(VisionbenchError, match="step"):
        pgd(torch.rand(1, 1, 2, 2), lambda z: z.sum(), 0.1, steps=0)


@pytest.mark.parametrize("norm,eps", [("linf", 0.1), ("l2", 1.0)])
def test_pgd_matches_the_adversarial_robustness_toolbox(fixed_model, norm, eps):
    """Same model, same eps, step and step count, no random start: same robust accuracy."""
    pytest.importorskip("art")
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    net, x, y = fixed_model
    loss, acc = loss_and_acc(net, y)
    clf = PyTorchClassifier(
        net, loss=nn.CrossEntropyLoss(), input_shape=(1, 8, 8), nb_classes=10, clip_values=(0, 1)
    )
    theirs = ProjectedGradientDescentPyTorch(
        clf,
        norm=np.inf if norm == "linf" else 2,
        eps=eps,
        eps_step=eps / 4,
        max_iter=10,
        num_random_init=0,
        batch_size=len(x),
        verbose=False,
    ).generate(x.numpy(), y=y.numpy())
    ours = pgd(x, loss, eps, norm, steps=10, step_size=eps / 4, random_init=False)
    assert acc(ours) == pytest.approx(acc(torch.from_numpy(theirs)), abs=1 / len(x))
    assert np.abs(ours.numpy() - theirs).max() < 1e-4
