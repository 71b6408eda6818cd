"""The profiler counts FLOPs as the literature does (attention included) and measures sanely."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
import torch.nn as nn

from visionbench.analysis.profile import (
    _Energy,
    count_flops,
    count_params,
    profile_model,
    weights_bytes,
)


def test_resnet18_flops_match_the_published_count():
    model = timm.create_model("resnet18", pretrained=False)
    flops = count_flops(model, torch.randn(1, 3, 224, 224))
    assert abs(flops - 3.64e9) / 3.64e9 < 0.02


def test_vit_flops_include_attention():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False)
    flops = count_flops(model, torch.randn(1, 3, 224, 224))
    # ~2.15 GFLOPs without the two attention matmuls, ~2.5 with them
    assert 2.4e9 < flops < 2.6e9


def test_flops_of_a_linear_layer_are_two_per_multiply_add():
    model = nn.Linear(10, 5, bias=False)
    assert count_flops(model, torch.randn(3, 10)) == 2 * 3 * 10 * 5
    assert model.training  # counting does not leave the model in eval mode


def test_profile_model_reports_every_quantity():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 3))
    p = profile_model(model, lambda b: torch.rand(b, 1, 8, 8), batch=4)
    assert p["params"] == count_params(model) == 4 * 9 + 4 + 256 * 3 + 3
    assert p["flops"] == 2 * (64 * 4 * 9) + 2 * 256 * 3
    assert p["input_shape"] == [1, 8, 8]
    assert 0 < p["latency_ms"]["median"] <= p["latency_ms"]["p90"]
    assert p["latency_ms"]["batch"] == 1 and p["latency_ms"]["repeats"] >= 3
    assert p["throughput"]["batch"] == 4 and p["throughput"]["images_per_s"] > 0
    assert p["environment"]["device"] == "cpu" and p["environment"]["precision"] == "fp32"
    # the peak of live activations, by hand: the convolution's output [4,4,8,8] float32 and the
    # ReLU's beside it; the flatten is a view, the linear layer's transposed weight too
    assert p["peak_memory_mb"] * 2**20 == 2 * (4 * 4 * 8 * 8) * 4
    assert "op by op" in p["memory_kind"]
    # safetensors: 4 bytes per float32 parameter plus a small JSON header
    assert 4 * p["params"] < weights_bytes(model) < 4 * p["params"] + 2048


class _FakeRapl:
    """A RAPL counter (microjoules) that has advanced by `step` at every read after the first."""

    def __init__(self, real: Path, step: int):
        self.real, self.step, self.reads = real, step, 0

    def __fspath__(self) -> str:  # os.access sees a readable file
        return str(self.real)

    def read_text(self) -> str:
        self.reads += 1
        return str(10**9 + self.step * (self.reads - 1))


def _tiny_profile():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    return profile_model(model, lambda b: torch.rand(b, 1, 2, 2), batch=4)


def test_energy_is_absent_where_no_counter_is_readable(monkeypatch, tmp_path):
    monkeypatch.setattr(_Energy, "RAPL", tmp_path / "no_such_energy_uj")
    counter = _Energy(torch.device("cpu"))
    assert counter.read is None and counter.source is None
    assert "energy" not in _tiny_profile()


def test_energy_divides_the_counted_joules_by_the_images_run(monkeypatch, tmp_path):
    real = tmp_path / "energy_uj"
    real.write_text("0")
    fake = _FakeRapl(real, step=6_000_000)  # 6 J between the two reads
    monkeypatch.setattr(_Energy, "RAPL", fake)
    p = _tiny_profile()
    assert fake.reads == 2  # one read before the throughput runs, one after
    images = p["throughput"]["batch"] * p["throughput"]["repeats"]
    assert p["energy"]["joules_per_image"] == pytest.approx(6.0 / images)
    assert p["energy"]["source"].startswith("RAPL")


def test_generative_models_are_profiled_per_sampled_image():
    from visionbench.tasks.generation import Sampling

    class DrawTwice:  # a sampler that runs its network twice per image, like a 2-step diffusion
        def sample(self, model, n):
            z = torch.randn(n, 4)
            return model(model(z))

    wrapped = Sampling(DrawTwice(), nn.Linear(4, 4, bias=False))
    assert count_flops(wrapped, torch.zeros(3, 1)) == 2 * (2 * 3 * 4 * 4)
    assert wrapped(torch.zeros(5, 1)).shape == (5, 4)
