"""Saliency: Grad-CAM (Captum), attention rollout (own code, timm ViTs), input gradients, and
deletion / insertion against a random map. Offline, seeded, seconds."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from visionbench.analysis.attribution import (
    AttentionRecorder,
    attention_rollout,
    faithfulness,
    grad_cam,
    input_gradient,
    last_conv,
    rollout,
    token_relevance,
)
from visionbench.errors import VisionbenchError


def test_rollout_of_identity_attention_is_uniform():
    t, prefix = 17, 1  # class token + a 4x4 grid
    eye = [torch.eye(t).expand(2, 3, t, t) for _ in range(4)]
    rolled = rollout(eye)
    torch.testing.assert_close(rolled, torch.eye(t).expand(2, t, t))
    for pool in ("avg", "token"):
        rel = token_relevance(rolled, prefix, pool)
        assert rel.shape == (2, 16)
        assert torch.allclose(rel, rel[:, :1].expand_as(rel))  # every patch the same


def test_rollout_follows_attention_to_one_patch():
    t = 17
    a = torch.zeros(1, 1, t, t)
    a[..., 5] = 1.0  # every token attends to token 5 only
    rel = token_relevance(rollout([a, a]), 1, "avg")
    assert rel.argmax().item() == 4  # patch index = token 5 - one prefix token
    assert rel[0, 4] > 5 * rel[0, :4].max()


def test_rollout_needs_maps():
    with pytest.raises(VisionbenchError):
        rollout([])


def test_recorded_attention_reproduces_timms_block_output():
    """The recomputed softmax attention, applied to v and projected, gives the module's output:
    the hook reads exactly the attention timm's fused kernel used."""
    from visionbench.models.registry import create_model

    torch.manual_seed(0)
    vit = create_model("vit_nano", "classification", num_classes=10, in_chans=1, img_size=8).eval()
    attn = vit.blocks[0].attn
    seen = {}
    attn.register_forward_hook(lambda m, a, o: seen.update(x=a[0], out=o))
    rec = AttentionRecorder(vit)
    with torch.no_grad():
        vit(torch.rand(2, 1, 8, 8))
    rec.close()
    assert len(rec.maps) == len(vit.blocks)
    a = rec.maps[0]
    torch.testing.assert_close(a.sum(-1), torch.ones(a.shape[:-1]))
    x = seen["x"]
    b, t, _ = x.shape
    v = attn.qkv(x).reshape(b, t, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)[2]
    out = attn.proj((a @ v).transpose(1, 2).reshape(b, t, -1))
    torch.testing.assert_close(out, seen["out"], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["vit_nano", "hybrid_nano"])
def test_attention_rollout_maps_have_the_image_size(name):
    from visionbench.models.registry import create_model

    torch.manual_seed(0)
    net = create_model(name, "classification", num_classes=10, in_chans=3, img_size=16).eval()
    m = attention_rollout(net, torch.rand(3, 3, 16, 16))
    assert m.shape == (3, 16, 16) and torch.isfinite(m).all() and (m >= 0).all()
    with pytest.raises(VisionbenchError, match="timm Vision Transformer"):
        attention_rollout(nn.Conv2d(3, 3, 1), torch.rand(1, 3, 4, 4))


