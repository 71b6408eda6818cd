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


def test_a_grayscale_image_converts_without_a_read_only_array_warning():
    """Pillow's array of an 'L' image is read-only and torch warned on it (once per process, so
    this runs in a fresh one, warnings as errors)."""
    import subprocess
    import sys

    code = (
        "import numpy as np; from PIL import Image\n"
        "from visionbench.data.formats.common import to_tensor\n"
        "t = to_tensor(Image.fromarray(np.arange(35, dtype=np.uint8).reshape(5, 7), 'L'))\n"
        "assert t.shape == (1, 5, 7) and t.is_contiguous() and abs(t[0, 1, 2] - 9 / 255) < 1e-7\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-500:]
