"""Detection metrics: COCO mAP (boxes and masks), Pascal VOC AP@0.5, box and mask IoU.

COCO numbers come from faster-coco-eval, a C++ port of pycocotools' evaluate/accumulate that
gives the same twelve numbers (float64 IoU, 101 recall points, area ranges from the ground
truth's `area` field, crowd regions matched by intersection over detection area, -1 where a
number is undefined). torchmetrics' mAP is deliberately not used: its default float32 IoU
thresholds move AP by up to 1.5e-4. VOC AP follows the devkit's voc_eval (11-point for VOC2007,
all-point area under the interpolated curve for VOC2010+), with `difficult` objects ignored.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..cocofile import check_detections, check_gt
from ..errors import VisionbenchError
from ..files import read_json
from .registry import register_metric

if TYPE_CHECKING:  # torch is imported where a function needs it: `metrics coco` needs none
    import torch

COCO_NAMES = (
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
)
COCO_LABELS = (
    "AP @[.50:.95] all, maxDets 100",
    "AP @.50 all, maxDets 100",
    "AP @.75 all, maxDets 100",
    "AP @[.50:.95] small",
    "AP @[.50:.95] medium",
    "AP @[.50:.95] large",
    "AR @[.50:.95] all, maxDets 1",
    "AR @[.50:.95] all, maxDets 10",
    "AR @[.50:.95] all, maxDets 100",
    "AR @[.50:.95] small",
    "AR @[.50:.95] medium",
    "AR @[.50:.95] large",
)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix [N,M] of xyxy boxes (continuous coordinates, no +1)."""
    from torchvision.ops import box_iou as _box_iou

    return _box_iou(a.double(), b.double())


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix [N,M] of binary masks [N,H,W] and [M,H,W]; 0 where both masks are empty."""
    import torch

    fa, fb = a.flatten(1).double(), b.flatten(1).double()
    inter = (fa > 0).double() @ (fb > 0).double().T
    union = (fa > 0).sum(1, keepdim=True).double() + (fb > 0).sum(1).double() - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def _rle(mask: np.ndarray) -> dict:
    from faster_coco_eval.core import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    if isinstance(rle["counts"], bytes):
        rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a tensor (torch not imported for plain arrays)
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_coco(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    iou_type: str = "bbox",
    num_classes: int | None = None,
) -> tuple[dict, list[dict]]:
    """COCO ground truth dict and detection list from the detection sample contract.

    targets[i]: "boxes" float [N,4] xyxy pixels, "labels" int64 [N], optional "masks" uint8
    [N,H,W], "iscrowd" [N], "area" [N] (default: mask area, else box area), "size" (H, W).
    predictions[i]: "boxes", "scores", "labels", optional "masks" (binary or probabilities,
    thresholded at 0.5). Category ids are the labels; with `num_classes` every class 0..K-1 is a
    category, so classes without ground truth are listed (and count as -1, i.e. excluded).
    """
    if len(predictions) != len(targets):
        raise VisionbenchError(
            f"{len(predictions)} predictions for {len(targets)} targets; need one per image"
        )
    segm = iou_type == "segm"
    images, anns, dets, labels_seen = [], [], [], set()
    for img_id, (pred, tgt) in enumerate(zip(predictions, targets), start=1):
        boxes = _np(tgt["boxes"]).astype(np.float64).reshape(-1, 4)
        labels = _np(tgt["labels"]).astype(np.int64).reshape(-1)
        masks = _np(tgt["masks"]) if "masks" in tgt else None
        if segm and masks is None:
            raise VisionbenchError("segm evaluation needs target 'masks'")
        if "size" in tgt:
            h, w = (int(v) for v in _np(tgt["size"]).reshape(-1)[:2])
        elif masks is not None and masks.ndim == 3:
            h, w = masks.shape[-2:]
        else:
            h, w = 0, 0
        images.append({"id": img_id, "height": int(h), "width": int(w)})
        crowd = _np(tgt.get("iscrowd", np.zeros(len(labels)))).astype(int).reshape(-1)
        area = _np(tgt["area"]).astype(np.float64) if "area" in tgt else None
        for j in range(len(labels)):
            x1, y1, x2, y2 = boxes[j].tolist()
            ann = {
                "id": len(anns) + 1,
                "image_id": img_id,
                "category_id": int(labels[j]),
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "iscrowd": int(crowd[j]),
            }
            if masks is not None:
                ann["segmentation"] = _rle(masks[j] > 0)
            if area is not None:
                ann["area"] = float(area[j])
            elif masks is not None:
                ann["area"] = float((masks[j] > 0).sum())
            else:
                ann["area"] = (x2 - x1) * (y2 - y1)
            anns.append(ann)
            labels_seen.add(int(labels[j]))
        p_boxes = _np(pred["boxes"]).astype(np.float64).reshape(-1, 4)
        p_scores = _np(pred["scores"]).astype(np.float64).reshape(-1)
        p_labels = _np(pred["labels"]).astype(np.int64).reshape(-1)
        p_masks = _np(pred["masks"]) if "masks" in pred else None
        if segm and p_masks is None:
            raise VisionbenchError("segm evaluation needs prediction 'masks'")
        if p_masks is not None and p_masks.ndim == 4:  # [N,1,H,W] from Mask R-CNN
            p_masks = p_masks[:, 0]
        for j in range(len(p_labels)):
            det = {"image_id": img_id, "category_id": int(p_labels[j]), "score": p_scores[j]}
            if segm:
                det["segmentation"] = _rle(p_masks[j] > 0.5)
            else:
                x1, y1, x2, y2 = p_boxes[j].tolist()
                det["bbox"] = [x1, y1, x2 - x1, y2 - y1]
            dets.append(det)
    cat_ids = range(num_classes) if num_classes else sorted(labels_seen)
    gt = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": int(c), "name": str(c)} for c in cat_ids],
    }
    return gt, dets


def _load_json(src, what: str):
    if isinstance(src, (str, Path)):
        p = Path(src)
        if not p.is_file():
            raise VisionbenchError(f"{what} not found: {p}")
        return read_json(p)
    return src


def coco_evaluate(
    gt, detections, iou_type: str = "bbox", empty_boxes_ok: bool = False
) -> dict[str, float]:
    """The twelve COCO numbers for a ground-truth dict/file and a detection list/file, both
    validated first (cocofile). `empty_boxes_ok`: a model's zero-size boxes count (as misses)."""
    return coco_evaluate_classes(gt, detections, iou_type, empty_boxes_ok)[0]


