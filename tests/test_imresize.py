"""MATLAB-compatible bicubic: kernel values, hand-computed weights, border mirroring, and
agreement with torch's antialiased (a = -0.5) path away from the borders."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from visionbench.data.imresize import cubic, downscale, imresize, quantize, upscale, weight_matrix
from visionbench.errors import DataError


def test_cubic_kernel_is_keys_with_a_minus_half():
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5], dtype=torch.float64)
    # (a+2)|x|^3 - (a+3)|x|^2 + 1 and a|x|^3 - 5a|x|^2 + 8a|x| - 4a with a = -0.5, by hand
    want = [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625]
    assert cubic(x).tolist() == pytest.approx(want, abs=1e-12)
    # torch's non-antialiased bicubic uses a = -0.75: a different value at 0.5
    assert cubic(torch.tensor(0.5, dtype=torch.float64), a=-0.75).item() == pytest.approx(0.59375)


def test_upscale_weights_by_hand_with_mirrored_border():
    w = weight_matrix(4, 8, 2.0)
    # output 1 samples u = 0.75: taps at distances 1.75 (pixel 2 via the mirror), 0.75, 0.25
    # (pixel 1 via the mirror) and 1.25 (pixel 2): 0.2265625 + 0.8671875 on pixel 1,
    # -0.0234375 - 0.0703125 on pixel 2
    assert w[0].tolist() == pytest.approx([1.09375, -0.09375, 0.0, 0.0], abs=1e-12)
    # output 4 samples u = 2.25 (interior): distances 1.25, 0.25, 0.75, 1.75 to pixels 1..4
    assert w[3].tolist() == pytest.approx([-0.0703125, 0.8671875, 0.2265625, -0.0234375], abs=1e-12)
    assert torch.allclose(w.sum(1), torch.ones(8, dtype=torch.float64))


def test_downscale_weights_are_the_stretched_kernel():
    w = weight_matrix(8, 4, 0.5)
    # output 2 samples u = 3.5; kernel 0.5 * cubic(d / 2), distances 2.5..-3.5 to pixels 1..7 and
    # 3.5 to pixel 0, which the mirror folds onto pixel 1
    c = {0.25: 0.8671875, 0.75: 0.2265625, 1.25: -0.0703125, 1.75: -0.0234375}
    want = [c[1.25] + c[1.75], c[0.75], c[0.25], c[0.25], c[0.75], c[1.25], c[1.75], 0.0]
    assert w[1].tolist() == pytest.approx([v / 2 for v in want], abs=1e-12)


def test_constant_image_stays_constant_and_sizes_follow_matlab():
    img = torch.full((1, 3, 12, 9), 0.3)
    assert torch.allclose(imresize(img, 0.25), torch.full((1, 3, 3, 3), 0.3), atol=1e-6)
    assert imresize(img, 2.0).shape[-2:] == (24, 18)
    assert imresize(img, 1 / 3).shape[-2:] == (4, 3)  # ceil(12/3), ceil(9/3), no float overshoot
    assert imresize(img, size=(5, 7)).shape[-2:] == (5, 7)


def test_interior_matches_torch_antialiased_but_not_default_bicubic():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 1, 40, 40, generator=g, dtype=torch.float64)
    mine = imresize(img, 0.5)
    aa = F.interpolate(img, scale_factor=0.5, mode="bicubic", antialias=True)
    assert torch.allclose(mine[..., 3:-3, 3:-3], aa[..., 3:-3, 3:-3], atol=1e-10)
    up = imresize(img, 2.0)
    plain = F.interpolate(img, scale_factor=2, mode="bicubic", align_corners=False)
    assert (up - plain)[..., 4:-4, 4:-4].abs().max() > 1e-3  # a = -0.75 is not MATLAB's


def test_downscale_mod_crops_and_quantizes():
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(1, 3, 13, 10, generator=g)
    lr = downscale(hr, 4)
    assert lr.shape[-2:] == (3, 2)
    assert torch.equal(lr, quantize(lr)) and lr.min() >= 0 and lr.max() <= 1
    assert upscale(lr, 4).shape[-2:] == (12, 8)


def test_sr_pair_uses_shipped_lr_else_makes_it(tmp_path):
    import numpy as np
    from PIL import Image

    from visionbench.data.formats.common import CleanImageSet
    from visionbench.data.imresize import MADE_HERE, SHIPPED, lr_source, sr_pair

    rng = np.random.default_rng(0)
    hr_a = rng.integers(0, 256, (13, 18, 3), dtype=np.uint8)
    lr_a = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
    Image.fromarray(hr_a).save(tmp_path / "hr.png")
    Image.fromarray(lr_a).save(tmp_path / "lr.png")
    Image.fromarray(hr_a[..., 0]).save(tmp_path / "gray.png")
    shipped = CleanImageSet([tmp_path / "hr.png"], 3, [tmp_path / "lr.png"])
    lr, hr = sr_pair(shipped, 0, 2)
    assert torch.equal((lr[0] * 255).round().byte(), torch.from_numpy(lr_a).permute(2, 0, 1))
    assert hr.shape[-2:] == (12, 18) and lr_source(shipped) == SHIPPED
    made = CleanImageSet([tmp_path / "hr.png", tmp_path / "gray.png"], 3)
    lr, hr = sr_pair(made, 0, 2)
    assert torch.equal(lr, downscale(made[0][None], 2)) and hr.shape[-2:] == (12, 18)
    assert lr_source(made) == MADE_HERE
    assert [made.is_gray(i) for i in range(2)] == [False, True]
    with pytest.raises(DataError, match="lr.png: LR image x4 is 36x24, larger than its HR"):
        sr_pair(shipped, 0, 4)
