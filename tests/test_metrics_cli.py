"""visionbench metrics coco|image|seg on files, and their one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from visionbench.cli import main
from visionbench.metrics.detection import coco_map
from visionbench.metrics.image import psnr


def _coco_files(tmp_path):
    gt = {
        "images": [{"id": 1, "height": 50, "width": 50}, {"id": 2, "height": 50, "width": 50}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [0, 0, 10, 10],
                "area": 100,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 1,
                "bbox": [5, 5, 20, 20],
                "area": 400,
                "iscrowd": 0,
            },
        ],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    }
    dt = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},
        {"image_id": 2, "category_id": 1, "bbox": [30, 30, 10, 10], "score": 0.8},
        {"image_id": 2, "category_id": 1, "bbox": [6, 5, 20, 20], "score": 0.4},
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dt))
    return tmp_path / "gt.json", tmp_path / "dt.json"


def test_coco_json(tmp_path, capsys):
    gt, dt = _coco_files(tmp_path)
    assert main(["metrics", "coco", "--gt", str(gt), "--dt", str(dt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out) == 12
    # ranked TP, FP, TP: precision envelope 1 up to recall .5, then 2/3; 101 recall points
    assert out["map_50"] == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-12)
    assert out["map_large"] == -1.0
    preds = [
        {"boxes": [[0, 0, 10, 10]], "scores": [0.9], "labels": [1]},
        {"boxes": [[30, 30, 40, 40], [6, 5, 26, 25]], "scores": [0.8, 0.4], "labels": [1, 1]},
    ]
    targets = [
        {"boxes": np.array([[0, 0, 10, 10]]), "labels": np.array([1])},
        {"boxes": np.array([[5, 5, 25, 25]]), "labels": np.array([1])},
    ]
    assert coco_map(preds, targets, num_classes=3) == pytest.approx(out, abs=1e-12)


def test_coco_table_and_errors(tmp_path, capsys):
    gt, dt = _coco_files(tmp_path)
    assert main(["metrics", "coco", "--gt", str(gt), "--dt", str(dt)]) == 0
    assert "map_50" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["metrics", "coco", "--gt", str(gt), "--dt", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "invalid JSON" in err and "bad.json" in err and err.count("\n") == 1
    assert main(["metrics", "coco", "--gt", str(tmp_path / "nope.json"), "--dt", str(dt)]) == 2
    assert "not found" in capsys.readouterr().err


def _save(a: np.ndarray, path):
    Image.fromarray(a).save(path)
    return path


def test_image_folders(tmp_path, capsys):
    rng = np.random.default_rng(0)
    (tmp_path / "ref").mkdir()
    (tmp_path / "test").mkdir()
    expected = []
    for name, sigma in (("a", 5), ("b", 20)):
        ref = rng.integers(0, 256, (32, 40, 3)).astype(np.uint8)
        test = np.clip(ref + rng.normal(0, sigma, ref.shape), 0, 255).astype(np.uint8)
        _save(ref, tmp_path / "ref" / f"{name}.png")
        _save(test, tmp_path / "test" / f"{name}.png")
        import torch

        t = lambda a: torch.from_numpy(a / 255.0).permute(2, 0, 1)  # noqa: E731
        expected.append(float(psnr(t(test[2:-2, 2:-2]), t(ref[2:-2, 2:-2]))))
    args = ["metrics", "image", "--ref", str(tmp_path / "ref"), "--test", str(tmp_path / "test")]
    assert main([*args, "--crop", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["psnr"] for r in out["images"]] == pytest.approx(expected)
    assert out["mean"]["psnr"] == pytest.approx(np.mean(expected))
    assert main([*args, "--y-channel"]) == 0
    assert "mean of 2 images" in capsys.readouterr().out
    _save(np.zeros((10, 10, 3), np.uint8), tmp_path / "test" / "a.png")
    assert main([*args]) == 2
    assert "a.png is 10x10" in capsys.readouterr().err


def test_seg_folders(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    _save(np.array([[0, 0, 1, 1], [2, 255, 255, 1]], np.uint8), tmp_path / "gt" / "x.png")
    _save(np.array([[0, 1, 1, 1], [0, 2, 3, 1]], np.uint8), tmp_path / "pred" / "x.png")
    args = ["metrics", "seg", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")]
    assert main([*args, "--num-classes", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["miou"] == pytest.approx((1 / 3 + 3 / 4) / 3)
    assert out["pixel_accuracy"] == pytest.approx(4 / 6)
    assert main([*args, "--num-classes", "2"]) == 2
    assert "x.png" in (err := capsys.readouterr().err) and "class 2" in err
