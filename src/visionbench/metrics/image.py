"""PSNR and SSIM as the restoration literature reports them.

SSIM is written here rather than taken from torchmetrics because it must match
skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
use_sample_covariance=False) exactly: an 11-tap Gaussian, population covariance, and the mean
taken over the window positions that do not touch the border (skimage's crop of 5 pixels), which
a 'valid' convolution gives directly.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .registry import register_metric

K1, K2, SIGMA, TAPS = 0.01, 0.03, 1.5, 11


def rgb_to_y(img: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """ITU-R BT.601 luma of [..., 3, H, W] RGB, in the same data range (MATLAB's rgb2ycbcr Y)."""
    w = img.new_tensor([65.481, 128.553, 24.966]).view(3, 1, 1) / 255.0
    offset = 16.0 / 255.0 * data_range
    return (img * w).sum(-3, keepdim=True) + offset


def luma(img: torch.Tensor, gray: bool = False) -> torch.Tensor:
    """The channel SR papers score: the BT.601 Y of an RGB image, but the image itself when it is
    grayscale (`gray`: its file has one channel, or it has one channel here). MATLAB's evaluation
    code applies rgb2ycbcr only when size(im, 3) == 3; mapping a gray image to Y would squeeze
    it into 16-235 and raise its PSNR by 20 log10(255/219) = 1.32 dB (Set14's bridge: +0.09 dB
    on the Set14 mean)."""
    if gray or img.shape[-3] == 1:
        return img[..., :1, :, :]
    return rgb_to_y(img)


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


def _blur_scipy(a: np.ndarray) -> np.ndarray:
    """Separable Gaussian blur of [..., H, W] float64 over the positions that do not touch the
    border, through scipy.ndimage (what skimage uses)."""
    from scipy.ndimage import correlate1d

    pad, g = TAPS // 2, _gaussian_window("cpu", torch.float64).numpy()
    a = correlate1d(a, g, axis=-2)[..., pad:-pad, :]
    return correlate1d(a, g, axis=-1)[..., pad:-pad]


def _blur_conv(t: torch.Tensor) -> torch.Tensor:
    """The same blur as a 'valid' depthwise conv2d of [N,C,H,W], for GPUs and autograd."""
    c = t.shape[1]
    g = _gaussian_window(t.device, t.dtype)
    gx = g.view(1, 1, 1, TAPS).repeat(c, 1, 1, 1)
    gy = g.view(1, 1, TAPS, 1).repeat(c, 1, 1, 1)
    return F.conv2d(F.conv2d(t, gx, groups=c), gy, groups=c)


def _ssim_index(x, y, blur, c1: float, c2: float):
    """Mean SSIM of each of N images; x, y are numpy arrays or tensors [N,C,H,W]."""
    mx, my = blur(x), blur(y)
    sxx = blur(x * x) - mx * mx
    syy = blur(y * y) - my * my
    sxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx**2 + my**2 + c1) * (sxx + syy + c2))
    return s.reshape(s.shape[0], -1).mean(1)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of each image [N,C,H,W] (channels averaged), Wang et al. 2004 settings.

    On CPU (without autograd) the work runs in numpy and scipy.ndimage, a few images at a time:
    torch's float64 conv2d and its threaded elementwise ops were 3-6x slower than scikit-image
    there. Elsewhere it runs as conv2d on the device. Both paths agree to 1e-15.
    """
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    x, y = pred.double(), target.double()
    n, c, h, w = x.shape
    if min(h, w) < TAPS:
        raise ValueError(f"SSIM needs images of at least {TAPS}x{TAPS}, got {h}x{w}")
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    if x.device.type == "cpu" and not (x.requires_grad or y.requires_grad):
        xs, ys = x.numpy(), y.numpy()
        chunks = [
            _ssim_index(xs[i : i + 8], ys[i : i + 8], _blur_scipy, c1, c2) for i in range(0, n, 8)
        ]
        return torch.from_numpy(np.concatenate(chunks))
    return _ssim_index(x, y, _blur_conv, c1, c2)


MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang, Simoncelli & Bovik 2003


def ms_ssim_min_side(scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """The smallest side whose coarsest scale still holds an 11 px window (161 at 5 scales)."""
    return (TAPS - 1) * 2 ** (scales - 1) + 1


def _halve(t: torch.Tensor) -> torch.Tensor:
    """Wang's msssim.m: a 2x2 box filter (symmetric border) and every second pixel, so an odd
    side of n becomes ceil(n / 2)."""
    return F.avg_pool2d(F.pad(t, (0, 1, 0, 1), mode="replicate"), 2)


def ms_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS,
) -> torch.Tensor:
    """Multi-scale SSIM of each image [N,C,H,W] (Wang et al., Asilomar 2003), per channel then
    averaged over channels: the contrast-structure term at each of the first len(weights) - 1
    scales and the full SSIM at the last, raised to the weights and multiplied. Each scale uses
    ssim's window (11-tap Gaussian, sigma 1.5, 'valid' positions); negative terms count as 0
    (they would make the fractional powers undefined). Images need a side of at least 161 px
    at the default 5 scales. With weights (1.0,) it is exactly `ssim`."""
    if pred.ndim == 3:
        pred, target = pred[None], target[None]
    x, y = pred.double(), target.double()
    side = ms_ssim_min_side(len(weights))
    if min(x.shape[-2:]) < side:
        raise ValueError(
            f"MS-SSIM at {len(weights)} scales needs images of at least {side}x{side}, "
            f"got {x.shape[-2]}x{x.shape[-1]}"
        )
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    n, c = x.shape[:2]
    total = torch.ones(n, c, dtype=torch.float64, device=x.device)
    for i, w in enumerate(weights):
        mx, my = _blur_conv(x), _blur_conv(y)
        sxx = _blur_conv(x * x) - mx * mx
        syy = _blur_conv(y * y) - my * my
        sxy = _blur_conv(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        if i == len(weights) - 1:
            term = (2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs
        else:
            term = cs
            x, y = _halve(x), _halve(y)
        total = total * term.flatten(2).mean(2).clamp_min(0) ** w
    return total.mean(1)


register_metric(
    name="psnr",
    task="restoration",
    definition="10 log10(MAX^2 / MSE), per image, then averaged over images",
    settings="data range 1.0 (images in [0,1]); RGB unless _y; SR crops a border of `scale` px",
    reference="skimage.metrics.peak_signal_noise_ratio",
    equation=6,
)
register_metric(
    name="ssim",
    task="restoration",
    definition="mean structural similarity (luminance, contrast, structure), per image, averaged",
    settings="11-tap Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population covariance",
    reference="skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, "
    "use_sample_covariance=False)",
    equation=7,
)
register_metric(
    name="psnr_y",
    task="restoration",
    definition="PSNR on the BT.601 luma (Y) channel, as super-resolution papers report it",
    settings="Y = 16/255 + (65.481 R + 128.553 G + 24.966 B)/255 (a one-channel file: the "
    "image itself, as MATLAB's scripts); border of `scale` px cropped; SR inputs made with "
    "MATLAB-compatible bicubic (data/imresize.py) unless the set ships its own LR images",
    reference="MATLAB rgb2ycbcr + PSNR (the SR literature's convention)",
    equation=6,
)
register_metric(
    name="ssim_y",
    task="restoration",
    definition="SSIM on the BT.601 luma (Y) channel",
    settings="as ssim, on Y; border of `scale` px cropped",
    reference="skimage.metrics.structural_similarity on Y",
    equation=7,
)
register_metric(
    name="ms_ssim",
    task="restoration",
    definition="codecs: multi-scale SSIM (Wang et al. 2003), per image, averaged over images",
    settings="5 scales, weights 0.0448/0.2856/0.3001/0.2363/0.1333, ssim's window at each; "
    "2x2 box + subsampling between scales (Wang's msssim.m); per RGB channel, then averaged; "
    "negative terms clamped to 0; images of at least 161 px a side",
    reference="Wang's msssim.m; written here (tests: one scale equals ssim)",
)
