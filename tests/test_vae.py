"""VAE: the closed-form KL on known cases, the reparameterised gradient, ELBO bookkeeping,
learning on one batch, and the generation task's ELBO and reconstruction outputs."""

from __future__ import annotations

import math

import pytest
import torch

from visionbench.models.registry import MODELS, create_model
from visionbench.models.vae import gaussian_kl
from visionbench.tasks import vae as vae_task

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_kl_on_known_cases():
    zeros = torch.zeros(2, 3)
    assert torch.equal(gaussian_kl(zeros, zeros), torch.zeros(2))  # q is the prior
    # mean 1 in each of 3 dimensions, unit variance: 0.5 * 3 * 1^2
    assert gaussian_kl(torch.ones(1, 3), torch.zeros(1, 3)).item() == pytest.approx(1.5)
    # variance e (logvar 1), mean 0, one dimension: 0.5 * (e - 1 - 1)
    kl = gaussian_kl(torch.zeros(1, 1), torch.ones(1, 1)).item()
    assert kl == pytest.approx(0.5 * (math.e - 2))
    # against torch.distributions on random values
    mu, logvar = torch.randn(4, 5), torch.randn(4, 5)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(4, 5), torch.ones(4, 5))
    ref = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(gaussian_kl(mu, logvar), ref, atol=1e-5)


def test_elbo_terms_add_up_and_gradients_reach_the_encoder_through_the_sample():
    torch.manual_seed(0)
    assert MODELS.get("vae").family == "modern_autoencoder"
    net = create_model("vae", task="generation", in_chans=1, img_size=8)
    x = torch.rand(4, 1, 8, 8)
    t = net.elbo_terms(x)
    assert torch.allclose(t["elbo"], t["log_likelihood"] - t["kl"])
    assert (t["kl"] >= 0).all()
    # sigma 1 at init: log N(x; m, 1) = -0.5 (x - m)^2 - 0.5 log(2 pi) per pixel
    assert (t["log_likelihood"] < -64 * 0.5 * math.log(2 * math.pi) + 1e-4).all()
    net(x).backward()
    assert net.to_logvar.weight.grad.abs().sum() > 0  # only through z = mu + sigma * eps
    assert all(p.grad is not None for p in net.parameters())
    g = torch.Generator().manual_seed(0)
    assert net.sample(5, g).shape == (5, 1, 8, 8) and net.reconstruct(x).shape == x.shape


def test_overfits_one_batch_and_the_elbo_rises():
    torch.manual_seed(0)
    from visionbench.data.registry import load_dataset

    x = load_dataset("digits", "generation").train.images[:32]
    net = create_model("vae", task="generation", in_chans=1, img_size=8)
    before = vae_task.elbo_metrics(net, x)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(200):
        loss = net(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = vae_task.elbo_metrics(net, x)
    assert after["elbo"] > before["elbo"] + 5
    assert after["elbo_per_pixel"] == pytest.approx(after["elbo"] / 64)
    # reconstructions closer to the images than the mean image is
    rec_err = (net.reconstruct(x) - x).pow(2).mean()
    mean_err = (x.mean(0, keepdim=True) - x).pow(2).mean()
    assert rec_err < 0.5 * mean_err
