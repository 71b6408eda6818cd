"""Restoration models (issue 7): shapes at two sizes, gradients, GAN steps, inpainting, compression."""

from __future__ import annotations

import pytest
import torch

from visionbench.config import TrainConfig
from visionbench.models.registry import create_model
from visionbench.tasks import compression
from visionbench.tasks.base import StepContext
from visionbench.tasks.restoration import Restoration, parse_degradation

SR_MODELS = ["srcnn", "edsr", "unet_attention", "srgan", "sr3"]


def _params_grad(model) -> bool:
    return any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("name", SR_MODELS + ["dae"])
@pytest.mark.parametrize("scale", [1, 2])
def test_forward_backward_two_sizes(name, scale):
    if name == "dae" and scale > 1:
        pytest.skip("the denoising autoencoder keeps the size")
    torch.manual_seed(0)
    kw = {"scale": scale} if scale > 1 else {}
    model = create_model(name, task="restoration", **kw)
    for size in (16, 24):
        x = torch.rand(2, 3, size, size)
        y = torch.rand(2, 3, size * scale, size * scale)
        model.zero_grad()
        if getattr(model, "returns_loss", False):
            loss = model(x, y)
        else:
            out = model(x)
            assert out.shape == y.shape
            loss = (out - y).abs().mean()
        loss.backward()
        assert torch.isfinite(loss) and _params_grad(model)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 16, 16)).shape == (1, 3, 16 * scale, 16 * scale)


def test_sr3_restores_deterministically():
    torch.manual_seed(0)
    m = create_model("sr3", task="restoration", scale=2, sample_steps=3).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        a, b = m(x), m(x)
    assert a.shape == (1, 3, 16, 16) and torch.equal(a, b)


def _task(degradation: str) -> Restoration:
    return Restoration(TrainConfig(task="restoration", task_options={"degradation": degradation}))


def test_parse_degradation_rejects_nonsense():
    assert parse_degradation("inpaint:strokes") == ("inpaint", "strokes")
    assert parse_degradation("sr:3") == ("sr", 3.0)
    with pytest.raises(Exception, match="degradation"):
        parse_degradation("inpaint:circle")
    with pytest.raises(Exception, match="degradation"):
        parse_degradation("blur:2")


@pytest.mark.parametrize("mask", ["box", "strokes"])
def test_inpainting_keeps_known_pixels(mask):
    torch.manual_seed(0)
    task = _task(f"inpaint:{mask}")
    model = create_model("unet_attention", task="restoration", extra_in=1).eval()
    torch.nn.init.normal_(model.head.weight, std=0.1)  # the head starts at zero; make it paint
    clean = torch.rand(1, 3, 36, 44)
    degraded = task.degrade(clean, torch.Generator().manual_seed(0), test=True)
    keep = degraded[:, 3:]
    assert 0 < keep.mean() < 1  # there is a hole and there are known pixels
    with torch.no_grad():
        out = task.restore(model, degraded)
    assert torch.equal(out * keep, clean * keep)  # exactly unchanged outside the hole
    assert not torch.equal(out * (1 - keep), clean * 0)  # and something was painted inside


def test_untrained_inpainting_unet_starts_exactly_at_the_mean_fill_baseline():
    """Issue 20: a zero-filled hole started the U-Net far below the mean fill, and 4 quick
    epochs ended 0.16 dB under it; from the mean fill, training can only add to it."""
    task = _task("inpaint:box")
    model = create_model("unet_attention", task="restoration", extra_in=1).eval()
    clean = torch.rand(2, 3, 32, 40)
    degraded = task.degrade(clean, torch.Generator().manual_seed(0), test=True)
    with torch.no_grad():
        out = task.restore(model, degraded)
    assert torch.allclose(out, task.baseline_output(degraded).clamp(0, 1), atol=1e-6)
    assert not torch.allclose(out, clean)  # the hole is the mean, not the truth


@pytest.mark.parametrize("name", ["srcnn", "unet_attention"])
def test_untrained_residual_models_start_exactly_at_bicubic(name):
    from visionbench.tasks.restoration import upscale

    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        out = create_model(name, task="restoration", scale=2).eval()(x)
    assert torch.allclose(out.clamp(0, 1), upscale(x, 2), atol=1e-6)


