"""Batched image operations the corruptions are made of, on tensors [N,C,H,W] in [0,1].

Each one is the torch counterpart of the scipy / scikit-image / OpenCV / ImageMagick call that
Hendrycks & Dietterich's generator makes on one image at a time; here every image of a batch is
processed at once and every random draw comes from a `torch.Generator`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mirror_pad(x: torch.Tensor, ph: int, pw: int) -> torch.Tensor:
    """Symmetric padding ('d c b a | a b c d', scipy's 'reflect') of any width, even wider than
    the image: torch's own reflect padding stops at the image size."""
    if ph == 0 and pw == 0:
        return x
    h, w = x.shape[-2:]
    rows = torch.arange(-ph, h + ph, device=x.device)
    cols = torch.arange(-pw, w + pw, device=x.device)
    return x[..., _fold(rows, h), :][..., _fold(cols, w)]


def _fold(i: torch.Tensor, n: int) -> torch.Tensor:
    period = i.remainder(2 * n)
    return torch.where(period < n, period, 2 * n - 1 - period)


def gaussian_kernel(sigma: float, truncate: float, dtype=torch.float32) -> torch.Tensor:
    radius = max(0, int(truncate * sigma + 0.5))  # scipy's radius for gaussian_filter
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-(t**2) / (2 * sigma**2)) if sigma > 0 else (t == 0).to(dtype)
    return k / k.sum()


def separable(x: torch.Tensor, kh: torch.Tensor, kw: torch.Tensor) -> torch.Tensor:
    """Convolve every channel with kh (vertical) then kw (horizontal), symmetric borders.

    Long kernels (elastic displacement fields use sigma up to 170 px) go through the FFT, short
    ones through conv2d; both give the same sums.
    """
    n, c, h, w = x.shape
    rh, rw = len(kh) // 2, len(kw) // 2
    y = mirror_pad(x.reshape(n * c, 1, h, w), rh, rw)
    kh, kw = kh.to(x), kw.to(x)
    if max(len(kh), len(kw)) > 33:
        y = _fft_conv(_fft_conv(y, kh, dim=-2), kw, dim=-1)
    else:
        y = F.conv2d(y, kh.view(1, 1, -1, 1))
        y = F.conv2d(y, kw.view(1, 1, 1, -1))
    return y.reshape(n, c, h, w)


def _fft_conv(x: torch.Tensor, k: torch.Tensor, dim: int) -> torch.Tensor:
    """'Valid' correlation with k along `dim`: the input is padded by the kernel radius, so the
    output has the unpadded size."""
    n = x.shape[dim] + len(k) - 1
    spec = torch.fft.rfft(x.contiguous(), n=n, dim=dim)
    kspec = torch.fft.rfft(k.flip(0), n=n)  # correlation, like conv2d
    shape = [1] * x.dim()
    shape[dim] = -1
    out = torch.fft.irfft(spec * kspec.view(shape), n=n, dim=dim)
    return out.narrow(dim, len(k) - 1, x.shape[dim] - len(k) + 1)


def gaussian_blur(x: torch.Tensor, sigma: float, truncate: float = 4.0) -> torch.Tensor:
    """scikit-image's `gaussian` (truncate 4, nearest-edge borders in the paper's calls: here
    symmetric, which differs only in the outermost pixels)."""
    if sigma <= 0:
        return x
    k = gaussian_kernel(sigma, truncate)
    return separable(x, k, k)