def coco_evaluate_classes(
    gt, detections, iou_type: str = "bbox", empty_boxes_ok: bool = False
) -> tuple[dict[str, float], dict[int, float]]:
    """The twelve COCO numbers and each category's AP@[.5:.95] (area all, maxDets 100; -1 for
    a category without ground truth), from one evaluation."""
    from faster_coco_eval import COCO, COCOeval_faster

    if iou_type not in ("bbox", "segm"):
        raise VisionbenchError(f"iou type must be bbox or segm, got '{iou_type}'")
    gt_source = str(gt) if isinstance(gt, (str, Path)) else "ground truth"
    dt_source = str(detections) if isinstance(detections, (str, Path)) else "detections"
    gt = _load_json(gt, "ground-truth file")
    dets = _load_json(detections, "detections file")
    if isinstance(dets, dict) and "annotations" in dets:
        dets = dets["annotations"]
    check_gt(gt, gt_source)  # the COCO reader's validator: one format, one checker
    check_detections(dets, gt, dt_source, iou_type, empty_ok=empty_boxes_ok)
    silent = contextlib.redirect_stdout(io.StringIO())
    with silent:
        # loadRes and evaluate add top-level keys to the dicts they are given (ignore, rle, id,
        # area): shallow copies keep the caller's dicts intact at a fraction of a deep copy.
        gt = {**gt, "annotations": [dict(a) for a in gt["annotations"]]}
        coco_gt = COCO(gt, print_function=lambda *a, **k: None)
        coco_dt = coco_gt.loadRes([dict(d) for d in dets])
        ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=lambda *a, **k: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = {name: float(v) for name, v in zip(COCO_NAMES, ev.stats[:12])}
    precision = np.asarray(ev.eval["precision"])  # [iou, recall, category, area, maxDets]
    per_class = {}
    for k, cat_id in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        per_class[int(cat_id)] = float(p[p > -1].mean()) if (p > -1).any() else -1.0
    return stats, per_class


def coco_map(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    iou_type: str = "bbox",
    num_classes: int | None = None,
) -> dict[str, float]:
    """COCO mAP of a detection task's per-image predictions and targets."""
    gt, dets = to_coco(predictions, targets, iou_type, num_classes)
    return coco_evaluate(gt, dets, iou_type, empty_boxes_ok=True)


