"""PSNR and SSIM as the restoration literature reports them.

SSIM is written here rather than taken from torchmetrics because it must match
skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False) exactly: an 11-tap Gaussian, population covariance, and the mean
taken over the window positions that do not touch the border (skimage's crop of 5 pixels), which
a 'valid' convolution gives directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .registry import register_metric

K1, K2, SIGMA, TAPS = 0.01, 0.03, 1.5, 11


def rgb_to_y(img: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """ITU-R BT.601 luma of [..., 3, H, W] RGB, in the same data range (MATLAB's rgb2ycbcr Y)."""
    w = img.new_tensor([65.481, 128.553, 24.966]).view(3, 1, 1) / 255.0
    offset = 16.0 / 255.0 * data_range
    return (img * w).sum(-3, keepdim=True) + offset


def crop_border(img: torch.Tensor, n: int) -> torch.Tensor:
    return img[..., n:-n, n:-n] if n > 0 else img


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """PSNR of each image of a batch [N,C,H,W] (or one [C,H,W]); average these, never pooled MSE."""
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    mse = (pred.double() - target.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def _gaussian_window(device, dtype) -> torch.Tensor:
    x = torch.arange(TAPS, dtype=dtype, device=device) - (TAPS - 1) / 2
    g = torch.exp(-(x**2) / (2 * SIGMA**2))
    return g / g.sum()


def _blur_valid(t: torch.Tensor, scipy: bool | None = None) -> torch.Tensor:
    """Separable Gaussian blur of [M,C,H,W] float64, keeping only the positions that do not
    touch the border. On CPU through scipy.ndimage (what skimage uses; torch's float64 conv2d
    is several times slower there), elsewhere through conv2d; the two agree to 1e-15."""
    pad = TAPS // 2
    if scipy is None:
        scipy = t.device.type == "cpu" and not t.requires_grad
    if scipy:
        from scipy.ndimage import correlate1d

        g = _gaussian_window(t.device, t.dtype).numpy()
        a = correlate1d(t.numpy(), g, axis=-2)[..., pad:-pad, :]
        return torch.from_numpy(correlate1d(a, g, axis=-1)[..., pad:-pad])
    c = t.shape[1]
    g = _gaussian_window(t.device, t.dtype)
    gx = g.view(1, 1, 1, TAPS).repeat(c, 1, 1, 1)
    gy = g.view(1, 1, TAPS, 1).repeat(c, 1, 1, 1)
    return F.conv2d(F.conv2d(t, gx, groups=c), gy, groups=c)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of each image [N,C,H,W] (channels averaged), Wang et al. 2004 settings."""
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    x, y = pred.double(), target.double()
    n, c, h, w = x.shape
    if min(h, w) < TAPS:
        raise ValueError(f"SSIM needs images of at least {TAPS}x{TAPS}, got {h}x{w}")
    mx, my, exx, eyy, exy = _blur_valid(torch.cat([x, y, x * x, y * y, x * y])).split(n)
    sxx = exx - mx * mx
    syy = eyy - my * my
    sxy = exy - mx * my
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


register_metric(
    name="psnr",
    task="restoration",
    definition="10 log10(MAX^2 / MSE), per image, then averaged over images",
    settings="data range 1.0 (images in [0,1]); RGB unless _y; SR crops a border of `scale` px",
    reference="skimage.metrics.peak_signal_noise_ratio",
    equation=5,
)
register_metric(
    name="ssim",
    task="restoration",
    definition="mean structural similarity (luminance, contrast, structure), per image, averaged",
    settings="11-tap Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population covariance",
    reference="skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, "
    "use_sample_covariance=False)",
    equation=6,
)
register_metric(
    name="psnr_y",
    task="restoration",
    definition="PSNR on the BT.601 luma (Y) channel, as super-resolution papers report it",
    settings="Y = 16/255 + (65.481 R + 128.553 G + 24.966 B)/255; border of `scale` px cropped",
    reference="MATLAB rgb2ycbcr + PSNR (the SR literature's convention)",
    equation=5,
)
register_metric(
    name="ssim_y",
    task="restoration",
    definition="SSIM on the BT.601 luma (Y) channel",
    settings="as ssim, on Y; border of `scale` px cropped",
    reference="skimage.metrics.structural_similarity on Y",
    equation=6,
)
