"""Generation (issue 7): FID/IS closed forms, DDPM noising and samplers, RePaint, DCGAN/DDPM steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.config import TrainConfig
from visionbench.metrics import generation as gm
from visionbench.models.diffusion import GaussianDiffusion
from visionbench.models.registry import create_model
from visionbench.tasks.base import StepContext


def test_frechet_distance_closed_form():
    d = 16
    mu1, s1 = np.zeros(d), np.eye(d)
    mu2, s2 = np.full(d, 0.5), 4 * np.eye(d)
    # 16 * 0.25 + 16 * (1 + 4 - 2 * 2) = 20
    assert gm.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(20.0, abs=1e-9)


def test_frechet_distance_matches_scipy_sqrtm_and_survives_singular_covariances():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a = rng.normal(size=(300, 12))
    b = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) * 0.3 + 1
    (m1, s1), (m2, s2) = gm.feature_stats(a), gm.feature_stats(b)
    ref = (m1 - m2) @ (m1 - m2) + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real)
    assert gm.frechet_distance(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-9)
    a[:, :3] = 0  # dead features: singular covariances
    assert np.isfinite(gm.fid_from_features(a, b)) and gm.fid_from_features(a, a) == pytest.approx(
        0, abs=1e-6
    )


def test_fid_of_samples_is_near_zero_for_same_distribution_and_uses_n_minus_1():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 4))
    assert gm.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    mu, cov = gm.feature_stats(np.array([[0.0], [2.0]]))
    assert cov[0, 0] == pytest.approx(2.0)  # (1 + 1) / (2 - 1), not / 2
    b = rng.normal(loc=1.0, size=(4000, 4))
    assert gm.fid_from_features(a, b) == pytest.approx(4.0, abs=0.3)


def test_inception_score_extremes():
    k = 10
    one_hot = np.eye(k)[np.arange(1000) % k]
    assert gm.inception_score(one_hot, splits=1)[0] == pytest.approx(k, rel=1e-9)
    # 10 seeded splits: each split's classes are not exactly balanced, so a bit under k
    ten = gm.inception_score(one_hot)
    assert 9 < ten[0] < k and ten[1] > 0 and ten == gm.inception_score(one_hot)
    uniform = np.full((1000, k), 1 / k)
    assert gm.inception_score(uniform)[0] == pytest.approx(1.0, abs=1e-9)
    one_class = np.eye(k)[np.zeros(1000, dtype=int)]
    assert gm.inception_score(one_class)[0] == pytest.approx(1.0, abs=1e-6)


def test_forward_noising_matches_closed_form():
    diff = GaussianDiffusion(1000)
    betas = np.linspace(1e-4, 0.02, 1000)
    abar = np.cumprod(1 - betas)
    x0 = torch.randn(5, 1, 4, 4)
    noise = torch.randn(5, 1, 4, 4)
    t = torch.tensor([0, 10, 500, 998, 999])
    got = diff.q_sample(x0, t, noise)
    a = torch.tensor(abar[t.numpy()], dtype=torch.float32).view(-1, 1, 1, 1)
    want = a.sqrt() * x0 + (1 - a).sqrt() * noise
    assert torch.allclose(got, want, atol=1e-5)
    assert abar[-1] == pytest.approx(4.04e-5, rel=0.01)  # Ho et al.'s schedule ends near pure noise


def _tiny_ddpm(size=8):
    torch.manual_seed(0)
    return create_model("ddpm", task="generation", in_chans=1, img_size=size, width=16).eval()


def test_ddim_eta0_is_deterministic_and_ddpm_is_not_without_its_seed():
    m = _tiny_ddpm()
    a = m.sample(4, torch.Generator().manual_seed(7), steps=5, eta=0.0)
    b = m.sample(4, torch.Generator().manual_seed(7), steps=5, eta=0.0)
    c = m.sample(4, torch.Generator().manual_seed(8), steps=5, eta=0.0)
    assert a.shape == (4, 1, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    # eta = 1 adds fresh noise at every step, so the same start gives another image
    d = m.sample(4, torch.Generator().manual_seed(7), steps=5, eta=1.0)
    assert not torch.equal(a, d)


def test_timesteps_cover_the_schedule():
    diff = GaussianDiffusion(1000)
    ts = diff.timesteps(50)
    assert ts[0] == 999 and ts[-1] == 0 and len(ts) == 50 and ts == sorted(ts, reverse=True)
    assert len(diff.timesteps(5000)) == 1000


@pytest.mark.parametrize("size", [8, 25])
def test_repaint_leaves_known_pixels_unchanged(size):
    from visionbench.tasks.inpainting import box_mask

    m = _tiny_ddpm(size)
    images = torch.rand(3, 1, size, size)
    keep = box_mask(3, size, size)
    out = m.inpaint(images, keep, torch.Generator().manual_seed(0), steps=4, resample=2)
    assert out.shape == images.shape
    assert torch.equal(out * keep, images * keep)
    assert not torch.allclose(out * (1 - keep), images * (1 - keep))


@pytest.mark.parametrize("name", ["dcgan", "ddpm"])
@pytest.mark.parametrize("size,chans", [(8, 1), (25, 3)])
def test_generators_forward_backward_two_sizes(name, size, chans):
    torch.manual_seed(0)
    m = create_model(name, task="generation", in_chans=chans, img_size=size)
    x = torch.rand(4, chans, size, size)
    if name == "dcgan":
        fake = m.generate(torch.randn(4, m.z_dim))
        assert fake.shape == x.shape
        loss = m.discriminator(fake).mean() - m.discriminator(x).mean()
    else:
        loss = m(x)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    assert m.sample(2, torch.Generator().manual_seed(0), steps=3, eta=0.0).shape == (
        2,
        chans,
        size,
        size,
    )


@pytest.fixture
def digits_task(tmp_path, monkeypatch):
    from visionbench.data.registry import load_dataset
    from visionbench.models.registry import MODELS
    from visionbench.tasks.generation import Generation

    monkeypatch.setenv("VISIONBENCH_CACHE", str(tmp_path))
    opts = {"n_samples": 200, "steps": 3, "inpaint": "none"}
    task = Generation(TrainConfig(task="generation", model="dcgan", task_options=opts))
    bundle = task.prepare(load_dataset("digits", "generation"), MODELS.get("dcgan"))
    return task, bundle


def test_domain_classifier_is_accurate_and_cached(digits_task, tmp_path):
    task, bundle = digits_task
    m = task.evaluate(_tiny_ddpm(), bundle.test, torch.device("cpu"))
    assert m["real_accuracy"] > 0.9
    assert list((tmp_path / "domain_classifiers").glob("digits_split0_*.safetensors"))
    # the real test images themselves score far better than the Gaussian baseline sampler
    real = task.scores(bundle.test.images[:180], bundle.test.images[180:])
    assert real["fid_domain"] < 0.5 * m["baseline_fid_domain"]
    assert m["n_samples"] == 200 and m["baseline_confident_share"] < real["confident_share"]


def test_gan_step_trains_both_networks(digits_task):
    task, bundle = digits_task
    torch.manual_seed(0)
    model = task.build_model(type("S", (), {"name": "dcgan"})(), bundle.info)
    from visionbench.models.registry import Recipe

    task.set_recipe(Recipe(optimizer="adam", lr=2e-4))
    opts = task.optimizers(model, task.recipe)
    ctx = StepContext(opts, [None, None], None, torch.device("cpu"), "fp32")
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator_net.parameters()]
    stats = task.train_step(ctx, model, (bundle.train.images[:16], bundle.train.labels[:16]))
    assert stats["d_loss"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator_net.parameters()))


@pytest.mark.parametrize("name", ["dcgan", "ddpm"])
def test_samples_come_from_the_moving_average(name):
    torch.manual_seed(0)
    m = create_model(name, task="generation", in_chans=1, img_size=8)
    live = m.unet if name == "ddpm" else m.generator
    ema = m.ema if name == "ddpm" else m.generator_ema
    with torch.no_grad():
        for p in live.parameters():
            p.add_(1.0)
    before = [e.clone() for e in ema.parameters()]
    m.update_ema()  # first update: decay (1 + 0) / (10 + 0) = 0.1, so the EMA moves 90% of the way
    moved = [(e - b).mean().item() for e, b in zip(ema.parameters(), before)]
    assert all(x == pytest.approx(0.9, abs=1e-5) for x in moved)
    assert not any(p.requires_grad for p in ema.parameters())
