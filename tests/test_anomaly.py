"""The anomaly task: scoring, metrics, training on normal images only, CLI round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from visionbench.cli import main
from visionbench.config import TrainConfig
from visionbench.data.registry import DataBundle, DataInfo, load_dataset
from visionbench.data.synthetic import MultiTensorSet
from visionbench.errors import VisionbenchError
from visionbench.tasks.anomaly import (
    AnomalyDetection,
    AnomalyState,
    cell_parts,
    gaussian_blur,
    top_mean,
)

CPU = torch.device("cpu")
# a few seconds of training: 32px patches, 64 training images
SMALL = {"patch_size": 32, "n_train": 64, "n_val": 16, "n_test": 40}


def task(**options) -> AnomalyDetection:
    """A task whose state comes from the options (prepare() keeps a state that is set)."""
    t = AnomalyDetection(TrainConfig(task="anomaly", task_options=options))
    fields = {k: options[k] for k in ("smooth", "top_fraction", "cell", "parts") if k in options}
    t.state = AnomalyState(scoring=options.get("scoring", "reconstruct"), **fields)
    return t


class MeanImage(nn.Module):
    """A perfect model of 'normal' for data that is the mean image plus noise: it outputs the
    mean whatever it sees, so its reconstruction error is the distance to normal."""

    def __init__(self, mean: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean.expand_as(x)


def planted(n: int = 40, size: int = 32, seed: int = 0):
    """Smooth normal images (a gradient + faint noise); half the test set has a bright square."""
    g = torch.Generator().manual_seed(seed)
    base = torch.linspace(0.2, 0.6, size).view(1, 1, size).expand(1, size, size).clone()
    train = (base + 0.02 * torch.randn(n, 1, size, size, generator=g)).clamp(0, 1)
    test = (base + 0.02 * torch.randn(n, 1, size, size, generator=g)).clamp(0, 1)
    labels = torch.zeros(n, dtype=torch.long)
    masks = torch.zeros(n, size, size)
    boxes = []
    for i in range(n // 2, n):
        y, x = torch.randint(2, size - 8, (2,), generator=g).tolist()
        test[i, :, y : y + 6, x : x + 6] = 1.0
        masks[i, y : y + 6, x : x + 6] = 1
        labels[i] = 1
        boxes.append((y, x))
    zeros = torch.zeros(n, dtype=torch.long)
    info = DataInfo(name="planted", task="anomaly", in_chans=1, img_size=size, num_classes=2)
    bundle = DataBundle(
        info,
        MultiTensorSet(train, zeros, torch.zeros(n, size, size)),
        MultiTensorSet(train[:8], zeros[:8], torch.zeros(8, size, size)),
        MultiTensorSet(test, labels, masks),
    )
    return bundle, base[None], boxes


def test_mean_model_ranks_and_localises_a_planted_defect():
    bundle, base, boxes = planted()
    t = task(scoring="reconstruct")
    t.prepare(bundle, None)
    model = MeanImage(base)
    m = t.evaluate(model, bundle.test, CPU)
    assert m["image_auroc"] == 1.0 and m["f1_max"] == 1.0
    assert m["pixel_auroc"] > 0.95 and m["pro"] > 0.8
    # the map's peak lies on the defect, for every defective image
    test = bundle.test
    maps = t.anomaly_maps(model, test.images[len(test) // 2 :])
    for amap, (y, x) in zip(maps[:, 0], boxes):
        py, px = divmod(int(amap.argmax()), amap.shape[-1])
        assert y - 1 <= py <= y + 6 and x - 1 <= px <= x + 6
    # the model-free baseline sits beside each metric, and sees a bright square too
    assert m["baseline_image_auroc"] > 0.9
    assert {"baseline_pixel_auroc", "baseline_f1_max", "baseline_pro"} <= m.keys()


def test_metrics_match_a_hand_computed_example():
    # four constant maps: image scores 0.1, 0.4 (normal), 0.35, 0.8 (defective)
    maps = torch.tensor([0.1, 0.4, 0.35, 0.8]).view(4, 1, 1, 1).expand(4, 1, 4, 4).clone()
    labels = torch.tensor([0, 0, 1, 1])
    m = task().metrics(maps, labels, torch.zeros(4, 4, 4))
    # pairs (defect, normal) ranked right: 0.35>0.1, 0.8>0.1, 0.8>0.4; wrong: 0.35<0.4 -> 3/4
    assert m["image_auroc"] == pytest.approx(0.75)
    # threshold 0.35: 2 true positives, 1 false positive -> P 2/3, R 1, F1 0.8
    assert m["f1_max"] == pytest.approx(0.8) and m["image_threshold"] == pytest.approx(0.35)
    assert "pixel_auroc" not in m  # all-normal masks: no pixel metric rather than a wrong one


def test_scoring_helpers():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    b = gaussian_blur(x, 1.0)
    assert b.sum() == pytest.approx(1.0, abs=1e-5) and int(b.argmax()) == 40
    maps = torch.arange(200.0).view(2, 1, 10, 10)
    assert top_mean(maps, 0.02).tolist() == [98.5, 198.5]  # mean of the top 2 of 100
    parts = cell_parts(16, 16, 4, 4, torch.Generator().manual_seed(0))
    assert torch.equal(parts.sum(0), torch.ones(1, 16, 16))  # each pixel hidden exactly once
    assert parts.flatten(1).sum(1).tolist() == [64.0] * 4


def test_training_never_sees_an_anomalous_image():
    bundle = load_dataset("textures", "anomaly", **SMALL)
    for part in (bundle.train, bundle.val):
        assert int(part.labels.sum()) == 0 and float(part.others[1].sum()) == 0
    assert int(bundle.test.labels.sum()) == len(bundle.test) // 2
    # a training split with a defect in it is refused, not silently trained on
    bad, _, _ = planted()
    bad.train = bad.test
    with pytest.raises(VisionbenchError, match="normal images only"):
        task().prepare(bad, None)


@pytest.fixture(scope="module")
def dae_anomaly(tmp_path_factory):
    """dae trained a few seconds; every batch the loss sees is recorded."""
    import visionbench as vb

    seen = []
    loss = AnomalyDetection.loss

    def spy(self, model, batch):
        seen.append(batch[1].detach().clone())
        return loss(self, model, batch)

    AnomalyDetection.loss = spy
    try:
        result = vb.train(
            task="anomaly",
            model="dae",
            data="textures",
            data_options=SMALL,
            epochs=4,
            augment="none",
            quiet=True,
            threads=2,
            run_dir=str(tmp_path_factory.mktemp("anom") / "dae"),
        )
    finally:
        AnomalyDetection.loss = loss
    return result, torch.cat(seen)


def test_a_briefly_trained_autoencoder_beats_chance(dae_anomaly):
    result, _ = dae_anomaly
    m = result.metrics
    assert m["image_auroc"] > 0.75 and m["pixel_auroc"] > 0.75
    assert (result.run_dir / "samples" / "anomaly_maps.png").stat().st_size > 1000
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["image_auroc"] == pytest.approx(m["image_auroc"])


def test_every_training_batch_came_from_the_normal_training_split(dae_anomaly):
    _, seen = dae_anomaly
    train = load_dataset("textures", "anomaly", **SMALL).train.images
    flat = train.flatten(1)
    for img in seen.flatten(1):
        assert bool((flat == img).all(1).any())


def test_cli_round_trip(dae_anomaly, tmp_path, capsys):
    from PIL import Image

    result, _ = dae_anomaly
    run = str(result.run_dir)
    assert main(["eval", run, "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    for k in ("image_auroc", "pixel_auroc", "f1_max", "pro", "baseline_image_auroc"):
        assert again[k] == pytest.approx(saved[k], abs=1e-6)
    # the first defective test patch (a texture with a planted defect and its ground-truth mask)
    test = load_dataset("textures", "anomaly", **SMALL).test
    first = int(torch.nonzero(test.labels != 0)[0])
    patch, defect = test.images[first, 0], test.others[-1][first].reshape(32, 32) > 0
    assert 0 < defect.sum() < 32 * 32 / 4 and not defect[0, 0]  # a constant map peaks at (0, 0)
    src = tmp_path / "patch.png"
    Image.fromarray((patch.numpy() * 255).round().astype(np.uint8)).save(src)
    assert main(["predict", run, "--input", str(src), "--output", str(tmp_path / "map.png")]) == 0
    assert "anomaly map" in capsys.readouterr().out
    with Image.open(tmp_path / "map.png") as im:
        assert im.size == (32, 32)
        written = torch.from_numpy(np.asarray(im.convert("L"), dtype=np.float32))
    # the written map localises the defect: its peak lies inside it, and it is brighter there
    assert bool(defect.flatten()[written.argmax()])
    assert written[defect].mean() > 2 * written[~defect].mean()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "lenet5"], "does not support task 'anomaly'"),
        (["--model", "dae", "--task-option", "scoring=inpaint"], "cannot score by inpainting"),
        (["--model", "dae", "--task-option", "scoring=magic"], "scoring must be one of"),
    ],
)
def test_one_line_errors(argv, message, tmp_path, capsys):
    code = main(["train", "anomaly", "--data", "textures", "--out", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1


def test_review_suite_has_anomaly_side_jobs():
    from visionbench.bench.suites import review_jobs

    jobs, notes = review_jobs()
    anomaly = {j.model: j for j in jobs if j.task == "anomaly"}
    assert {"dae", "unet_attention", "ganomaly"} <= anomaly.keys()
    for j in anomaly.values():
        assert j.data == "textures" and "time_budget" not in j.quick
    assert not [n for n in notes if "anomaly" in n]
