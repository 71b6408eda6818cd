"""JPEGs decode through torchvision.io with exactly Pillow's pixels; a damaged one still names
the file through the Pillow path."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from visionbench.data.formats.common import open_image, read_image, to_tensor
from visionbench.errors import DataError


def test_jpeg_matches_pillow_and_damaged_file_is_named(tmp_path):
    rng = np.random.default_rng(0)
    a = (rng.random((20, 24, 3)) * 80 + np.linspace(0, 170, 24)[None, :, None]).astype(np.uint8)
    p = tmp_path / "x.JPEG"
    Image.fromarray(a).save(p, quality=90)
    fast = read_image(p, 3)
    assert fast.shape == (3, 20, 24)
    assert np.array_equal(fast.numpy(), to_tensor(open_image(p, "RGB")).numpy())
    gray = read_image(p, 1)  # gray goes through Pillow's own conversion
    assert np.array_equal(gray.numpy(), to_tensor(open_image(p, "L")).numpy())
    assert read_image(p, 3, size=16).shape == (3, 16, 16)  # resizing keeps the Pillow path
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DataError, match="bad.jpg"):
        read_image(bad, 3)
