"""The profiler counts FLOPs as the literature does (attention included) and measures sanely."""

from __future__ import annotations

import timm
import torch
import torch.nn as nn

from visionbench.analysis.profile import count_flops, count_params, profile_model, weights_bytes


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
    # safetensors: 4 bytes per float32 parameter plus a small JSON header
    assert 4 * p["params"] < weights_bytes(model) < 4 * p["params"] + 2048
    assert "energy" not in p or p["energy"]["joules_per_image"] >= 0


def test_generative_models_are_profiled_per_sampled_image():
    from visionbench.tasks.generation import Sampling

    class DrawTwice:  # a sampler that runs its network twice per image, like a 2-step diffusion
        def sample(self, model, n):
            z = torch.randn(n, 4)
            return model(model(z))

    wrapped = Sampling(DrawTwice(), nn.Linear(4, 4, bias=False))
    assert count_flops(wrapped, torch.zeros(3, 1)) == 2 * (2 * 3 * 4 * 4)
    assert wrapped(torch.zeros(5, 1)).shape == (5, 4)
