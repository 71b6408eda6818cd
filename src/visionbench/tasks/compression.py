"""Compression: bits per pixel beside the reconstruction's quality.

Two kinds of model. An autoencoder exposes `latents(x)` (every tensor its decoder reads) and
`decode(latents)`; each latent tensor is quantised uniformly between its own min and max (the
two floats are counted too), no entropy coding, so its rate is an upper bound a real codec
would undercut (and at 8 bits it exceeds the raw image's). A learned codec (`entropy_coded`,
models/codec.py) writes a real bitstream; it is scored on that stream's bytes, with JPEG at the
same rate on the same image as its baseline.
"""

from __future__ import annotations

import torch

from ..data.io import to_pil_image


def quantise(t: torch.Tensor, bits: int) -> torch.Tensor:
    lo, hi = t.min(), t.max()
    levels = 2**bits - 1
    step = (hi - lo).clamp(min=1e-12) / levels
    return ((t - lo) / step).round().clamp(0, levels) * step + lo


def is_autoencoder(model) -> bool:
    """An autoencoder whose latent rate is measured by uniform quantisation (not a codec)."""
    return hasattr(model, "latents") and hasattr(model, "decode") and not is_codec(model)


@torch.no_grad()
def code_at(model, x: torch.Tensor, bits: int) -> tuple[torch.Tensor, float]:
    """The reconstruction from `bits`-bit latents and the rate in bits per output pixel."""
    lat = model.latents(x)
    out = model.decode([quantise(t, bits) for t in lat])
    pixels = out.shape[0] * out.shape[-2] * out.shape[-1]
    rate = sum(t.numel() * bits + 64 for t in lat) / pixels
    return out, rate


# Learned codecs beside JPEG ---------------------------------------------------------------------
# A learned codec (a model with `entropy_coded`, trained with `--degradation codec:LAMBDA`) is
# scored on its real bitstream; its baseline is JPEG on the same image at the same rate.

JPEG_QUALITIES = tuple(range(1, 96))  # Pillow's useful range (above 95 it says: no gain)
JPEG_CURVE = (2, 5, 10, 20, 30, 50, 75, 90)  # the qualities drawn in rate_distortion.png


def is_codec(model) -> bool:
    return bool(getattr(model, "entropy_coded", False))


def _jpeg_bytes(img: torch.Tensor, quality: int) -> bytes:
    """Pillow's JPEG file of one image [1,C,H,W]: baseline JPEG with Pillow's defaults (4:2:0
    chroma subsampling for RGB, the standard's quantisation tables scaled by `quality`) and
    optimised Huffman tables; the whole file, headers included."""
    import io

    buf = io.BytesIO()
    to_pil_image(img[0]).save(buf, format="JPEG", quality=int(quality), optimize=True)
    return buf.getvalue()


def jpeg(img: torch.Tensor, quality: int) -> tuple[torch.Tensor, int]:
    """JPEG of one image [1,C,H,W] at `quality`: the decoded image and the file's size in bytes."""
    import io

    import numpy as np
    from PIL import Image

    data = _jpeg_bytes(img, quality)
    a = np.asarray(Image.open(io.BytesIO(data)), dtype=np.float32) / 255.0
    a = a[..., None] if a.ndim == 2 else a
    return torch.from_numpy(a).permute(2, 0, 1)[None].contiguous(), len(data)


def jpeg_sizes(img: torch.Tensor, qualities=JPEG_QUALITIES) -> dict[int, int]:
    """The file size in bytes of `img` [1,C,H,W] at each JPEG quality (encoded, not decoded)."""
    return {q: len(_jpeg_bytes(img, q)) for q in qualities}


def jpeg_at_rate(img: torch.Tensor, bpp: float, score) -> dict[str, float]:
    """JPEG's scores on `img` [1,C,H,W] at `bpp` bits per pixel: `score(decoded)` (a dict) at
    the two qualities whose file sizes bracket the rate, interpolated linearly in bpp, plus
    `bpp`, the rate they stand for. Outside JPEG's range (below quality 1, above 95) the
    nearest end is scored as it is, and `bpp` says its own rate (at the low end JPEG then
    spends more bits than the codec it is compared with)."""
    pixels = img.shape[-2] * img.shape[-1]
    rates = {q: 8 * n / pixels for q, n in jpeg_sizes(img).items()}
    qs = sorted(rates)
    below = [q for q in qs if rates[q] <= bpp]
    above = [q for q in qs if rates[q] >= bpp and (not below or q > below[-1])]
    if not below or not above:
        q = qs[0] if not below else qs[-1]
        return score(jpeg(img, q)[0]) | {"bpp": rates[q]}
    lo, hi = below[-1], above[0]
    s_lo, s_hi = score(jpeg(img, lo)[0]), score(jpeg(img, hi)[0])
    t = (bpp - rates[lo]) / (rates[hi] - rates[lo]) if rates[hi] > rates[lo] else 0.0
    return {k: s_lo[k] + t * (s_hi[k] - s_lo[k]) for k in s_lo} | {"bpp": float(bpp)}


@torch.no_grad()
def codec_code(model, img: torch.Tensor) -> tuple[torch.Tensor, float, float]:
    """One image [1,C,H,W] through a learned codec's real bitstream: the decoded 8-bit image,
    bpp from the stream's bytes (8 * bytes / pixels, header included) and the model's own
    estimate (-log2 likelihood of the rounded latent per pixel)."""
    device = next(model.parameters()).device
    img = img.to(device)
    (stream,) = model.compress(img)
    out = model.decompress(stream)
    pixels = img.shape[-2] * img.shape[-1]
    estimate = float(model.bits(model.latents(img))[0]) / pixels
    return out.cpu(), 8 * len(stream) / pixels, estimate
