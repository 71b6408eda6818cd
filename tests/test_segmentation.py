"""Semantic segmentation: model shapes, learning, joint augmentation, metrics, CLI and errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from visionbench.api import load_run
from visionbench.cli import main as cli
from visionbench.config import TrainConfig
from visionbench.data.registry import DataBundle, DataInfo, load_dataset
from visionbench.data.tensors import TensorSet
from visionbench.models.registry import MODELS, Recipe, create_model
from visionbench.tasks.segmentation import Segmentation, Segmenter, joint_hflip

SEG_MODELS = sorted(m.name for m in MODELS if "segmentation" in m.tasks)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_every_family_that_suits_segmentation_has_a_model():
    families = {MODELS.get(m).family for m in SEG_MODELS}
    assert {"modern_cnn", "modern_autoencoder", "vit"} <= families
    assert {"unet_attention", "fcn_resnet_tiny", "setr_nano"} <= set(SEG_MODELS)


@pytest.mark.parametrize("name", SEG_MODELS)
@pytest.mark.parametrize("chans", [1, 3])
def test_forward_gives_class_logits_at_two_sizes_and_backward_reaches_every_weight(name, chans):
    torch.manual_seed(0)
    k = 5
    for size in (32, 48):
        net = create_model(name, task="segmentation", num_classes=k, in_chans=chans, img_size=size)
        x = torch.rand(2, chans, size, size)
        out = net(x)
        assert out.shape == (2, k, size, size)
        loss = nn.functional.cross_entropy(out, torch.randint(0, k, (2, size, size)))
        loss.backward()
        missing = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, missing
        assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize(
    "name",
    ["unet_attention", "fcn_resnet_tiny", "setr_nano"]
    + ["deeplabv3p_resnet_tiny", "segformer_nano", "unet_tiny"],
)
def test_segmenter_accepts_sizes_the_network_does_not_divide(name):
    """The wrapper pads to the network's size divisor and crops back: any H x W works."""
    net = create_model(name, task="segmentation", num_classes=4, in_chans=3, img_size=64)
    model = Segmenter(net, [0.5] * 3, [0.25] * 3).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 37, 50)).shape == (1, 4, 37, 50)


def _task(augment: str = "none") -> Segmentation:
    task = Segmentation(TrainConfig(task="segmentation", model="fcn_resnet_tiny", data="shapes"))
    task.set_recipe(Recipe(augment=augment))
    return task