def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """A normalised disk of `radius` on a grid of at least 17x17, softened by a small Gaussian
    (3x3 up to radius 8, else 5x5), like the paper's defocus kernel."""
    half = 8 if radius <= 8 else math.ceil(radius)
    t = torch.arange(-half, half + 1, dtype=torch.float32)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).float()
    disk = disk / disk.sum()
    size = 3 if radius <= 8 else 5
    g = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(g**2) / (2 * alias_blur**2))
    g = g / g.sum()
    padded = F.pad(disk[None, None], (size // 2,) * 4, mode="reflect")
    soft = F.conv2d(F.conv2d(padded, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))[0, 0]
    return soft / soft.sum()


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Same-size 2-D filtering of every channel with symmetric borders."""
    n, c, h, w = x.shape
    kh, kw = kernel.shape
    y = mirror_pad(x.reshape(n * c, 1, h, w), kh // 2, kw // 2)
    return F.conv2d(y, kernel.to(x)[None, None]).reshape(n, c, h, w)


def shift_sample(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """out[n, :, i, j] = x[n, :, i + dy[n], j + dx[n]] (integer offsets per image), edge pixels
    repeated outside the image (ImageMagick's default virtual pixels)."""
    n, c, h, w = x.shape
    rows = (torch.arange(h, device=x.device)[None, :] + dy.view(-1, 1)).clamp(0, h - 1)
    cols = (torch.arange(w, device=x.device)[None, :] + dx.view(-1, 1)).clamp(0, w - 1)
    idx = (rows[:, :, None] * w + cols[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    return x.reshape(n, c, h * w).gather(2, idx).view(n, c, h, w)


def motion_blur(
    x: torch.Tensor, radius: float, sigma: float, angles_deg: torch.Tensor
) -> torch.Tensor:
    """ImageMagick's MotionBlurImage: a one-sided Gaussian of 2*ceil(radius)+1 taps along the
    direction `angle` (one per image), taps at integer-rounded offsets."""
    width = 2 * math.ceil(radius) + 1 if radius > 0 else 1
    taps = torch.arange(width, dtype=torch.float32)
    weights = torch.exp(-(taps**2) / (2 * sigma**2))
    weights = weights / weights.sum()
    a = torch.deg2rad(angles_deg.float()).to(x.device)
    out = torch.zeros_like(x)
    for i, wt in zip(taps.tolist(), weights.tolist()):
        dx = torch.floor(i * torch.cos(a) + 0.5).long()
        dy = torch.floor(i * torch.sin(a) + 0.5).long()
        out += wt * shift_sample(x, dy, dx)
    return out


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Zoom into the centre by `factor` and keep the original size (scipy's order-1 zoom of the
    centre crop, then the central part of the result)."""
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    zh, zw = round(ch * factor), round(cw * factor)
    big = F.interpolate(crop, size=(zh, zw), mode="bilinear", align_corners=True)
    th, tw = (zh - h) // 2, (zw - w) // 2
    return big[..., th : th + h, tw : tw + w]


def plasma_fractal(
    n: int, size: int, decay: float, generator: torch.Generator, device=None
) -> torch.Tensor:
    """[n, size, size] diamond-square height maps in [0,1]; `size` a power of two.

    The paper's fog layer: midpoints are the mean of their four neighbours plus uniform noise
    whose amplitude is divided by `decay` at each halving of the step (the first amplitude is
    100^2 as in the paper; only the ratio between scales matters once the map is normalised).
    """
    if size & (size - 1):
        raise ValueError(f"plasma size must be a power of two, got {size}")
    m = torch.zeros(n, size, size)
    step, wibble = size, 100.0

    def noisy_mean(total: torch.Tensor) -> torch.Tensor:
        noise = torch.rand(total.shape, generator=generator) * 2 - 1
        return total / 4 + wibble * wibble * noise

    while step >= 2:
        half = step // 2
        corners = m[:, 0:size:step, 0:size:step]
        around = corners + corners.roll(-1, dims=1)
        around = around + around.roll(-1, dims=2)
        m[:, half:size:step, half:size:step] = noisy_mean(around)
        centres = m[:, half:size:step, half:size:step]
        corners = m[:, 0:size:step, 0:size:step]
        # edge midpoints on the corner rows, then on the corner columns (wrapping around)
        row_mid = centres + centres.roll(1, dims=1) + corners + corners.roll(-1, dims=2)
        m[:, 0:size:step, half:size:step] = noisy_mean(row_mid)
        col_mid = centres + centres.roll(1, dims=2) + corners + corners.roll(-1, dims=1)
        m[:, half:size:step, 0:size:step] = noisy_mean(col_mid)
        step //= 2
        wibble /= decay
    flat = m.view(n, -1)
    lo, hi = flat.min(1, keepdim=True).values, flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(1e-12)).view(n, size, size).float().to(device)


def box_resize_matrix(src: int, dst: int) -> torch.Tensor:
    """[dst, src] weights of PIL's BOX filter: output pixel i averages the input pixels whose
    centres fall in its (at least one pixel wide) box."""
    scale = src / dst
    support = max(scale, 1.0)
    centres = (torch.arange(dst, dtype=torch.float64) + 0.5) * scale
    pos = (torch.arange(src, dtype=torch.float64) + 0.5)[None, :] - centres[:, None]
    inside = ((pos / support) >= -0.5) & ((pos / support) < 0.5)
    wt = inside.double()
    empty = wt.sum(1) == 0  # cannot happen with support >= 1, kept as a guard
    wt[empty, centres[empty].long().clamp(0, src - 1)] = 1
    return (wt / wt.sum(1, keepdim=True)).float()


def box_resize(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    mh = box_resize_matrix(x.shape[-2], h).to(x)
    mw = box_resize_matrix(x.shape[-1], w).to(x)
    return torch.einsum("ih,nchw,jw->ncij", mh, x, mw)


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """[N,1,H,W] luma with OpenCV's RGB2GRAY weights; other channel counts: the channel mean."""
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    wts = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x[:, :3] * wts).sum(1, keepdim=True)
