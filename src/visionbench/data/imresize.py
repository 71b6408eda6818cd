"""MATLAB-compatible bicubic resizing (`imresize(I, s, 'bicubic')`), the SR literature's protocol.

Super-resolution papers make their low-resolution inputs and their bicubic baseline with MATLAB's
imresize, so a table can only be set beside theirs if ours are made the same way:

- the cubic convolution kernel of Keys with a = -0.5;
- when downscaling, the kernel is stretched by 1/scale (antialiasing), so every input pixel under
  the footprint contributes, and the weights of each output pixel are normalised to sum to 1;
- output pixel x (1-based) samples input position u = x / scale + 0.5 (1 - 1 / scale);
- borders are mirrored ("symmetric": ... 2 1 | 1 2 3 ... n | n n-1 ...);
- each dimension is resized on its own, the one shrinking most first.

Why not `torch.nn.functional.interpolate(mode="bicubic")`: without antialiasing it uses a = -0.75
(OpenCV's choice), which sharpens more, and it clamps indices at the border instead of mirroring;
with `antialias=True` it uses a = -0.5 but truncates and renormalises the kernel at the border.
Both put the bicubic baseline 0.2-0.3 dB away from the published Set5/Set14 numbers.

The resize is written as a dense (out x in) weight matrix per dimension with the mirrored border
folded into it, applied as two matrix products: exact, simple, and fast enough for test images.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from ..errors import DataError

A = -0.5  # Keys' cubic convolution parameter used by MATLAB


def cubic(x: torch.Tensor, a: float = A) -> torch.Tensor:
    """Keys' cubic convolution kernel; support [-2, 2]."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
    far = (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=64)
def weight_matrix(
    in_len: int, out_len: int, scale: float, antialias: bool = True, a: float = A
) -> torch.Tensor:
    """[out_len, in_len] float64 matrix W with out = W @ in along one dimension (MATLAB's
    `contributions`, with the mirrored indices accumulated into their columns). Cached: training
    resizes patches of one size over and over; do not modify the result in place."""
    width = 4.0
    if scale < 1 and antialias:
        width = width / scale

        def kernel(x):
            return scale * cubic(scale * x, a)
    else:

        def kernel(x):
            return cubic(x, a)

    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    taps = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(taps, dtype=torch.float64)[None]  # 1-based
    w = kernel(u[:, None] - idx)
    w = w / w.sum(1, keepdim=True)
    # mirror: 1..n, n..1, repeated
    period = 2 * in_len
    m = torch.remainder(idx.long() - 1, period)
    m = torch.where(m < in_len, m, period - 1 - m)
    out = torch.zeros(out_len, in_len, dtype=torch.float64)
    out.scatter_add_(1, m, w)
    return out


def imresize(
    img: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize [..., H, W] like MATLAB's imresize(img, scale, 'bicubic') (or to `size` (H, W)).

    Works in float64 on the CPU (float32 elsewhere, outside autocast) and returns the input
    dtype; values are not clamped (MATLAB clamps only when it rounds to uint8: see `quantize`).
    Give either `scale` or `size`.
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    h, w = img.shape[-2:]
    if size is None:
        size = (math.ceil(h * scale - 1e-9), math.ceil(w * scale - 1e-9))
        scales = (float(scale), float(scale))
    else:
        scales = (size[0] / h, size[1] / w)
    work = torch.float64 if img.device.type == "cpu" else torch.float32
    with torch.autocast(img.device.type, enabled=False):
        x = img.to(work)
        # the dimension shrinking most goes first (MATLAB's order); rows first on a tie
        for d in sorted((0, 1), key=lambda d: scales[d]):
            n_in = x.shape[-2 + d]
            wm = weight_matrix(n_in, size[d], scales[d], antialias).to(x.device, work)
            x = torch.matmul(wm, x) if d == 0 else torch.matmul(x, wm.T)
    return x.to(img.dtype) if img.is_floating_point() else x


def quantize(img: torch.Tensor) -> torch.Tensor:
    """Round [0,1] images to the nearest of 256 levels, as MATLAB's imresize does on uint8 input."""
    return (img.clamp(0, 1) * 255).round() / 255


def downscale(img: torch.Tensor, factor: int) -> torch.Tensor:
    """The SR papers' low-resolution input: imresize(HR, 1/factor, 'bicubic') of an HR image whose
    sides are multiples of `factor`, rounded to 8 bits."""
    h, w = img.shape[-2:]
    img = img[..., : h - h % factor, : w - w % factor]
    return quantize(imresize(img, 1 / factor))


def upscale(img: torch.Tensor, factor: int) -> torch.Tensor:
    """The SR papers' bicubic baseline: imresize(LR, factor, 'bicubic'), clamped to [0, 1]. Not
    rounded to 8 bits (MATLAB's uint8 output is; that moves Set5/Set14 PSNR by under 0.01 dB),
    so an untrained residual model, which adds zero to this same upscaling, equals it exactly."""
    return imresize(img, float(factor)).clamp(0, 1)


SHIPPED = "the LR images shipped with the set"
MADE_HERE = "MATLAB-compatible bicubic downscaling of the HR images (8-bit)"


def ships_lr(dataset) -> bool:
    """Whether a test set comes with its own low-resolution images (an SR-pairs folder)."""
    from .formats.common import CleanImageSet

    return isinstance(dataset, CleanImageSet) and bool(dataset.lr_paths)


def lr_source(dataset) -> str:
    """Where a test set's low-resolution inputs come from, in words (for the run record)."""
    return SHIPPED if ships_lr(dataset) else MADE_HERE


def sr_pair(dataset, i: int, factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(LR [1,C,h,w], HR [1,C,h*factor,w*factor]) of test image i, as SR papers score it: the
    set's own LR file when it ships one (SR pairs), else `downscale` of the HR image; the HR is
    cropped to factor x the LR's size."""
    hr = dataset[i][None]
    lr = dataset.lr_image(i)[None] if ships_lr(dataset) else downscale(hr, factor)
    h, w = lr.shape[-2] * factor, lr.shape[-1] * factor
    if h > hr.shape[-2] or w > hr.shape[-1]:
        raise DataError(
            f"{dataset.lr_paths[i]}: LR image x{factor} is {w}x{h}, larger than its HR image "
            f"({hr.shape[-1]}x{hr.shape[-2]}); is the scale right?"
        )
    return lr, hr[..., :h, :w]