def test_gan_step_updates_generator_and_discriminator():
    torch.manual_seed(0)
    task = _task("sr:2")
    task.n_train = 4
    model = create_model("srgan", task="restoration", scale=2)
    opts = task.optimizers(model, task.recipe)
    assert len(opts) == 2
    ctx = StepContext(opts, [None, None], None, torch.device("cpu"), "fp32")
    ctx.step = 10**6  # past the pixel-loss warm start, so the adversarial term is on
    g0 = [p.clone() for p in model.generator.parameters()]
    d0 = [p.clone() for p in model.discriminator.parameters()]
    clean = torch.rand(4, 3, 32, 32)
    stats = task.train_step(ctx, model, (task.degrade(clean, torch.Generator()), clean))
    assert stats["adv"] > 0 and stats["d_loss"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.generator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.discriminator.parameters()))


def test_autoencoder_rate_grows_with_bits_and_quantisation_is_close():
    torch.manual_seed(0)
    m = create_model("dae", task="restoration").eval()
    x = torch.rand(1, 3, 32, 32)
    out8, r8 = compression.code_at(m, x, 8)
    out2, r2 = compression.code_at(m, x, 2)
    # dae code: 64 channels at 1/4 resolution -> 64 * 8 / 16 = 32 bits per pixel (+ the ranges)
    assert r8 == pytest.approx(32 + 64 / 1024) and r2 < r8
    with torch.no_grad():
        full = m(x)
    assert (out8 - full).abs().max() < (out2 - full).abs().max()
    t = torch.linspace(-3, 5, 1000)
    assert (compression.quantise(t, 8) - t).abs().max() <= 8 / 255 / 2 + 1e-6


def test_restoration_evaluate_reports_baseline_and_bpp():
    from visionbench.data.tensors import ImageListSet

    torch.manual_seed(0)
    task = _task("noise:25")
    model = create_model("dae", task="restoration").eval()
    data = ImageListSet([torch.rand(3, 24, 36), torch.rand(3, 36, 24)])
    m = task.evaluate(model, data, torch.device("cpu"))
    assert {"psnr", "noisy_psnr", "psnr_y", "bpp", "psnr_8bit_latent"} <= set(m)
    assert 19 < m["noisy_psnr"] < 21.5  # sigma 25 on the 0-255 scale is about 20.2 dB


def test_sr_scores_shipped_lr_and_gray_files_like_the_papers(tmp_path):
    """An SR-pairs folder is scored on its own LR images (here deliberately not the bicubic
    downscaling of the HR), and a one-channel file's Y is the image itself (no 16-235 range)."""
    import numpy as np
    from PIL import Image

    from visionbench.data.imresize import upscale as matlab_up
    from visionbench.data.registry import load_dataset
    from visionbench.metrics.image import crop_border, psnr, rgb_to_y

    rng = np.random.default_rng(0)
    folder = tmp_path / "image_SRF_2"
    folder.mkdir()
    hr = {i: rng.integers(0, 256, (16, 20, 3), dtype=np.uint8) for i in (1, 2, 3)}
    hr[3] = hr[3][..., 0]  # a grayscale file
    for i, a in hr.items():
        Image.fromarray(a).save(folder / f"img_{i:03d}_SRF_2_HR.png")
        lr = rng.integers(0, 256, (8, 10, 3), dtype=np.uint8)  # unrelated to the HR on purpose
        Image.fromarray(lr if a.ndim == 3 else lr[..., 0]).save(
            folder / f"img_{i:03d}_SRF_2_LR.png"
        )
    bundle = load_dataset(f"sr-pairs:{tmp_path}", "restoration", all_test=True, scale=2)
    assert "own LR images" in bundle.info.split
    task = _task("sr:2")
    model = create_model("srcnn", task="restoration", scale=2).eval()  # starts exactly at bicubic
    rows = task.image_scores(model, bundle.test, torch.device("cpu"))
    for i, row in enumerate(rows):
        lr = bundle.test.lr_image(i)[None]
        clean = bundle.test[i][None]
        up = crop_border(matlab_up(lr, 2), 2)
        c = crop_border(clean, 2)
        gray = i == 2
        want = psnr(up[:, :1], c[:, :1]) if gray else psnr(rgb_to_y(up), rgb_to_y(c))
        assert row["bicubic_psnr_y"] == pytest.approx(float(want[0]), abs=1e-9)
        assert row["psnr_y"] == pytest.approx(row["bicubic_psnr_y"], abs=1e-4)


def test_load_state_restores_the_degradation():
    """A reloaded run (eval, predict) gets its degradation back from its state, whether saved
    in task_state.json or, for older runs, among config.yaml's task options."""
    task = _task("noise:25")
    task.load_state({"degradation": "sr:4"})
    assert (task.kind, task.scale, task.ranking_metric) == ("sr", 4, "psnr_y")
