"""The restoration numbers a leaderboard ranks by, recomputed by hand from a trained run: psnr_y
of super-resolution (BT.601 luma, `scale` border pixels cropped, per-image PSNR averaged), the
bicubic baseline beside it, and an autoencoder's bpp and psnr_8bit_latent."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import visionbench as vb
from visionbench.data import imresize

SMALL = {"patches_per_image": 8, "patch_size": 32}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b) ** 2)))


def _luma(rgb: np.ndarray) -> np.ndarray:
    """[3,H,W] in [0,1] -> [H,W]: ITU-R BT.601 Y as MATLAB's rgb2ycbcr, rescaled to [0,1]."""
    r, g, b = rgb.astype(np.float64)
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b) / 255.0


@pytest.fixture(scope="module")
def sr_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sr")
    return vb.train(task="restoration", model="srcnn", data="photos", epochs=1, batch_size=8,
                    data_options=SMALL, task_options={"degradation": "sr:2"}, out=str(out),
                    quiet=True, threads=1)  # fmt: skip


def test_sr_scores_match_a_hand_computation(sr_run):
    model = vb.load_run(sr_run.run_dir)[3]
    test = vb.load_dataset("photos", "restoration", **SMALL).test
    rows = []
    for i in range(len(test)):
        clean = test[i][None]
        h, w = clean.shape[-2:]
        clean = clean[..., : h - h % 2, : w - w % 2]
        h, w = clean.shape[-2:]
        low = imresize.downscale(clean, 2)  # the papers' LR input (tested in test_imresize)
        with torch.no_grad():
            out = model(low).clamp(0, 1)
        bicubic = imresize.upscale(low, 2)  # the papers' bicubic baseline
        c, o, b = (t[0, :, 2:-2, 2:-2].numpy() for t in (clean, out, bicubic.clamp(0, 1)))
        rows.append(
            {
                "psnr": _psnr(o, c),
                "psnr_y": _psnr(_luma(o), _luma(c)),
                "bicubic_psnr_y": _psnr(_luma(b), _luma(c)),
            }
        )
    m = sr_run.metrics
    for k in rows[0]:
        hand = sum(r[k] for r in rows) / len(rows)
        assert m[k] == pytest.approx(hand, abs=1e-6), k
    assert m["psnr_y"] != pytest.approx(m["psnr"], abs=0.05)  # Y and RGB differ on photos


def _quantise_8bit(t: torch.Tensor) -> torch.Tensor:
    lo, hi = t.min(), t.max()  # uniform levels between the tensor's extremes
    step = (hi - lo) / 255
    return ((t - lo) / step).round().clamp(0, 255) * step + lo


def test_autoencoder_rate_and_8bit_psnr_match_a_hand_computation(dae_run):
    model = vb.load_run(dae_run.run_dir)[3]
    test = vb.load_dataset("photos", "restoration", patches_per_image=64, patch_size=32).test
    bpp, psnr8 = [], []
    for i in range(len(test)):
        clean = test[i][None]
        g = torch.Generator().manual_seed(1_000_003 + i)  # image i's noise, seeded by i alone
        noisy = clean + 25 / 255 * torch.randn(clean.shape, generator=g)
        h, w = clean.shape[-2:]
        padded = F.pad(noisy, (0, (-w) % 4, 0, (-h) % 4), mode="reflect")
        with torch.no_grad():
            latents = model.latents(padded)
            out = model.decode([_quantise_8bit(t) for t in latents])
        bits = sum(t.numel() * 8 + 64 for t in latents)  # 8 bits a value, min and max as floats
        bpp.append(bits / (padded.shape[-2] * padded.shape[-1]))
        psnr8.append(_psnr(out[0, :, :h, :w].clamp(0, 1).numpy(), clean[0].numpy()))
    m = dae_run.metrics
    assert m["bpp"] == pytest.approx(sum(bpp) / len(bpp), rel=1e-9)
    assert m["psnr_8bit_latent"] == pytest.approx(sum(psnr8) / len(psnr8), abs=1e-6)
