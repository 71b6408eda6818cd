"""The learned codec (factorized prior): its rANS coder on hand-counted streams, the density's
probabilities, forward/backward, a real bitstream that decodes to exactly the rounded latents,
bpp from bytes, bits on a constant image, a one-batch overfit of the rate-distortion loss, JPEG
at a matched rate from real file sizes, MS-SSIM, and the restoration task's codec:LAMBDA run."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch

import visionbench as vb
from visionbench.data.io import to_pil_image
from visionbench.errors import VisionbenchError
from visionbench.metrics.image import ms_ssim, psnr, ssim
from visionbench.models import rans
from visionbench.models.codec import FactorizedDensity, FactorizedPriorCodec
from visionbench.models.registry import MODELS, create_model
from visionbench.tasks import compression
from visionbench.tasks.restoration import parse_degradation

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _channel0(_):
    return 0


# the coder ------------------------------------------------------------------------------------
def test_quantised_tables_sum_to_2_16_and_keep_every_symbol():
    for pmf in ([1.0], [0.5, 0.5], [1e-12, 1.0, 0.0, 3.0], np.random.default_rng(0).random(300)):
        f = rans.quantise_pmf(np.asarray(pmf))
        assert f.sum() == 1 << 16 and f.min() >= 1
    with pytest.raises(VisionbenchError):
        rans.quantise_pmf(np.array([0.0, 0.0]))


def test_rans_costs_what_the_probabilities_say():
    # 256 equiprobable symbols: exactly 8 bits each, plus the 4-byte final state
    flat = rans.Table(0, (256,) * 256, tuple(range(0, 1 << 16, 256)))  # no escape room needed
    values = np.random.default_rng(0).integers(0, 255, 1000).tolist()  # symbol 255 = escape
    data = rans.encode(values, [flat], _channel0)
    assert 1000 <= len(data) <= 1000 + 4
    assert rans.decode(data, 1000, [flat], _channel0) == values
    # a symbol of probability 65535/65536 costs 2.2e-5 bits: 10,000 of them fit in the state
    sure = rans.Table(0, (65535, 1), (0, 65535))
    data = rans.encode([0] * 10_000, [sure], _channel0)
    assert len(data) <= 4 + math.ceil(10_000 * -math.log2(65535 / 65536) / 8)
    assert rans.decode(data, 10_000, [sure], _channel0) == [0] * 10_000


def test_rans_escapes_round_trip_any_integer_at_a_counted_cost():
    t = rans.Table.from_pmf(-2, np.array([0.1, 0.2, 0.4, 0.2, 0.1, 1e-9]))  # -2..2, escape
    values = [0, 3, -3, 1000, -70000, 2, -2, 0]
    tables = [t, t]
    data = rans.encode(values, tables, lambda i: i % 2)
    assert rans.decode(data, len(values), tables, lambda i: i % 2) == values
    # 1000 lies 998 past the last symbol: u = 2 * 998, Exp-Golomb of u: 2 * 10 + 1 bits
    syms = rans.symbols_of([1000], [t], _channel0)
    assert len(syms) == 1 + 21 and all(f == rans.HALF for _, f in syms[1:])
    with pytest.raises(VisionbenchError):
        rans.decode(data[:5], len(values), tables, lambda i: i % 2)


# the model ------------------------------------------------------------------------------------
def test_density_gives_integers_probabilities_that_sum_to_one():
    torch.manual_seed(0)
    d = FactorizedDensity(3)
    k = torch.arange(-400, 401, dtype=torch.float32)
    p = d.likelihood(k.view(1, 1, 1, -1).expand(1, 3, 1, -1).contiguous())
    assert torch.allclose(p.sum(-1).double(), torch.ones(1, 3, 1, dtype=torch.float64), atol=1e-4)
    for t in d.tables():
        assert sum(t.freq) == 1 << 16 and t.escape >= 1


def test_forward_backward_and_registration():
    torch.manual_seed(0)
    spec = MODELS.get("codec_factorized")
    assert spec.family == "modern_autoencoder" and "restoration" in spec.tasks
    net = create_model("codec_factorized", task="restoration", in_chans=3, img_size=64, n=16, m=8)
    x = torch.rand(2, 3, 64, 64)
    out, bits = net(x, mode="rd")
    assert out.shape == x.shape and bits.shape == (2,) and (bits > 0).all()
    (bits.mean() + out.pow(2).mean()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    net.eval()
    assert torch.equal(net(x), net.synthesis(torch.round(net.analysis(x))))  # rounding at test time


def test_bitstream_decodes_to_the_rounded_latents_and_bpp_counts_its_bytes():
    torch.manual_seed(0)
    net = FactorizedPriorCodec(3, n=16, m=8).eval()
    with torch.no_grad():
        net.g_a[-1].weight.mul_(200)  # latents spread over many integers
    x = torch.rand(1, 3, 37, 50)  # not a multiple of 16: padded, then cropped back
    (stream,) = net.compress(x)
    assert stream[:4] == (37).to_bytes(2, "big") + (50).to_bytes(2, "big")
    y = net.latents(x)
    assert y.shape == (1, 8, 3, 4) and y.abs().max() > 10
    assert torch.equal(net.decompress(stream), net.decode_latents(y, 37, 50))
    out, bpp, estimate = compression.codec_code(net, x)
    assert bpp == 8 * len(stream) / (37 * 50)
    assert torch.equal(out, net.decompress(stream)) and out.shape == x.shape
    assert torch.equal(out, torch.round(out * 255) / 255)  # an 8-bit image
    # the bytes are the model's estimate plus the coder's small overhead
    bits = estimate * 37 * 50
    assert bits - 8 <= 8 * (len(stream) - 4) <= bits * 1.02 + 64


def test_a_constant_image_costs_only_the_header_once_the_rate_is_learned():
    """64x64 gray. The 4-byte header and the 4-byte rANS state are 8 bytes: 64 bits / 4096
    pixels = 0.015625 bpp, the floor. Untrained, the 4x4x8 latent values cost a few bytes more
    (0.086 bpp measured); after 80 rate-dominated steps (lambda 1e-4) the encoder sends all
    zeros, the density gives 0 a probability so close to 1 that the 128 values fit in the
    state's spare bits (estimate 1.2 bits), so the stream is exactly the 8 bytes, and the decoder
    has learned the gray (53 dB measured)."""
    torch.manual_seed(0)
    net = FactorizedPriorCodec(3, n=8, m=8)
    x = torch.full((4, 3, 64, 64), 0.5)
    net.eval()
    assert compression.codec_code(net, x[:1])[1] > 0.05
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(80):
        out, bits = net(x, mode="rd")
        loss = bits.mean() / 4096 + 1e-4 * 255**2 * (out - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    (stream,) = net.compress(x[:1])
    assert len(stream) == 8 and not net.latents(x[:1]).any()
    out, bpp, estimate = compression.codec_code(net, x[:1])
    assert bpp == 8 * 8 / 4096 and estimate < 1e-3
    assert float(psnr(out, x[:1])[0]) > 45


def test_one_batch_overfit_lowers_the_rate_distortion_loss():
    torch.manual_seed(0)
    from visionbench.data.registry import load_dataset

    patches = load_dataset("photos", "restoration", patch_size=64, patches_per_image=1).train
    x = torch.stack([patches[i] for i in range(4)])
    net = FactorizedPriorCodec(3, n=16, m=16)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(120):
        out, bits = net(x, mode="rd")
        loss = bits.mean() / 4096 + 0.01 * 255**2 * (out - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.5 * sum(losses[:10]) / 10


# JPEG, MS-SSIM ----------------------------------------------------------------------------------
def test_jpeg_bpp_is_the_file_size():
    from PIL import Image

    img = torch.rand(1, 3, 40, 56)
    out, n = compression.jpeg(img, 50)
    buf = io.BytesIO()
    to_pil_image(img[0]).save(buf, format="JPEG", quality=50, optimize=True)
    assert n == len(buf.getvalue()) and out.shape == img.shape
    assert Image.open(io.BytesIO(buf.getvalue())).size == (56, 40)


def test_jpeg_at_rate_interpolates_between_the_bracketing_qualities():
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=64)
    pixels = 64 * 64
    sizes = compression.jpeg_sizes(img)
    rate = {q: 8 * n / pixels for q, n in sizes.items()}

    def score(out):
        return {"psnr": float(psnr(out, img)[0])}

    exact = compression.jpeg_at_rate(img, rate[50], score)
    assert exact["bpp"] == rate[50]
    assert exact["psnr"] == pytest.approx(score(compression.jpeg(img, 50)[0])["psnr"])
    lo, hi = 40, min(q for q in rate if rate[q] > rate[40] and q > 40)
    mid = compression.jpeg_at_rate(img, (rate[lo] + rate[hi]) / 2, score)
    s_lo, s_hi = (score(compression.jpeg(img, q)[0])["psnr"] for q in (lo, hi))
    assert mid["psnr"] == pytest.approx((s_lo + s_hi) / 2)
    below = compression.jpeg_at_rate(img, 0.0, score)  # JPEG cannot go that low
    assert below["bpp"] == rate[1]


def test_ms_ssim_is_one_on_equal_images_ssim_at_one_scale_and_needs_161_px():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 170, 200, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert torch.allclose(ms_ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(ms_ssim(x, y, weights=(1.0,)), ssim(x, y), atol=1e-12)
    worse = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert (ms_ssim(x, worse) < ms_ssim(x, y)).all()
    with pytest.raises(ValueError, match="161x161"):
        ms_ssim(x[..., :160, :], y[..., :160, :])


# the task -------------------------------------------------------------------------------------
def test_codec_degradation_is_parsed_and_only_codecs_take_it(tmp_path):
    assert parse_degradation("codec:0.01") == ("codec", 0.01)
    for bad in ("codec:0", "codec:-1", "codec:inf", "codec:x"):
        with pytest.raises(VisionbenchError, match="degradation"):
            parse_degradation(bad)
    small = {"patches_per_image": 2, "patch_size": 32}
    with pytest.raises(VisionbenchError, match="learned codec"):
        vb.train(task="restoration", model="dae", data="photos", epochs=1, quiet=True,
                 data_options=small, task_options={"degradation": "codec:0.01"},
                 out=str(tmp_path), threads=1)  # fmt: skip
    with pytest.raises(VisionbenchError, match="codec:LAMBDA"):
        vb.train(task="restoration", model="codec_factorized", data="photos", epochs=1,
                 quiet=True, data_options=small, task_options={"degradation": "noise:25"},
                 out=str(tmp_path), threads=1)  # fmt: skip


def test_codec_run_scores_its_real_bytes_against_jpeg_at_the_same_rate(tmp_path):
    run = vb.train(task="restoration", model="codec_factorized", data="photos", epochs=1,
                   batch_size=8, quiet=True, threads=1, model_kwargs={"n": 16, "m": 16},
                   data_options={"patches_per_image": 8, "patch_size": 64},
                   task_options={"degradation": "codec:0.01"}, out=str(tmp_path))  # fmt: skip
    m = run.metrics
    for k in ("psnr", "ms_ssim", "bpp", "bpp_estimate", "jpeg_psnr", "jpeg_ms_ssim", "jpeg_bpp"):
        assert k in m, k
    model = vb.load_run(run.run_dir)[3]
    test = vb.load_dataset("photos", "restoration").test
    bpp = []
    for i in range(len(test)):
        (stream,) = model.compress(test[i][None])
        bpp.append(8 * len(stream) / (test[i].shape[-2] * test[i].shape[-1]))
    assert m["bpp"] == pytest.approx(sum(bpp) / len(bpp), rel=1e-9)  # metrics.json: 10 digits
    assert (run.run_dir / "samples" / "rate_distortion.png").is_file()