def test_fcn_overfits_a_few_shapes_scenes():
    torch.manual_seed(0)
    bundle = load_dataset("shapes", "segmentation", n=27)  # 6 test scenes
    x, y = bundle.test.images[:6], bundle.test.labels[:6]
    task = _task()
    bundle = task.prepare(DataBundle(bundle.info, TensorSet(x, y), bundle.val, bundle.test), None)
    model = task.build_model(MODELS.get("fcn_resnet_tiny"), bundle.info)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(80):
        loss = task.loss(model, (x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    metrics = task.evaluate(model, TensorSet(x, y), torch.device("cpu"))
    assert metrics["pixel_accuracy"] > 0.9
    assert metrics["pixel_accuracy"] > metrics["majority_pixel_accuracy"] + 0.05
    assert metrics["miou"] > 0.6 > metrics["majority_miou"]


def test_flip_moves_image_and_mask_together_and_is_seeded():
    torch.manual_seed(0)
    x = torch.rand(32, 3, 8, 8)
    mask = (x[:, 0] > 0.5).long()  # a label that is a function of the pixel under it
    mask[:, :, 0] = 255  # ignore the first column: flipped masks keep 255 where it lands
    task = _task("hflip")
    ax, am = task.augment((x, mask), torch.Generator().manual_seed(1))
    keep = am != 255
    assert torch.equal(am[keep], (ax[:, 0] > 0.5).long()[keep])
    flipped = (ax != x).flatten(1).any(1)
    assert 0 < int(flipped.sum()) < 32  # some images flipped, some not
    assert torch.equal(am[flipped][:, :, -1], torch.full_like(am[flipped][:, :, -1], 255))
    bx, bm = joint_hflip(x, mask, torch.Generator().manual_seed(1))
    assert torch.equal(bx, ax) and torch.equal(bm, am)  # the generator decides, nothing else
    cx, _ = joint_hflip(x, mask, torch.Generator().manual_seed(2))
    assert not torch.equal(cx, ax)
    same_x, same_m = _task("none").augment((x, mask), torch.Generator().manual_seed(1))
    assert same_x is x and same_m is mask


class FixedPrediction(nn.Module):
    """Logits whose argmax is a given class map, whatever the input."""

    def __init__(self, pred: torch.Tensor, k: int):
        super().__init__()
        self.logits = nn.functional.one_hot(pred, k).permute(0, 3, 1, 2).float()

    def forward(self, x):
        return self.logits[: x.shape[0]]


def test_evaluate_matches_a_hand_computed_miou():
    # target [[0, 0], [1, 255]], prediction [[0, 1], [1, 2]]: the ignored pixel is not counted,
    # so class 2 is absent from both and left out of the mean.
    target = torch.tensor([[[0, 0], [1, 255]]])
    pred = torch.tensor([[[0, 1], [1, 2]]])
    info = DataInfo("toy", "segmentation", 3, 2, num_classes=3, class_names=["bg", "a", "b"])
    data = TensorSet(torch.rand(1, 3, 2, 2), target)
    task = _task()
    task.prepare(DataBundle(info, data, data, data), None)
    m = task.evaluate(FixedPrediction(pred, 3), data, torch.device("cpu"))
    # IoU bg = 1 / (2 + 1 - 1) = 0.5; IoU a = 1 / (1 + 2 - 1) = 0.5; b: NaN (no pixels)
    assert m["iou_bg"] == pytest.approx(0.5) and m["iou_a"] == pytest.approx(0.5)
    assert m["iou_b"] is None
    assert m["miou"] == pytest.approx(0.5)
    assert m["pixel_accuracy"] == pytest.approx(2 / 3)
    assert m["mean_class_accuracy"] == pytest.approx((1 / 2 + 1) / 2)
    # all background: IoU bg = 2 / 3, IoU a = 0
    assert m["majority_miou"] == pytest.approx(1 / 3)
    assert m["majority_pixel_accuracy"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("segruns")
    argv = ["train", "segmentation", "--model", "fcn_resnet_tiny", "--data", "shapes"]
    argv += ["--epochs", "2", "--data-option", "n=90", "--out", str(out), "--quiet"]
    assert cli(argv) == 0
    return out / "segmentation" / "fcn_resnet_tiny__shapes__s0"


def test_cli_train_eval_predict_round_trip(seg_run, tmp_path, capsys):
    saved = json.loads((seg_run / "metrics.json").read_text())
    assert {"miou", "pixel_accuracy", "mean_class_accuracy", "majority_miou"} <= set(saved)
    assert {"iou_background", "iou_circle", "iou_square", "iou_triangle"} <= set(saved)
    assert (seg_run / "samples" / "segmentation.png").stat().st_size > 1000
    capsys.readouterr()
    assert cli(["eval", str(seg_run), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    for k, v in saved.items():
        assert (again[k] is None and v is None) or math.isclose(again[k], v, abs_tol=1e-9), k

    from PIL import Image

    img = tmp_path / "scene.png"
    scene = load_dataset("shapes", "segmentation", n=9).test.images[0]
    Image.fromarray((scene.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(img)
    mask = tmp_path / "m.png"
    assert cli(["predict", str(seg_run), "--input", str(img), "--output", str(mask)]) == 0
    assert "class mask written" in capsys.readouterr().out
    with Image.open(mask) as m:
        assert m.mode == "P" and m.size == (64, 64)
        ids = np.asarray(m)
    assert set(np.unique(ids)) <= {0, 1, 2, 3}
    # the mask holds the model's per-pixel classes for this scene (shapes, not only background)
    model = load_run(seg_run)[3]
    with Image.open(img) as im:
        given = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)
    with torch.no_grad():
        expected = model(given[None]).argmax(1)[0].numpy()
    assert (expected != 0).sum() > 20, "the trained model finds no shape in this scene"
    assert np.array_equal(ids, expected)


def test_one_line_errors(tmp_path, capsys):
    base = ["train", "segmentation", "--data", "shapes", "--out", str(tmp_path), "--quiet"]
    assert cli([*base, "--model", "lenet5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "model 'lenet5' does not support task 'segmentation'" in err
    assert cli(["train", "segmentation", "--model", "setr_nano", "--data", "digits"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not serve task 'segmentation'" in err
    assert (
        cli([*base, "--model", "fcn_resnet_tiny", "--augment", "flip_crop", "--epochs", "1"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "augmentation must be one of none, hflip" in err


def test_review_suite_runs_segmentation_with_fixed_work():
    from visionbench.bench.suites import quick_selection, review_jobs
    from visionbench.families import FAMILIES

    jobs, notes = review_jobs()
    kept, _ = quick_selection(jobs)
    seg = [j for j in kept if j.task == "segmentation"]
    models = {"unet_attention", "fcn_resnet_tiny", "setr_nano"}
    models |= {"deeplabv3p_resnet_tiny", "segformer_nano", "unet_tiny"}  # issue 18
    assert {j.model for j in seg} == models
    for job in seg:  # the work is the epochs, never seconds
        assert job.data == "shapes" and "time_budget" not in job.quick
    seg_notes = [n for n in notes if "segmentation" in n]
    assert "not implemented yet" not in " ".join(seg_notes)
    covered = {FAMILIES.get(k).name for k in ("modern_cnn", "mobile_cnn", "vit")}
    assert not [n for n in seg_notes if n.split(":")[0] in covered]


def test_report_shows_the_segmentation_board_with_pixel_accuracy_and_the_grid(seg_run):
    from visionbench.bench.report import write_report

    html = write_report(seg_run.parents[1]).read_text()
    md = (seg_run.parents[1] / "report.md").read_text()
    assert "### segmentation on shapes (ranked by miou" in md
    assert "majority_miou = " in md and "pixel_accuracy " in md
    assert "majority_pixel_accuracy = " in md
    assert "also measured" in html and "segmentation.png" in html
