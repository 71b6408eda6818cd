"""PSNR and SSIM against scikit-image per image: RGB, BT.601 Y, border crop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from visionbench.metrics.image import crop_border, psnr, rgb_to_y, ssim


def _pairs(seed: int = 0):
    from skimage.data import astronaut

    rng = np.random.default_rng(seed)
    ref = astronaut()[100:164, 150:230].astype(np.float64) / 255  # 64x80 RGB
    noisy = np.clip(ref + rng.normal(0, (0.05, 0.1)[seed % 2], ref.shape), 0, 1)
    return ref, noisy


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None]


def test_psnr_of_a_constant_offset():
    x = torch.rand(2, 3, 16, 16) * 0.5
    # MSE = 0.1^2 -> PSNR = 10 log10(1 / 0.01) = 20 dB exactly
    np.testing.assert_allclose(psnr(x + 0.1, x).numpy(), [20.0, 20.0], atol=1e-9)
    assert psnr(x * 255 + 5, x * 255, data_range=255.0)[0].item() == pytest.approx(
        10 * math.log10(255**2 / 25)
    )


def test_psnr_is_per_image_not_pooled():
    a = torch.zeros(2, 1, 8, 8)
    b = a.clone()
    b[0] += 0.1
    b[1] += 0.01  # 20 dB and 40 dB: mean 30, pooled MSE would give ~23
    assert psnr(b, a).mean().item() == pytest.approx(30.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_rgb_psnr_ssim_match_skimage(seed):
    ref, noisy = _pairs(seed)
    p = psnr(_chw(noisy), _chw(ref)).item()
    assert p == pytest.approx(peak_signal_noise_ratio(ref, noisy, data_range=1.0), abs=1e-4)
    s = ssim(_chw(noisy), _chw(ref)).item()
    ref_s = structural_similarity(
        ref,
        noisy,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=2,
    )
    assert s == pytest.approx(ref_s, abs=1e-4)
    assert 0.2 < s < 0.99


def test_y_channel_with_border_crop_matches_skimage():
    from skimage.color import rgb2ycbcr

    ref, noisy = _pairs(0)
    y_ref = rgb2ycbcr(ref)[..., 0] / 255  # skimage's BT.601 Y in [16, 235] / 255
    y_noisy = rgb2ycbcr(noisy)[..., 0] / 255
    ours_ref = rgb_to_y(_chw(ref))
    np.testing.assert_allclose(ours_ref[0, 0].numpy(), y_ref, atol=1e-9)
    c = 4
    a = crop_border(rgb_to_y(_chw(noisy)), c)
    b = crop_border(ours_ref, c)
    assert a.shape[-2:] == (64 - 2 * c, 80 - 2 * c)
    yr, yn = y_ref[c:-c, c:-c], y_noisy[c:-c, c:-c]
    assert psnr(a, b).item() == pytest.approx(
        peak_signal_noise_ratio(yr, yn, data_range=1), abs=1e-4
    )
    ref_s = structural_similarity(
        yr, yn, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    assert ssim(a, b).item() == pytest.approx(ref_s, abs=1e-4)


def test_ssim_identical_images_is_one_and_too_small_is_an_error():
    x = torch.rand(1, 3, 20, 20)
    assert ssim(x, x).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="11x11"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_scipy_and_conv2d_paths_agree():
    from visionbench.metrics.image import _blur_conv, _blur_scipy

    t = torch.rand(3, 2, 20, 17, dtype=torch.float64)
    a, b = torch.from_numpy(_blur_scipy(t.numpy())), _blur_conv(t)
    assert a.shape == b.shape == (3, 2, 10, 7)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-14)
    x = torch.rand(10, 3, 24, 24, dtype=torch.float64)
    y = (x + 0.1 * torch.rand_like(x)).requires_grad_()  # autograd takes the conv2d path
    torch.testing.assert_close(ssim(x, y).detach(), ssim(x, y.detach()), rtol=0, atol=1e-12)
