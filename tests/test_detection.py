"""Object detection and instance segmentation (issue 13): models, the task, real layouts, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import visionbench as vb
from visionbench.cli import main as cli
from visionbench.config import TrainConfig
from visionbench.data.synthetic import make_instance_scenes
from visionbench.errors import VisionbenchError
from visionbench.models.registry import MODELS, create_model
from visionbench.tasks.detection import ClassPrior, Detection, InstanceSegmentation

TINY = ("faster_rcnn_tiny", "mask_rcnn_tiny", "fcos_tiny", "fcos_mobilenetv4_small",
        "fcos_vit_tiny", "fcos_hybrid_tiny", "yolo_nano", "yolo_small")  # fmt: skip
STANDARD = ("faster_rcnn_resnet50_fpn", "fcos_resnet50_fpn", "mask_rcnn_resnet50_fpn")
SMALL = {"n_train": 24, "n_val": 8, "n_test": 8}  # shapes data options for a few-step run


def scenes(n: int = 4, size: int = 64, seed: int = 5):
    images, targets = make_instance_scenes(n, size, seed=seed)
    return images, targets


@pytest.mark.parametrize("name", TINY)
def test_detector_forward_backward_and_eval_contract(name):
    torch.manual_seed(0)
    task = "instance_segmentation" if name.startswith("mask") else "detection"
    model = create_model(name, task=task, num_classes=3, in_chans=3, img_size=64)
    images, targets = scenes(2)
    model.train()
    losses = model(list(images), [dict(t) for t in targets])
    loss = sum(losses.values())
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    # timm zero-initialises each residual block's last norm, so those blocks get gradients from
    # the second step on; everything else must get one now
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in grads) > 0.6 * len(grads)
    norms = [m for m in model.modules() if "Norm" in type(m).__name__]
    assert norms and all(any(p.requires_grad for p in m.parameters()) for m in norms)
    model.eval()
    with torch.no_grad():  # any size: a 64x64 and a 48x80 image in one call
        out = model([images[0], torch.rand(3, 48, 80)])
    assert len(out) == 2 and {"boxes", "scores", "labels"} <= set(out[0])
    b = out[1]["boxes"]
    assert b.shape[1] == 4 and (b[:, 2] <= 80 + 1e-3).all() and (b[:, 3] <= 48 + 1e-3).all()
    if len(out[0]["labels"]):
        assert int(out[0]["labels"].min()) >= 1 and int(out[0]["labels"].max()) <= 3


def test_hybrid_trunk_makes_its_tokens_with_convolutions():
    """The hybrid detector differs from the ViT one only in how tokens are made: three stride-2
    convolutions instead of one 8x8 patch projection, to the same stride-8 token grid."""
    vit = create_model("fcos_vit_tiny", task="detection", num_classes=3, in_chans=3, img_size=64)
    hyb = create_model("fcos_hybrid_tiny", task="detection", num_classes=3, in_chans=3, img_size=64)
    assert MODELS.get("fcos_hybrid_tiny").family == "hybrid"
    plain = vit.backbone.vit.patch_embed.proj
    stem = hyb.backbone.vit.patch_embed.proj
    assert isinstance(plain, torch.nn.Conv2d) and plain.stride == (8, 8)
    convs = [m for m in stem.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2)] * 3
    x = torch.rand(2, 3, 64, 96)
    assert stem(x).shape == plain(x).shape == (2, 128, 8, 12)


@pytest.mark.parametrize("name", STANDARD)
def test_standard_variants_are_torchvision_models_from_scratch(name):
    with torch.device("meta"):  # shapes only: no weights are initialised or downloaded
        model = create_model(name, num_classes=5, in_chans=3, img_size=800)
    assert MODELS.get(name).family == "modern_cnn"
    assert sum(p.numel() for p in model.parameters()) > 20e6
    norms = [type(m).__name__ for m in model.modules() if "Norm" in type(m).__name__]
    assert "FrozenBatchNorm2d" not in norms and "BatchNorm2d" in norms
    predictor = model.roi_heads.box_predictor if hasattr(model, "roi_heads") else None
    if predictor is not None:
        assert predictor.cls_score.out_features == 6  # 5 classes + background


def test_yolo_overfits_one_batch():
    torch.manual_seed(0)
    images, targets = scenes(2, seed=11)
    model = create_model("yolo_nano", num_classes=3, in_chans=3, img_size=64)
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    model.train()
    for _ in range(60):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    from visionbench.metrics.detection import coco_map

    with torch.no_grad():
        out = model(images)
    assert coco_map(out, targets)["map_50"] > 0.6


def test_class_prior_baseline_by_hand():
    t1 = {
        "boxes": torch.tensor([[0.0, 0, 20, 20], [40, 40, 60, 60]]),
        "labels": torch.tensor([1, 2]),
    }
    t2 = {"boxes": torch.tensor([[20.0, 20, 40, 40]]), "labels": torch.tensor([1])}
    prior = ClassPrior.fit([(t1, (100, 100)), (t2, (100, 100))])
    assert prior.boxes[1] == pytest.approx([0.2, 0.2, 0.2, 0.2])  # mean centre and size
    assert prior.frequency == pytest.approx({1: 2 / 3, 2: 1 / 3})
    p = prior.predict(50, 200, masks=True)  # fractions of the image: any size
    assert p["boxes"][0].tolist() == pytest.approx([20.0, 5.0, 60.0, 15.0])
    assert p["scores"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert int(p["masks"][0].sum()) == 40 * 10
    again = ClassPrior.from_dict(json.loads(json.dumps(prior.to_dict())))
    assert again == prior


def test_flip_moves_boxes_and_masks_with_the_image():
    from visionbench.tasks.detection import augment_pair, make_transform

    images, targets = scenes(1, seed=2)
    torch.manual_seed(1)
    flip = make_transform("hflip")
    for _ in range(4):  # at least one of four draws flips
        x, t = augment_pair(images[0], dict(targets[0]), flip)
        if not torch.equal(x, images[0]):
            break
    assert torch.equal(x, images[0].flip(-1))
    assert torch.equal(t["masks"], targets[0]["masks"].flip(-1))
    b = targets[0]["boxes"]
    assert torch.equal(t["boxes"], torch.stack([64 - b[:, 2], b[:, 1], 64 - b[:, 0], b[:, 3]], 1))
    assert torch.equal(t["labels"], targets[0]["labels"])


def test_shapes_run_evaluates_beside_the_baseline_and_predicts(tmp_path):
    res = vb.train(task="detection", model="yolo_nano", data="shapes", out=str(tmp_path),
                   quiet=True, epochs=2, batch_size=8, data_options=SMALL)  # fmt: skip
    m = res.metrics
    for key in ("map", "map_50", "map_75", "mar_100", "voc_map", "ap_circle", "prior_map"):
        assert key in m
    run_json = json.loads((res.run_dir / "run.json").read_text())
    assert "prior_map" in json.dumps(run_json)  # the report finds the baseline beside map
    assert 0 <= m["prior_map"] < 0.05 and m["map_medium"] is None  # no medium objects at 64 px
    again = vb.evaluate(res.run_dir)
    assert again["map"] == pytest.approx(m["map"], abs=1e-9)
    # predict: a PNG with boxes drawn and a COCO results JSON
    x, _ = vb.load_dataset("shapes", "detection", **SMALL).test[0]
    src = tmp_path / "scene.png"
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(src)
    run, cfg, task, model, info = vb.load_run(res.run_dir)
    outs = task.predict(model, vb.api.read_image(src, 3))
    saved = tmp_path / "test_dets.json"
    assert cli(["eval", str(res.run_dir), "--save-predictions", str(saved)]) == 0
    assert {"image_id", "category_id", "bbox", "score"} <= set(json.loads(saved.read_text())[0])
    png = vb.predict(res.run_dir, src, tmp_path / "pred.png")
    assert Image.open(png).size == (256, 256)  # drawn 4x so labels are legible
    dets = json.loads(png.with_suffix(".json").read_text())
    assert len(dets) == len(outs[0]["labels"])
    assert all({"bbox", "score", "category_id"} <= set(d) for d in dets)


def test_mask_rcnn_instance_segmentation_scores_masks(tmp_path):
    res = vb.train(task="instance_segmentation", model="mask_rcnn_tiny", data="shapes",
                   out=str(tmp_path), quiet=True, epochs=1, batch_size=8,
                   data_options=SMALL)  # fmt: skip
    m = res.metrics
    assert {"mask_map", "mask_map_50", "prior_mask_map", "map", "mask_ap_square"} <= set(m)
    assert (res.run_dir / "samples" / "instance_segmentation.png").is_file()


# -- real layouts written here -------------------------------------------------------------------
def _polygon(mask: np.ndarray) -> list[float]:
    """The box outline of a mask as a COCO polygon (enough for a format check)."""
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return [float(v) for v in (x0, y0, x1, y0, x1, y1, x0, y1)]


def coco_folder(root: Path, n: int = 12) -> dict:
    images, targets = scenes(n, seed=21)
    anns, imgs = [], []
    for i, (x, t) in enumerate(zip(images, targets), start=1):
        w = 64 if i % 3 else 48  # not every image is square
        a = (x[:, :, :w].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        path = root / "images" / "train2017" / f"{i:012d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(path)
        imgs.append({"id": i, "file_name": path.name, "width": w, "height": 64})
        if i == n:
            continue  # an image without annotations: a valid negative
        for b, lab, m in zip(t["boxes"].tolist(), t["labels"].tolist(), t["masks"].numpy()):
            if b[2] > w:
                continue
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 10 * lab,
                         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "iscrowd": 0,
                         "segmentation": [_polygon(m)], "area": float(m.sum())})  # fmt: skip
    ann = {
        "images": imgs,
        "annotations": anns,
        "categories": [{"id": 10, "name": "circle"}, {"id": 20, "name": "square"},
                       {"id": 30, "name": "triangle"}],
    }  # fmt: skip
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(ann))
    return ann


def voc_folder(root: Path, n: int = 12) -> Path:
    base = root / "VOC2012"
    images, targets = scenes(n, seed=22)
    for d in ("JPEGImages", "Annotations"):
        (base / d).mkdir(parents=True, exist_ok=True)
    names = ["cat", "dog", "car"]
    for i, (x, t) in enumerate(zip(images, targets)):
        a = (x.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
        Image.fromarray(a).save(base / "JPEGImages" / f"img{i:03d}.jpg")
        objs = "".join(
            f"<object><name>{names[lab - 1]}</name><difficult>{int(j == 0)}</difficult><bndbox>"
            f"<xmin>{b[0] + 1:g}</xmin><ymin>{b[1] + 1:g}</ymin><xmax>{b[2]:g}</xmax>"
            f"<ymax>{b[3]:g}</ymax></bndbox></object>"
            for j, (b, lab) in enumerate(zip(t["boxes"].tolist(), t["labels"].tolist()))
        )
        xml = f"<annotation><size><width>64</width><height>64</height></size>{objs}</annotation>"
        (base / "Annotations" / f"img{i:03d}.xml").write_text(xml)
    return root


@pytest.mark.parametrize("layout", ["coco", "voc"])
def test_real_layout_trains_and_evaluates(tmp_path, layout):
    data = tmp_path / "data"
    if layout == "coco":
        coco_folder(data)
    else:
        voc_folder(data)
    res = vb.train(task="detection", model="fcos_tiny", data=f"{layout}:{data}",
                   out=str(tmp_path / "runs"), quiet=True, epochs=1, batch_size=4)  # fmt: skip
    m = res.metrics
    assert res.status["status"] == "done" and "map" in m and "prior_map" in m
    if layout == "coco":  # the run keeps COCO's category ids for the results JSON
        run, cfg, task, model, info = vb.load_run(res.run_dir)
        assert task.state.category_ids == [10, 20, 30]
        bundle = vb.load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed)
        results = task.coco_results(model, bundle.test, torch.device("cpu"))
        assert all(r["category_id"] in (10, 20, 30) for r in results)


def test_coco_instance_segmentation_from_polygons(tmp_path):
    coco_folder(tmp_path / "data")
    res = vb.train(task="instance_segmentation", model="mask_rcnn_tiny",
                   data=f"coco:{tmp_path / 'data'}", out=str(tmp_path / "runs"), quiet=True,
                   epochs=1, batch_size=4)  # fmt: skip
    assert "mask_map" in res.metrics and "prior_mask_map" in res.metrics


@pytest.mark.parametrize(
    "damage, message",
    [
        ("outside", r"box \[60, 2, 90, 12\] lies outside the 64x64 image"),
        ("category", "has unknown category id 99"),
        ("mask_size", "mask 0 is 32x32 but the image is 64x64"),
    ],
)
def test_broken_annotations_fail_in_one_line(tmp_path, capsys, damage, message):
    ann = coco_folder(tmp_path / "data")
    first = ann["annotations"][0]
    if damage == "outside":
        first["bbox"] = [60, 2, 30, 10]
        first["image_id"] = 1
    elif damage == "category":
        first["category_id"] = 99
    else:
        first["segmentation"] = {"size": [32, 32], "counts": "0"}
        first["image_id"] = 1
    (tmp_path / "data" / "annotations" / "instances_train2017.json").write_text(json.dumps(ann))
    code = cli(["train", "instance_segmentation", "--model", "mask_rcnn_tiny", "--data",
                f"coco:{tmp_path / 'data'}", "--epochs", "1", "--out", str(tmp_path / "runs"),
                "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert __import__("re").search(message, err), err


def test_boxes_only_data_refuses_instance_segmentation_in_one_line(tmp_path):
    voc_folder(tmp_path / "data")
    cfg = TrainConfig(task="instance_segmentation", model="mask_rcnn_tiny",
                      data=f"voc:{tmp_path / 'data'}", out=str(tmp_path), quiet=True, epochs=1)  # fmt: skip
    with pytest.raises(VisionbenchError, match="ImageSets/Segmentation"):
        vb.train(cfg)


def test_tasks_are_registered_with_their_ranking_metrics():
    assert Detection.ranking_metric == "map" and InstanceSegmentation.ranking_metric == "mask_map"
    assert "instance_segmentation" in MODELS.get("mask_rcnn_tiny").tasks
