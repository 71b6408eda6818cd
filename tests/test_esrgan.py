"""ESRGAN: the relativistic loss on fixed logits, the two-phase step through the wrapper's
forward, the perceptual feature network (trained here or VGG-19 from a file), and learning."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from visionbench.config import TrainConfig
from visionbench.errors import VisionbenchError
from visionbench.metrics.image import psnr
from visionbench.models.esrgan import VGG19Features, load_vgg19
from visionbench.models.registry import MODELS, Recipe, create_model
from visionbench.tasks import esrgan as steps
from visionbench.tasks.base import StepContext
from visionbench.tasks.restoration import Restoration, downscale, upscale

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_relativistic_losses_on_fixed_logits():
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([1.0, -1.0])  # means 1 and 0
    # D: sigmoid(real - mean fake) -> 1 and sigmoid(fake - mean real) -> 0, averaged.
    # real - 0 = [2, 0]: -log sigmoid = softplus(-2), softplus(0)
    # fake - 1 = [0, -2]: -log(1 - sigmoid) = softplus(0), softplus(-2)
    expect_d = 0.5 * ((softplus(-2) + softplus(0)) / 2 + (softplus(0) + softplus(-2)) / 2)
    assert steps.relativistic_d_loss(real, fake).item() == pytest.approx(expect_d, abs=1e-6)
    # G: the targets swap: real - 0 -> 0 (softplus(2), softplus(0)); fake - 1 -> 1 (softplus(0),
    # softplus(2))
    expect_g = 0.5 * ((softplus(2) + softplus(0)) / 2 + (softplus(0) + softplus(2)) / 2)
    assert steps.relativistic_g_loss(real, fake).item() == pytest.approx(expect_g, abs=1e-6)
    # relativistic: shifting every logit by the same constant changes nothing
    assert steps.relativistic_d_loss(real + 5, fake + 5).item() == pytest.approx(expect_d)


def test_registered_and_its_parts_have_the_published_structure():
    spec = MODELS.get("esrgan")
    assert spec.family == "gan_diffusion" and spec.tasks == ("restoration",)
    net = create_model("esrgan", task="restoration", scale=2, img_size=16)
    assert not [m for m in net.generator.modules() if isinstance(m, nn.BatchNorm2d)]
    dense = net.generator.body[0].blocks[0]
    assert len(dense.convs) == 5  # five-convolution dense blocks, three per RRDB
    x = torch.rand(2, 3, 12, 16)
    sr = net(x)
    assert sr.shape == (2, 3, 24, 32)
    assert torch.allclose(sr.clamp(0, 1), upscale(x, 2), atol=1e-5)  # zero-init tail: bicubic
    assert net(sr, mode="discriminator").shape == (2,)  # one logit per image, any size
    assert net(sr, mode="rotation").shape == (2, 4)
    assert net.trains_features and len(net.parameter_groups()) == 3


def test_features_mode_gives_gradients_to_the_image_only():
    net = create_model("esrgan", task="restoration", scale=1, img_size=16)
    x = torch.rand(1, 3, 16, 16, requires_grad=True)
    net(x, mode="features").abs().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.feature_net.parameters())


class Counting(nn.Module):
    """A stand-in for DDP: records every call that goes through its forward."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.modes: list[str] = []

    def forward(self, x, mode="generator"):
        self.modes.append(mode)
        return self.module(x, mode=mode)


def _task(epochs: int, n_train: int, batch: int) -> Restoration:
    task = Restoration(
        TrainConfig(task="restoration", model="esrgan", task_options={"degradation": "sr:2"})
    )
    task.set_recipe(
        Recipe(optimizer="adam", lr=1e-3, weight_decay=0.0, epochs=epochs, batch_size=batch)
    )
    task.n_train = n_train
    return task


def test_both_phases_go_through_the_wrapper_and_step_their_own_optimizers():
    torch.manual_seed(0)
    net = create_model("esrgan", task="restoration", scale=2, img_size=16)
    wrapped = Counting(net)
    task = _task(epochs=2, n_train=4, batch=4)  # 2 steps: one warm-up, one adversarial
    opts = task.optimizers(wrapped, task.recipe)
    assert len(opts) == 3
    ctx = StepContext(opts, [None] * 3, None, torch.device("cpu"), "fp32")
    clean = torch.rand(4, 3, 16, 16)
    batch = (downscale(clean, 2), clean)
    before = {k: v.clone() for k, v in net.state_dict().items()}

    def changed(prefix: str) -> bool:
        return any(
            not torch.equal(before[k], v)
            for k, v in net.state_dict().items()
            if k.startswith(prefix) and v.is_floating_point()
        )

    stats = steps.train_step(task, ctx, wrapped, batch)
    assert set(stats) == {"loss", "rotation_loss"}
    assert wrapped.modes == ["generator", "rotation"]
    assert changed("generator.") and changed("feature_net.") and not changed("discriminator.")
    ctx.step = 1
    wrapped.modes.clear()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    stats = steps.train_step(task, ctx, wrapped, batch)
    assert set(stats) == {"loss", "perceptual", "adv", "d_loss"}
    assert wrapped.modes == [
        "generator", "discriminator", "discriminator", "discriminator", "discriminator",
        "features", "features",
    ]  # fmt: skip
    assert changed("generator.") and changed("discriminator.") and not changed("feature_net.")