class BlobNet(nn.Module):
    """A 1x1 conv feature (the brightness) pooled to class 0; class 1 a constant."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.fill_(0.0)

    def forward(self, x):
        f = F.relu(self.conv(x)).mean((1, 2, 3))
        return torch.stack([f * 8, torch.ones_like(f)], 1)


def test_grad_cam_highlights_where_the_feature_fires():
    net = BlobNet()
    x = torch.zeros(4, 1, 8, 8)
    spots = [(1, 1), (5, 2), (2, 6), (6, 6)]
    for i, (r, c) in enumerate(spots):
        x[i, 0, r : r + 2, c : c + 2] = 1.0
    assert last_conv(net) is net.conv and last_conv(nn.Linear(2, 2)) is None
    lenet_like = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 6))  # 8 -> 6 -> 1 px
    assert last_conv(lenet_like) is lenet_like[1]
    assert last_conv(lenet_like, torch.rand(1, 1, 8, 8)) is lenet_like[0]
    cam = grad_cam(net, x, torch.zeros(4, dtype=torch.long), net.conv)
    assert cam.shape == (4, 8, 8)
    for i, (r, c) in enumerate(spots):
        assert cam[i, r : r + 2, c : c + 2].sum() / cam[i].sum() > 0.95


class QuadrantNet(nn.Module):
    """Class 0 reads the contrast of the top-left quadrant; class 1 is a constant."""

    def forward(self, x):
        h, w = x.shape[-2:]
        energy = (x[..., : h // 2, : w // 2] - 0.5).abs().mean((1, 2, 3))
        return torch.stack([12 * energy, torch.full_like(energy, 2.0)], 1)


def test_input_gradient_of_a_linear_model_is_weight_times_difference():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.rand(2, 1, 4, 4)
    fill = torch.full((1, 1, 1, 1), 0.5)
    s = input_gradient(lin, x, torch.tensor([2, 0]), fill)
    w = lin[1].weight.detach()
    want = torch.stack([w[2].view(4, 4), w[0].view(4, 4)]) * (x[:, 0] - 0.5)
    torch.testing.assert_close(s, want)


def test_deletion_and_insertion_rank_a_true_map_above_random():
    net = QuadrantNet()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(16, 1, 8, 8, generator=g) > 0.5).float() * 0.8 + 0.1  # 0.1 / 0.9 pixels

    def p0(z):  # probability of class 0
        return net(z).softmax(1)[:, 0]

    truth = torch.zeros(16, 8, 8)
    truth[:, :4, :4] = 1 + torch.rand(16, 4, 4) * 0.01  # the pixels class 0 reads, first
    grey = torch.full((1, 1, 1, 1), 0.5)
    f = faithfulness(p0, x, truth, fill=grey, steps=8, seed=0)
    assert f["beats_random"]
    assert f["deletion_auc"] < f["random_deletion_auc"] - 0.05
    assert f["insertion_auc"] > f["random_insertion_auc"] + 0.05
    assert len(f["map"]["deletion"]) == 9 and f["map"]["shares"][-1] == 1.0
    # a reversed map (least relevant first) loses to random on deletion
    worst = faithfulness(p0, x, -truth, fill=grey, steps=8, seed=0)
    assert worst["deletion_auc"] > worst["random_deletion_auc"]


@pytest.mark.parametrize(
    "name,methods",
    [
        ("lenet5", {"input gradient", "Grad-CAM"}),
        ("vit_nano", {"input gradient", "attention rollout"}),
        ("hybrid_nano", {"input gradient", "Grad-CAM", "attention rollout"}),
    ],
)
def test_saliency_study_gives_each_family_its_methods(name, methods):
    from visionbench.analysis.saliency_study import grid_indices, saliency_study
    from visionbench.models.registry import create_model

    torch.manual_seed(0)
    net = create_model(name, "classification", num_classes=4, in_chans=1, img_size=8).eval()
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    if name == "lenet5":  # LeNet-5 takes 32x32: the task's resize is the model input
        size = 32

        def model_input(z):
            return F.interpolate(z, size=(size, size), mode="bilinear")
    else:
        model_input = None
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    scores, maps = saliency_study(net, model_input or (lambda z: z), x, y, steps=4)
    assert set(maps) == methods and set(scores["methods"]) == methods
    for m in maps.values():
        assert m.shape == (6, 8, 8)
    for s in [*scores["methods"].values(), scores["random"]]:
        assert 0 <= s["deletion_auc"] <= 1 and 0 <= s["insertion_auc"] <= 1
    assert grid_indices(y, 5).tolist() == [0, 1, 2, 3, 4]
