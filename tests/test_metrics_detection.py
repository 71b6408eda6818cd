"""COCO mAP against pycocotools, VOC AP against hand-computed cases, box and mask IoU."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest
import torch

from visionbench.errors import VisionbenchError
from visionbench.metrics.detection import (
    COCO_NAMES,
    box_iou,
    coco_evaluate,
    coco_map,
    mask_iou,
    to_coco,
    voc_map,
)

SIZE, K = 64, 5  # category K-1 never appears in the ground truth


def synthetic_problem(seed: int, n_img: int = 30, masks: bool = False):
    """Seeded detections with crowd regions, wrong area fields and images past maxDets."""
    rng = np.random.default_rng(seed)
    preds, targets = [], []
    for i in range(n_img):
        n = int(rng.integers(1, 8))
        xy = rng.uniform(0, SIZE * 0.7, (n, 2))
        boxes = np.concatenate([xy, np.minimum(xy + rng.uniform(2, SIZE * 0.6, (n, 2)), SIZE)], 1)
        labels = rng.integers(0, K - 1, n)
        true_area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        wrong = rng.random(n) < 0.3
        t = {
            "boxes": torch.tensor(boxes),
            "labels": torch.tensor(labels),
            "iscrowd": torch.tensor((rng.random(n) < 0.15).astype(int)),
            "area": torch.tensor(true_area * np.where(wrong, rng.uniform(0.1, 20, n), 1.0)),
            "size": (SIZE, SIZE),
        }
        nd = 130 if i % 7 == 0 else int(rng.integers(0, 20))
        src = rng.integers(0, n, nd)
        near = boxes[src] + rng.normal(0, 3, (nd, 4))
        far = np.concatenate([rng.uniform(0, 40, (nd, 2)), rng.uniform(20, 64, (nd, 2))], 1)
        pb = np.where((rng.random(nd) < 0.6)[:, None], near, far)
        pb = np.concatenate(
            [pb[:, :2].clip(0, SIZE), pb[:, :2].clip(0, SIZE) + 1 + np.abs(pb[:, 2:] - pb[:, :2])],
            1,
        )
        pl = np.where(rng.random(nd) < 0.8, labels[src], rng.integers(0, K, nd))
        p = {"boxes": pb, "scores": rng.random(nd), "labels": pl}
        if masks:
            t["masks"] = _box_masks(boxes, rng, fill=0.8)
            p["masks"] = _box_masks(pb, rng, fill=1.0)
        preds.append(p)
        targets.append(t)
    return preds, targets


def _box_masks(boxes, rng, fill):
    m = np.zeros((len(boxes), SIZE, SIZE), np.uint8)
    for j, b in enumerate(np.asarray(boxes).astype(int).clip(0, SIZE - 1)):
        h, w = b[3] + 1 - b[1], b[2] + 1 - b[0]
        m[j, b[1] : b[3] + 1, b[0] : b[2] + 1] = rng.random((h, w)) < fill
    return m


def pycocotools_stats(gt: dict, dets: list, iou_type: str) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coco_matches_pycocotools(iou_type, seed):
    preds, targets = synthetic_problem(seed, masks=iou_type == "segm")
    gt, dets = to_coco(preds, targets, iou_type, num_classes=K)
    # the problem has what the issue asks for
    assert any(a["iscrowd"] for a in gt["annotations"])
    assert K - 1 not in {a["category_id"] for a in gt["annotations"]}
    assert max(np.bincount([d["image_id"] for d in dets])) > 100
    before = copy.deepcopy((gt, dets))
    ours = coco_evaluate(gt, dets, iou_type)
    assert (gt, dets) == before  # the caller's dicts are left alone
    assert list(ours) == list(COCO_NAMES)
    ref = pycocotools_stats(gt, dets, iou_type)
    np.testing.assert_allclose(np.array(list(ours.values())), ref, rtol=0, atol=1e-9)
    assert 0 < ours["map"] < 1 and ours["map_50"] > ours["map"]


def test_area_field_decides_the_size_ranges():
    box = {"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([1])}
    pred = {"boxes": box["boxes"], "scores": torch.tensor([0.9]), "labels": torch.tensor([1])}
    small = coco_map([pred], [box])
    large = coco_map([pred], [{**box, "area": torch.tensor([200.0**2])}])
    assert small["map"] == 1.0 and small["map_small"] == 1.0 and small["map_large"] == -1.0
    assert large["map_large"] == 1.0 and large["map_small"] == -1.0


def test_perfect_and_empty_predictions():
    _, targets = synthetic_problem(5, n_img=5)
    for t in targets:
        t["iscrowd"] = torch.zeros(len(t["labels"]), dtype=torch.long)
    perfect = [
        {"boxes": t["boxes"], "scores": torch.ones(len(t["labels"])), "labels": t["labels"]}
        for t in targets
    ]
    assert coco_map(perfect, targets)["map"] == pytest.approx(1.0)
    empty = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0)}] * 5
    assert coco_map(empty, targets)["map"] == 0.0


def test_coco_file_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(VisionbenchError, match="invalid JSON"):
        coco_evaluate(bad, [])
    with pytest.raises(VisionbenchError, match="not found"):
        coco_evaluate(tmp_path / "missing.json", [])
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": 1}], "annotations": [], "categories": []}))
    with pytest.raises(VisionbenchError, match="image_id 7"):
        coco_evaluate(gt, [{"image_id": 7, "bbox": [0, 0, 1, 1], "score": 1, "category_id": 1}])


def _voc_case(difficult: bool):
    box = [0.0, 0.0, 10.0, 10.0]
    targets = [
        {
            "boxes": torch.tensor([box, [20.0, 20.0, 30.0, 30.0]]),
            "labels": torch.tensor([0, 0]),
            "difficult": torch.tensor([False, difficult]),
        },
        {"boxes": torch.tensor([box]), "labels": torch.tensor([0])},
    ]
    preds = [
        {
            "boxes": torch.tensor([box, [20.0, 20.0, 30.0, 30.0], box]),
            "scores": torch.tensor([0.9, 0.8, 0.7]),  # 0.7: duplicate of a matched box
            "labels": torch.tensor([0, 0, 0]),
        },
        {
            "boxes": torch.tensor([[50.0, 50.0, 60.0, 60.0], [0.0, 0.0, 10.0, 9.0]]),
            "scores": torch.tensor([0.6, 0.5]),
            "labels": torch.tensor([0, 0]),
        },
    ]
    return preds, targets


def test_voc_ap_hand_computed():
    # difficult object ignored: recall [.5 .5 .5 .5 1], precision [1 1 .5 1/3 .5]
    preds, targets = _voc_case(difficult=True)
    assert voc_map(preds, targets)["map"] == pytest.approx(0.75)
    assert voc_map(preds, targets, use_07_metric=True)["map"] == pytest.approx(8.5 / 11)
    # counted: recall [1/3 2/3 2/3 2/3 1], precision [1 1 2/3 .5 .6]
    preds, targets = _voc_case(difficult=False)
    assert voc_map(preds, targets)["map"] == pytest.approx(1 / 3 + 1 / 3 + 0.6 / 3)
    assert voc_map(preds, targets, use_07_metric=True)["map"] == pytest.approx((7 + 4 * 0.6) / 11)


def test_voc_iou_must_exceed_half_and_classes_without_objects_are_excluded():
    t = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0]]), "labels": torch.tensor([1])}]
    half = [
        {
            "boxes": torch.tensor([[0.0, 0.0, 10.0, 5.0]]),
            "scores": torch.tensor([1.0]),
            "labels": torch.tensor([1]),
        }
    ]
    out = voc_map(half, t, num_classes=3)
    assert out["map"] == 0.0 and np.isnan(out["per_class"][0]) and out["per_class"][1] == 0.0


def test_box_and_mask_iou():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]])
    np.testing.assert_allclose(box_iou(a, b).numpy(), [[1 / 7, 0.0]])
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(0)
    ma = (rng.random((4, 20, 24)) < 0.3).astype(np.uint8)
    mb = (rng.random((3, 20, 24)) < 0.5).astype(np.uint8)
    mb[2] = 0
    enc = lambda m: mask_utils.encode(np.asfortranarray(m.transpose(1, 2, 0)))  # noqa: E731
    ref = mask_utils.iou(enc(ma), enc(mb), [0, 0, 0])
    np.testing.assert_allclose(
        mask_iou(torch.tensor(ma), torch.tensor(mb)).numpy(), ref, atol=1e-12
    )