def test_generator_overfits_one_batch_above_bicubic():
    torch.manual_seed(0)
    net = create_model("esrgan", task="restoration", scale=2, img_size=16)
    task = _task(epochs=100, n_train=4, batch=4)  # stays in the L1 phase
    opts = task.optimizers(net, task.recipe)
    ctx = StepContext(opts, [None] * 3, None, torch.device("cpu"), "fp32")
    # a smooth pattern bicubic blurs: stripes of period 4
    xs = torch.arange(16.0)
    clean = (0.5 + 0.4 * torch.sin(xs * math.pi / 2))[None, None, None, :].expand(4, 3, 16, 16)
    clean = clean * torch.rand(4, 3, 1, 1)
    lr = downscale(clean, 2)
    base = psnr(upscale(lr, 2), clean).mean()
    for _ in range(40):
        steps.train_step(task, ctx, net, (lr, clean))
    with torch.no_grad():
        ours = psnr(net(lr).clamp(0, 1), clean).mean()
    assert ours > base + 1.0, (float(ours), float(base))


def test_vgg19_weights_load_from_a_local_file_and_bad_files_fail_in_one_line(tmp_path):
    from safetensors.torch import save_file

    ref = VGG19Features()
    state = {f"features.{k}": v.clone() for k, v in ref.features.state_dict().items()}
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    net = create_model("esrgan", task="restoration", scale=2, img_size=16, perceptual="vgg19")
    assert not net.trains_features and len(net.parameter_groups()) == 2
    assert (
        steps.load_perceptual_weights(net, path) == "VGG-19 conv5_4 loaded from vgg19.safetensors"
    )
    x = torch.rand(1, 3, 16, 16)
    assert torch.equal(net.feature_net.features(x), ref.features(x))
    state.pop("features.34.weight")
    save_file(state, str(tmp_path / "short.safetensors"))
    with pytest.raises(VisionbenchError, match="features.34.weight missing"):
        load_vgg19(net.feature_net.features, tmp_path / "short.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(VisionbenchError, match="cannot read VGG-19 weights"):
        load_vgg19(net.feature_net.features, tmp_path / "junk.pth")


def test_cli_records_which_perceptual_features_a_run_used(tmp_path, capsys):
    import json

    from safetensors.torch import save_file

    from visionbench.cli import main as cli

    weights = tmp_path / "vgg19.safetensors"
    ref = VGG19Features()
    save_file({f"features.{k}": v for k, v in ref.features.state_dict().items()}, str(weights))
    base = ["train", "restoration", "--model", "esrgan", "--data", "photos", "--degradation"]
    base += ["sr:2", "--epochs", "1", "--data-option", "patches_per_image=2", "--quiet"]
    base += ["--data-option", "max_side=64", "--data-option", "patch_size=32"]
    base += ["--model-arg", "blocks=1"]
    for name, extra, expect in (
        ("vgg", ["--perceptual-weights", str(weights)], "VGG-19 conv5_4 loaded from vgg19"),
        ("own", [], "small VGG-style network trained here by rotation prediction"),
    ):
        run = tmp_path / name
        assert cli([*base, *extra, "--run-dir", str(run)]) == 0
        state = json.loads((run / "task_state.json").read_text())
        assert expect in state["perceptual_features"], state
    capsys.readouterr()
    assert cli([*base, "--perceptual-weights", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nope.pth" in err


def test_flip_augmentation_is_refused_while_features_learn_rotations():
    net = create_model("esrgan", task="restoration", scale=2, img_size=16)
    task = _task(epochs=2, n_train=4, batch=4)
    task.set_recipe(Recipe(optimizer="adam", epochs=2, batch_size=4, augment="flip"))
    ctx = StepContext(
        task.optimizers(net, task.recipe), [None] * 3, None, torch.device("cpu"), "fp32"
    )
    clean = torch.rand(4, 3, 16, 16)
    with pytest.raises(VisionbenchError, match="--augment none or flip_crop"):
        steps.train_step(task, ctx, net, (downscale(clean, 2), clean))