class CocoAccumulator:
    """COCO ground truth and detections gathered batch by batch, so an evaluation keeps only
    COCO records (boxes, RLE masks), never whole prediction tensors. Image ids run 1, 2, ...
    in the order images are added; `segm` adds mask detections beside the box ones. With
    `category_ids` every listed category is scored (-1 when it has no ground truth)."""

    def __init__(self, category_ids: Sequence[int] | None = None, segm: bool = False):
        self.category_ids, self.segm = category_ids, segm
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self.detections: dict[str, list[dict]] = {"bbox": [], "segm": []}
        self.categories: set[int] = set()

    def add(self, predictions: Sequence[dict], targets: Sequence[dict]) -> None:
        offset, ann_offset = len(self.images), len(self.annotations)
        kinds = ("bbox", "segm") if self.segm else ("bbox",)
        for kind in kinds:
            gt, dets = to_coco(predictions, targets, kind)
            for d in dets:
                d["image_id"] += offset
            self.detections[kind] += dets
        for im in gt["images"]:
            self.images.append({**im, "id": im["id"] + offset})
        for a in gt["annotations"]:
            self.annotations.append(
                {**a, "id": a["id"] + ann_offset, "image_id": a["image_id"] + offset}
            )
        self.categories |= {c["id"] for c in gt["categories"]}

    def ground_truth(self) -> dict:
        cats = self.category_ids if self.category_ids else sorted(self.categories)
        return {
            "images": self.images,
            "annotations": self.annotations,
            "categories": [{"id": int(c), "name": str(c)} for c in cats],
        }

    def compute(self, iou_type: str = "bbox") -> tuple[dict[str, float], dict[int, float]]:
        """The twelve COCO numbers and per-category AP; all -1 for a set without images."""
        if not self.images:
            return {n: -1.0 for n in COCO_NAMES}, {}
        # a model's zero-size boxes are misses, not a malformed file
        return coco_evaluate_classes(
            self.ground_truth(), self.detections[iou_type], iou_type, empty_boxes_ok=True
        )


def voc_ap(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = False) -> float:
    """Area under a precision/recall curve: VOC2007 11-point or VOC2010+ all-point."""
    rec, prec = np.asarray(recall, float), np.asarray(precision, float)
    if use_07_metric:
        return float(
            sum(
                (prec[rec >= t].max() if (rec >= t).any() else 0.0) / 11.0
                for t in np.linspace(0, 1, 11)
            )
        )
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _voc_class_ap(preds, targets, cls, iou_thr, use_07, offset):
    gts, npos = {}, 0
    for i, t in enumerate(targets):
        keep = _np(t["labels"]).reshape(-1) == cls
        boxes = _np(t["boxes"]).astype(np.float64).reshape(-1, 4)[keep]
        diff = _np(t.get("difficult", np.zeros(keep.shape))).reshape(-1).astype(bool)[keep]
        gts[i] = (boxes, diff, np.zeros(len(boxes), bool))
        npos += int((~diff).sum())
    dets = []
    for i, p in enumerate(preds):
        keep = _np(p["labels"]).reshape(-1) == cls
        boxes = _np(p["boxes"]).astype(np.float64).reshape(-1, 4)[keep]
        scores = _np(p["scores"]).astype(np.float64).reshape(-1)[keep]
        dets += [(s, i, b) for s, b in zip(scores, boxes)]
    if npos == 0:
        return float("nan")
    dets.sort(key=lambda d: -d[0])  # stable: ties keep input order, as the devkit's argsort
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for d, (_, i, bb) in enumerate(dets):
        g, diff, used = gts[i]
        ovmax, jmax = -np.inf, -1
        if len(g):
            iw = np.maximum(np.minimum(g[:, 2], bb[2]) - np.maximum(g[:, 0], bb[0]) + offset, 0)
            ih = np.maximum(np.minimum(g[:, 3], bb[3]) - np.maximum(g[:, 1], bb[1]) + offset, 0)
            inter = iw * ih
            area_d = (bb[2] - bb[0] + offset) * (bb[3] - bb[1] + offset)
            area_g = (g[:, 2] - g[:, 0] + offset) * (g[:, 3] - g[:, 1] + offset)
            ov = inter / (area_d + area_g - inter)
            jmax = int(ov.argmax())
            ovmax = ov[jmax]
        if ovmax > iou_thr:
            if diff[jmax]:
                continue  # matched a difficult object: neither true nor false positive
            if not used[jmax]:
                tp[d], used[jmax] = 1, True
            else:
                fp[d] = 1
        else:
            fp[d] = 1
    tp, fp = np.cumsum(tp), np.cumsum(fp)
    rec = tp / npos
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc_ap(rec, prec, use_07)


