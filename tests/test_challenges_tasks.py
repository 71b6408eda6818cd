"""The challenges beyond classification: a corrupted or attacked input is scored against the CLEAN
target (restoration used to score a corrupted scene against itself, so PSNR rose with blur), and a
detector, which gives its losses only in training mode, is attacked as it is evaluated."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from visionbench.analysis.challenges import TaskProbe
from visionbench.analysis.corruptions import corrupt
from visionbench.config import TrainConfig
from visionbench.tasks.restoration import Restoration


class _Upsample(nn.Module):
    """A restorer with no weights to learn: bicubic up by `scale`, or the identity."""

    def __init__(self, scale: int = 1, channels: int = 3):
        super().__init__()
        self.scale, self.channels = scale, channels
        self.w = nn.Parameter(torch.zeros(()))  # restore() asks for a parameter's device

    def forward(self, x):
        if x.shape[1] > self.channels:  # inpainting: fill the hole with the local visible mean
            img, keep = x[:, : self.channels], x[:, self.channels :]
            mean = F.avg_pool2d(img * keep, 15, 1, 7) / F.avg_pool2d(keep, 15, 1, 7).clamp_min(1e-3)
            x = img * keep + mean * (1 - keep)
        x = x + 0 * self.w
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic") if self.scale > 1 else x


def _probe(degradation: str, model: nn.Module) -> TaskProbe:
    task = Restoration(TrainConfig(task="restoration", task_options={"degradation": degradation}))
    g = torch.Generator().manual_seed(0)
    scenes = [F.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=48, mode="bilinear")[0]]
    scenes.append(torch.rand(3, 48, 48, generator=g))
    batches = list(task.test_pairs(scenes))
    return TaskProbe(task, model.eval(), batches, task.ranking_metric, task.higher_is_better)


def _brightened(severity: int):
    return lambda images, batch, i: corrupt(images, "brightness", severity, seed=i)


@pytest.mark.parametrize(
    "degradation, model",
    [("noise:25", _Upsample()), ("sr:2", _Upsample(2)), ("inpaint:box", _Upsample())],
)
def test_restoration_scores_a_corrupted_input_against_the_clean_image(degradation, model):
    probe = _probe(degradation, model)
    clean = probe.score(None)[probe.metric]
    mild, severe = (probe.score(_brightened(s))[probe.metric] for s in (1, 5))
    assert severe < mild < clean  # a brightened input restored is further from the clean image


@pytest.mark.parametrize("degradation", ["noise:25", "sr:2", "inpaint:box"])
def test_restoration_quick_challenges_score_centre_crops_and_tests_the_whole_photo(degradation):
    """The quick challenges evaluate each image about 50 times: restoration hands them centre
    crops (made low-resolution after cropping for super-resolution), the test the whole photo."""
    from visionbench.data import imresize
    from visionbench.tasks.restoration import CHALLENGE_CROP

    task = Restoration(TrainConfig(task="restoration", task_options={"degradation": degradation}))
    photo = torch.rand(3, 200, 300, generator=torch.Generator().manual_seed(1))
    (full_in, full, _), (crop_in, crop, _) = (
        next(iter(task.eval_batches([photo], "cpu", p))) for p in ("test", "challenge")
    )
    assert full.shape[-2:] == (200, 300)
    assert crop.shape[-2:] == (CHALLENGE_CROP, CHALLENGE_CROP)
    y, x = (200 - CHALLENGE_CROP) // 2, (300 - CHALLENGE_CROP) // 2
    assert torch.equal(crop[0], photo[:, y : y + CHALLENGE_CROP, x : x + CHALLENGE_CROP])
    if degradation == "sr:2":
        assert torch.equal(crop_in, imresize.downscale(crop, 2))
    else:
        assert crop_in.shape[-2:] == crop.shape[-2:] and not torch.equal(crop_in, crop)


def test_restoration_with_images_keeps_the_target_the_noise_the_hole_and_the_gray_flag():
    for degradation in ("noise:25", "sr:2", "inpaint:box", "codec:0.01"):
        probe = _probe(degradation, _Upsample())
        task, batch = probe.task, probe.batches[0]
        degraded, clean, gray = batch
        x = task.images_of(batch)
        y = torch.full_like(x, 0.5)
        new = task.with_images(batch, y)
        assert len(new) == 3 and new[2] == gray
        if task.kind == "sr":  # the low-resolution input itself is what changes
            assert torch.equal(new[0], y)
        if task.kind == "codec":  # a codec is scored against what it was handed
            assert torch.equal(new[0], y) and torch.equal(new[1], y)
            continue
        assert torch.equal(new[1], clean)  # the target is never the corrupted image
        if task.kind == "noise":  # the same noise over the new scene
            assert torch.allclose(new[0] - y, degraded - clean, atol=1e-6)
        if task.kind == "inpaint":  # the same hole, the visible pixels replaced
            keep = degraded[:, 3:]
            assert torch.equal(new[0][:, 3:], keep) and torch.equal(new[0][:, :3], y * keep)


def test_a_detector_is_attacked_in_eval_mode_and_left_as_it_was():
    import visionbench as vb
    from visionbench.data.registry import load_dataset
    from visionbench.models.registry import MODELS, create_model
    from visionbench.tasks.base import TASKS

    cfg = TrainConfig(task="detection", model="fcos_tiny", data="shapes")
    task = TASKS.get("detection")(cfg)
    raw = load_dataset("shapes", "detection")
    bundle = task.prepare(raw, MODELS.get("fcos_tiny"))
    torch.manual_seed(0)
    net = create_model("fcos_tiny", **task.model_kwargs(bundle.info)).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    batch = next(iter(task.eval_batches(bundle.test, torch.device("cpu"))))
    probe = TaskProbe(task, net, [batch], task.ranking_metric, task.higher_is_better)
    x = task.images_of(batch).clone().requires_grad_(True)
    loss = probe.loss(batch)(x)
    loss.backward()
    assert torch.isfinite(loss) and x.grad is not None and x.grad.abs().sum() > 0
    assert not any(m.training for m in net.modules())  # every mode restored
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # no statistics updated
    torch.rand(5)  # the global generator moves on; the attack's loss does not
    again = probe.loss(batch)(x.detach())
    assert torch.equal(again, loss.detach())  # the same loss every time (seeded sampling)
    assert vb  # the package imported whole (registries filled)


def test_an_anomaly_attack_raises_normal_scores_and_lowers_defective_ones():
    from visionbench.tasks.anomaly import AnomalyDetection, AnomalyState, top_mean

    task = AnomalyDetection(TrainConfig(task="anomaly"))
    task.state = AnomalyState(scoring="reconstruct")
    model = nn.Conv2d(3, 3, 3, padding=1).eval()  # a reconstruction that is not the identity
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    batch = (x, torch.tensor([0, 1]), torch.zeros(2, 16, 16))
    v = x.clone().requires_grad_(True)
    task.attack_loss(model, task.with_images(batch, v)).backward()
    stepped = (x + 0.01 * v.grad.sign()).clamp(0, 1)
    with torch.no_grad():
        before, after = (top_mean(task.anomaly_maps(model, i), task.top) for i in (x, stepped))
    assert after[0] > before[0] and after[1] < before[1]


def test_a_generation_run_is_refused_in_one_line(tmp_path, monkeypatch):
    from visionbench.analysis.challenges import QUICK, challenges_run
    from visionbench.errors import VisionbenchError
    from visionbench.tasks import workflow
    from visionbench.tasks.generation import Generation

    cfg = TrainConfig(task="generation", model="vae", data="digits")
    monkeypatch.setattr(workflow, "load_run", lambda p: (None, cfg, Generation(cfg), None, None))
    with pytest.raises(VisionbenchError, match="generation run has no input image to corrupt"):
        challenges_run(tmp_path, form=QUICK)


def test_a_restoration_attack_runs_at_any_size_through_the_evaluated_output():
    """The inpainting U-Net fails on sizes off its divisor (the test photos are 252 x 378): the
    attack pads and crops as evaluation does, instead of calling the training loss."""
    from visionbench.models.registry import create_model

    task = Restoration(TrainConfig(task="restoration", task_options={"degradation": "inpaint:box"}))
    torch.manual_seed(0)
    model = create_model("unet_attention", task="restoration", extra_in=1).eval()
    clean = torch.rand(1, 3, 37, 45)
    batch = (task.degrade(clean, torch.Generator().manual_seed(0), test=True), clean, False)
    x = clean.clone().requires_grad_(True)
    loss = task.attack_loss(model, task.with_images(batch, x))
    loss.backward()
    assert torch.isfinite(loss) and x.grad.abs().sum() > 0
    with torch.no_grad():
        out = task.restore(model, batch[0])
    assert loss.item() == pytest.approx(F.mse_loss(out, clean).item(), rel=1e-4)
