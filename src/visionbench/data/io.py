"""Reading a user's image file and writing an image tensor: one place for both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import VisionbenchError, require_file


def read_image(path: str | Path, channels: int) -> torch.Tensor:
    """An image file as [1,C,H,W] float in [0,1], converted to the model's channel count."""
    from PIL import Image, UnidentifiedImageError

    p = require_file(path, "input image")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise VisionbenchError(f"cannot read image {p}: {e}") from None
    t = torch.from_numpy(a)
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    return t[None].contiguous()


def to_pil_image(img: torch.Tensor):
    """A [C,H,W] tensor in [0,1] as an 8-bit Pillow image (L for one channel, else RGB)."""
    from PIL import Image

    a = (img.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))


def write_image(img: torch.Tensor, path: str | Path) -> Path:
    """A [C,H,W] tensor in [0,1] as an 8-bit PNG (or any format PIL infers from the suffix)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    to_pil_image(img).save(path)
    return Path(path)
