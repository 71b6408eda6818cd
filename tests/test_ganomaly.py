"""GANomaly in the anomaly task: shapes, the latent-distance score, the two-optimizer step
through the wrapper's forward, learning on one batch, and the scoring guard."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from visionbench.config import TrainConfig
from visionbench.errors import VisionbenchError
from visionbench.models.registry import MODELS, Recipe, create_model
from visionbench.tasks import ganomaly as steps
from visionbench.tasks.anomaly import AnomalyDetection
from visionbench.tasks.base import StepContext

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_shapes_and_the_score_is_the_latent_distance():
    assert MODELS.get("ganomaly").family == "classic_gan"
    torch.manual_seed(0)
    for size in (32, 24):  # 24 works at 32 inside
        net = create_model("ganomaly", task="anomaly", in_chans=3, img_size=size).eval()
        x = torch.rand(3, 3, size, size)
        x_hat, z, z_hat = net(x, mode="latents")
        assert x_hat.shape == x.shape and z.shape == z_hat.shape == (3, 100)
        assert torch.allclose(net(x, mode="score"), (z - z_hat).pow(2).mean(1))
        logit, feats = net(x, mode="discriminator")
        assert logit.shape == (3,) and feats.shape[-1] == 4
        maps = steps.score_maps(net, x)
        assert maps.shape == (3, 1, size, size)
        assert torch.equal(maps[:, 0, 0, 0], maps[:, 0, -1, -1])  # one score per image


class Counting(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module
        self.modes: list[str] = []

    def forward(self, x, mode="reconstruct"):
        self.modes.append(mode)
        return self.module(x, mode=mode)


def test_step_goes_through_the_wrapper_and_learns_one_batch():
    torch.manual_seed(0)
    net = create_model("ganomaly", task="anomaly", in_chans=3, img_size=16, z_dim=16)
    wrapped = Counting(net)
    recipe = Recipe(optimizer="adam", lr=2e-3, weight_decay=0.0)
    opts = steps.optimizers(wrapped, recipe)
    ctx = StepContext(opts, [None, None], None, torch.device("cpu"), "fp32")
    x = torch.rand(8, 3, 1, 1).expand(8, 3, 16, 16).contiguous()  # flat colours
    d0 = [p.clone() for p in net.disc_features.parameters()]
    first = steps.train_step(ctx, wrapped, x)
    assert wrapped.modes == ["latents", "discriminator", "discriminator"] + ["discriminator"] * 2
    assert set(first) == {"loss", "adv", "enc", "d_loss"}
    assert any(not torch.equal(a, b) for a, b in zip(d0, net.disc_features.parameters()))
    for _ in range(60):
        last = steps.train_step(ctx, wrapped, x)
    assert last["loss"] < 0.5 * first["loss"]  # L1 reconstruction of the batch


def test_scoring_latent_only_with_ganomaly():
    from visionbench.data.registry import load_dataset

    bundle = load_dataset("textures", "anomaly", patch_size=16)
    task = AnomalyDetection(TrainConfig(task="anomaly", model="ganomaly", data="textures"))
    task.prepare(bundle, MODELS.get("ganomaly"))
    assert task.state.scoring == "latent"
    dae = AnomalyDetection(
        TrainConfig(
            task="anomaly", model="dae", data="textures", task_options={"scoring": "latent"}
        )
    )
    with pytest.raises(VisionbenchError, match="scoring=latent is for ganomaly"):
        dae.prepare(bundle, MODELS.get("dae"))