def voc_map(
    predictions: Sequence[dict],
    targets: Sequence[dict],
    iou_threshold: float = 0.5,
    use_07_metric: bool = False,
    num_classes: int | None = None,
    legacy_pixel_offset: bool = False,
) -> dict:
    """Pascal VOC mAP: per-class AP at IoU > 0.5 and their mean over classes with objects.

    Targets may carry "difficult" [N] (bool); such objects are not counted and detections
    matched to them are ignored. `legacy_pixel_offset` adds the devkit's +1 to widths/heights
    (integer pixel boxes); the default treats boxes as continuous, like COCO and torchvision.
    """
    classes = (
        range(num_classes)
        if num_classes
        else sorted({int(c) for t in targets for c in _np(t["labels"]).reshape(-1)})
    )
    offset = 1.0 if legacy_pixel_offset else 0.0
    per_class = {
        int(c): _voc_class_ap(predictions, targets, c, iou_threshold, use_07_metric, offset)
        for c in classes
    }
    valid = [v for v in per_class.values() if not np.isnan(v)]
    return {"map": float(np.mean(valid)) if valid else float("nan"), "per_class": per_class}


register_metric(
    name="map",
    task="detection",
    definition="COCO AP averaged over IoU 0.50:0.05:0.95, 101 recall points and categories",
    settings="maxDets 100, float64 IoU, crowd regions ignored, -1 where undefined; "
    "engine faster-coco-eval; boxes or masks (segm)",
    reference="pycocotools COCOeval.stats[0] (identical to 1e-9)",
)
register_metric(
    name="map_50",
    task="detection",
    definition="COCO AP at IoU 0.50",
    settings="as map",
    reference="pycocotools COCOeval.stats[1]",
)
register_metric(
    name="map_75",
    task="detection",
    definition="COCO AP at IoU 0.75",
    settings="as map",
    reference="pycocotools COCOeval.stats[2]",
)
for _i, _size, _rng in (
    (3, "small", "area < 32^2"),
    (4, "medium", "32^2 <= area < 96^2"),
    (5, "large", "area >= 96^2"),
):
    register_metric(
        name=f"map_{_size}",
        task="detection",
        definition=f"COCO AP over IoU 0.50:0.95 for {_size} objects",
        settings=f"{_rng}, from the ground truth's area field",
        reference=f"pycocotools COCOeval.stats[{_i}]",
    )
for _i, _n in ((6, 1), (7, 10), (8, 100)):
    register_metric(
        name=f"mar_{_n}",
        task="detection",
        definition=f"COCO average recall over IoU 0.50:0.95 with {_n} detection(s) per image",
        settings=f"maxDets {_n} per image and category",
        reference=f"pycocotools COCOeval.stats[{_i}]",
    )
for _i, _size in ((9, "small"), (10, "medium"), (11, "large")):
    register_metric(
        name=f"mar_{_size}",
        task="detection",
        definition=f"COCO average recall for {_size} objects",
        settings="maxDets 100",
        reference=f"pycocotools COCOeval.stats[{_i}]",
    )
register_metric(
    name="voc_map_07",
    task="detection",
    definition="Pascal VOC2007 mAP: 11-point interpolated AP at IoU > 0.5, mean over classes",
    settings="difficult objects ignored; continuous boxes (devkit +1 optional)",
    reference="VOCdevkit voc_eval(use_07_metric=True)",
)
register_metric(
    name="voc_map",
    task="detection",
    definition="Pascal VOC2010+ mAP: all-point AP at IoU > 0.5, mean over classes",
    settings="difficult objects ignored; classes without objects excluded from the mean",
    reference="VOCdevkit voc_eval(use_07_metric=False)",
)
register_metric(
    name="box_iou",
    task="detection",
    definition="intersection area / union area of two boxes",
    settings="xyxy, continuous coordinates",
    reference="torchvision.ops.box_iou",
    equation=5,
)
register_metric(
    name="mask_iou",
    task="detection",
    definition="intersecting pixels / union pixels of two binary masks",
    settings="0 when both masks are empty",
    reference="pycocotools mask.iou",
)
