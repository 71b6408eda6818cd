"""Object detection and instance segmentation (the review's Sec. 5.2 and 5.3).

Batches follow torchvision's detection convention: images (a stacked [N,C,H,W] tensor when they
share a size, else a list of [C,H,W]) and a list of target dicts ("boxes" float [N,4] xyxy pixels,
"labels" int64 1..K, "masks" uint8 [N,H,W] when the data has them, "iscrowd"). A detector returns
a dict of losses when given targets in training mode, and per-image {"boxes", "scores",
"labels", "masks"} in eval mode. Images of any size; an image without objects is a valid negative.

Evaluation streams each batch's predictions into COCO records (boxes, RLE masks) and scores them
once with faster-coco-eval: box (and for instance segmentation, mask) AP@[.5:.95], AP50, AP75,
small/medium/large, AR@1/10/100, Pascal VOC AP50 and per-class AP. Beside every number sits a
trivial baseline measured on the same test images: for each class, one box of the class's mean
size at its mean position (fractions of the image, from the training annotations), scored by the
class's frequency, with the filled box as its mask. A detector that does not beat it has learned
nothing about where objects are.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..data.formats.common import collate_detection
from ..data.registry import DataBundle
from ..engine.batches import iterate
from ..engine.evaluation import Evaluator
from ..errors import VisionbenchError
from ..metrics.detection import COCO_NAMES, CocoAccumulator, voc_map
from ..models.registry import ModelSpec
from .base import StepContext, Task, TaskState, register_task

AUGMENTS = ("none", "hflip", "hflip_scale")
PER_OBJECT = ("labels", "iscrowd", "difficult", "area")  # target fields with one row per box


# -- the class prior baseline ----------------------------------------------------------------------
@dataclass
class ClassPrior:
    """Per class: mean box centre and size as fractions of the image, and the class frequency."""

    boxes: dict[int, list[float]] = field(default_factory=dict)  # label -> [cx, cy, w, h]
    frequency: dict[int, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, targets: list[tuple[dict, tuple[int, int]]]) -> ClassPrior:
        sums: dict[int, np.ndarray] = {}
        counts: dict[int, int] = {}
        for t, (h, w) in targets:
            boxes = _np(t["boxes"]).reshape(-1, 4).astype(np.float64)
            crowd = _np(t.get("iscrowd", np.zeros(len(boxes)))).reshape(-1)
            for b, lab, c in zip(boxes, _np(t["labels"]).reshape(-1), crowd):
                if c:
                    continue
                rel = np.array([(b[0] + b[2]) / 2 / w, (b[1] + b[3]) / 2 / h, (b[2] - b[0]) / w,
                                (b[3] - b[1]) / h])  # fmt: skip
                sums[int(lab)] = sums.get(int(lab), 0) + rel
                counts[int(lab)] = counts.get(int(lab), 0) + 1
        total = max(1, sum(counts.values()))
        return cls(
            {k: (sums[k] / counts[k]).tolist() for k in sorted(counts)},
            {k: counts[k] / total for k in sorted(counts)},
        )

    def predict(self, h: int, w: int, masks: bool) -> dict[str, torch.Tensor]:
        labels = sorted(self.boxes)
        boxes = torch.tensor(
            [
                [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
                for cx, cy, bw, bh in (self.boxes[k] for k in labels)
            ],
            dtype=torch.float32,
        ).reshape(-1, 4)
        out = {
            "boxes": boxes,
            "scores": torch.tensor([self.frequency[k] for k in labels], dtype=torch.float32),
            "labels": torch.tensor(labels, dtype=torch.long),
        }
        if masks:
            m = torch.zeros(len(labels), h, w, dtype=torch.uint8)
            for i, (x0, y0, x1, y1) in enumerate(boxes.round().long().tolist()):
                m[i, max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = 1
            out["masks"] = m
        return out

    def to_dict(self) -> dict:
        return {"boxes": {str(k): v for k, v in self.boxes.items()},
                "frequency": {str(k): v for k, v in self.frequency.items()}}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> ClassPrior:
        return cls({int(k): v for k, v in d["boxes"].items()},
                   {int(k): v for k, v in d["frequency"].items()})  # fmt: skip


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def training_targets(dataset) -> list[tuple[dict, tuple[int, int]]]:
    """(target, (H, W)) of every training image, from annotations alone where the set has them
    (folder sets: no image is decoded), else from the samples."""
    if hasattr(dataset, "records"):  # DetectionSet: boxes and sizes from the catalog
        out = []
        for r in dataset.records:
            w, h = r.size if r.size else _image_size(r.image)
            labels = [dataset.label_of[c] for c in r.categories]
            out.append(({"boxes": r.boxes if r.boxes is not None else np.zeros((0, 4)),
                         "labels": np.array(labels, np.int64),
                         "iscrowd": np.array(r.iscrowd or [0] * len(labels))}, (h, w)))  # fmt: skip
        return out
    if hasattr(dataset, "targets") and hasattr(dataset, "images"):  # embedded TargetListSet
        h, w = dataset.images.shape[-2:]
        return [(t, (h, w)) for t in dataset.targets]
    return [(t, tuple(x.shape[-2:])) for x, t in (dataset[i] for i in range(len(dataset)))]


def _image_size(path) -> tuple[int, int]:
    from ..data.formats.common import image_header

    return image_header(path)[0]


def channel_stats(dataset, in_chans: int, limit: int = 200) -> tuple[list[float], list[float]]:
    """Per-channel mean/std of (up to `limit`) training images, for the model's normalisation."""
    if len(dataset) == 0:
        return [0.5] * in_chans, [0.25] * in_chans
    if hasattr(dataset, "images") and isinstance(dataset.images, torch.Tensor):
        x = dataset.images[:limit].flatten(2)
        pixels = x.transpose(0, 1).reshape(x.shape[1], -1)
    else:
        step = max(1, len(dataset) // min(limit, 32))
        pixels = torch.cat(
            [dataset[i][0].flatten(1) for i in range(0, len(dataset), step)][:32], dim=1
        )
    return pixels.mean(1).tolist(), pixels.std(1).clamp(min=1e-3).tolist()


# -- augmentation ----------------------------------------------------------------------------------
def augment_pair(image: torch.Tensor, target: dict, transform) -> tuple[torch.Tensor, dict]:
    """One image and its target through a transforms-v2 pipeline: boxes and masks move with the
    pixels (tv_tensors), and boxes that leave the image are dropped with their labels."""
    from torchvision import tv_tensors

    h, w = image.shape[-2:]
    tv = {k: v for k, v in target.items()}
    tv["boxes"] = tv_tensors.BoundingBoxes(target["boxes"], format="XYXY", canvas_size=(h, w))
    if "masks" in target:
        tv["masks"] = tv_tensors.Mask(target["masks"])
    img, out = transform(tv_tensors.Image(image), tv)
    out = {k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v
           for k, v in out.items()}  # fmt: skip
    return img.as_subclass(torch.Tensor), out


def make_transform(kind: str):
    from torchvision.transforms import v2

    steps = [v2.RandomHorizontalFlip(0.5)]
    if kind == "hflip_scale":
        steps.append(v2.RandomAffine(degrees=0, scale=(0.75, 1.25)))  # zoom in/out, same size
    steps.append(v2.SanitizeBoundingBoxes(min_size=2, labels_getter=_per_object))
    return v2.Compose(steps)


def _per_object(inputs) -> tuple[torch.Tensor, ...]:
    target = inputs[1]
    return tuple(target[k] for k in PER_OBJECT if k in target)


# -- drawing ---------------------------------------------------------------------------------------
def draw_detections(
    image: torch.Tensor,
    det: dict,
    names: list[str],
    threshold: float = 0.3,
    scale: int = 1,
) -> torch.Tensor:
    """uint8 [3,H,W] image with masks (tinted) and boxes labelled `name score`."""
    import torch.nn.functional as F
    from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

    img = image.detach().float().cpu().clamp(0, 1)
    if img.shape[0] == 1:
        img = img.repeat(3, 1, 1)
    if scale > 1:
        img = F.interpolate(img[None], scale_factor=scale, mode="nearest")[0]
    img = (img * 255).round().to(torch.uint8)
    scores = det.get("scores")
    keep = (
        scores.cpu() >= threshold
        if scores is not None
        else torch.ones(len(det["labels"]), dtype=bool)
    )
    boxes = det["boxes"].detach().cpu().float()[keep] * scale
    labels = det["labels"].cpu()[keep].tolist()
    colours = [_colour(k) for k in labels]
    if "masks" in det and keep.any():
        m = det["masks"].detach().cpu()[keep]
        m = m[:, 0] if m.ndim == 4 else m
        m = m.float() > 0.5
        if scale > 1:
            m = F.interpolate(m[None].float(), scale_factor=scale, mode="nearest")[0] > 0.5
        img = draw_segmentation_masks(img, m, alpha=0.45, colors=colours)
    text = [
        _name(names, k) + (f" {float(s):.2f}" if scores is not None else "")
        for k, s in zip(labels, scores.cpu()[keep] if scores is not None else labels)
    ]
    if len(boxes):
        img = draw_bounding_boxes(img, boxes, text, colors=colours, width=max(1, scale // 2))
    return img


def _name(names: list[str], label: int) -> str:
    return names[label - 1] if 0 < label <= len(names) else str(label)


def _colour(label: int) -> tuple[int, int, int]:
    from .segmentation import palette

    return tuple(int(c) for c in palette()[1 + (label - 1) % 254])


# -- state and evaluator ---------------------------------------------------------------------------
@dataclass(frozen=True)
class DetectionState(TaskState):
    """The training images' channel statistics (normalisation inside the model), the class
    prior baseline learned from the training boxes, and the dataset's category ids (label k is
    category_ids[k-1], so results JSON speaks the dataset's ids)."""

    mean: list[float]
    std: list[float]
    prior: dict
    category_ids: list[int]


class DetectionEvaluator(Evaluator):
    """Streams each batch's detections (and the prior baseline's, on the same images) into
    COCO records; scores them once in `compute`."""

    def __init__(self, task: Detection):
        self.task = task
        self.prior = ClassPrior.from_dict(task.require_state().prior)

    def reset(self) -> None:
        ids = list(range(1, self.task.info.num_classes + 1))
        self.learned = CocoAccumulator(ids, segm=self.task.masks)
        self.baseline = CocoAccumulator(ids, segm=self.task.masks)
        self.boxes_pred, self.boxes_prior, self.boxes_true = [], [], []

    def infer(self, model, batch):
        return self.task.infer(model, batch[0])

    def update(self, batch, outputs) -> None:
        images, targets = batch
        sizes = [tuple(x.shape[-2:]) for x in images]
        targets = [self.task.scored_target(t, s) for t, s in zip(targets, sizes)]
        baseline = [self.prior.predict(h, w, self.task.masks) for h, w in sizes]
        self.learned.add(outputs, targets)
        self.baseline.add(baseline, targets)
        self.boxes_pred += [_boxes_only(o) for o in outputs]
        self.boxes_prior += [_boxes_only(o) for o in baseline]
        self.boxes_true += [_boxes_only(t) for t in targets]

    def compute(self) -> dict:
        out: dict[str, float | None] = {}
        kinds = [("bbox", "")] + ([("segm", "mask_")] if self.task.masks else [])
        names = self.task.info.class_names
        for iou_type, prefix in kinds:
            stats, per_class = self.learned.compute(iou_type)
            base, _ = self.baseline.compute(iou_type)
            for k in COCO_NAMES:
                out[f"{prefix}{k}"] = _defined(stats[k])
            for k in ("map", "map_50", "map_75"):
                out[f"prior_{prefix}{k}"] = _defined(base[k])
            for label, ap in per_class.items():
                out[f"{prefix}ap_{_name(names, label)}"] = _defined(ap)
        out["voc_map"] = _nan_none(voc_map(self.boxes_pred, self.boxes_true)["map"])
        out["prior_voc_map"] = _nan_none(voc_map(self.boxes_prior, self.boxes_true)["map"])
        return out


# -- the task --------------------------------------------------------------------------------------
# modules whose training mode changes the function itself, kept in eval mode under attack
_AS_EVALUATED = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


@register_task
class Detection(Task):
    name = "detection"
    augmentations = AUGMENTS
    ranking_metric = "map"
    higher_is_better = True
    description = "find every object: a box, a class and a score each (Sec. 5.2)"
    # each challenge evaluation runs COCO's evaluation on its images: the quick form takes fewer
    quick_challenge_images = 24
    masks = False  # instance segmentation also trains and scores masks
    metric_names = ("map", "map_50", "map_75", "map_small", "map_medium", "map_large",
                    "mar_1", "mar_10", "mar_100", "voc_map")  # fmt: skip
    State = DetectionState
    suite_data = ("shapes", {})
    baselines = {"map": "prior_map", "map_50": "prior_map_50", "map_75": "prior_map_75",
                 "voc_map": "prior_voc_map"}  # fmt: skip
    also_shown = ("map_50", "map_75", "voc_map")
    prediction_kind = "picture with boxes and COCO results JSON"
    eval_batch_size = 16
    export_refusal = (
        "a detector returns a different number of boxes per image (score threshold and NMS "
        "inside the model); ONNX export of that is not supported here"
    )

    # data and model ------------------------------------------------------------------------------
    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        self.info = bundle.info
        if self.state is None:  # a run loaded for eval keeps the state it was trained with
            mean, std = channel_stats(bundle.train, bundle.info.in_chans)
            prior = ClassPrior.fit(training_targets(bundle.train))
            if not prior.boxes:
                raise VisionbenchError(
                    f"{bundle.info.name}: the training split has no annotated objects"
                )
            ids = list(getattr(bundle.train, "category_ids", []) or [])
            ids = ids or list(range(1, bundle.info.num_classes + 1))
            self.state = DetectionState(mean, std, prior.to_dict(), [int(c) for c in ids])
        return bundle

    def model_kwargs(self, spec: ModelSpec) -> dict:
        st = self.require_state()
        return {"mean": st.mean, "std": st.std, **self.cfg.model_kwargs}

    def collate(self, samples: list):
        return collate_detection(samples)

    def eval_batches(self, dataset, device, purpose: str = "test"):
        return iterate(dataset, self.eval_batch_size, device=device, collate=self.collate)

    # training ------------------------------------------------------------------------------------
    def augment(self, batch, generator: torch.Generator):
        kind = self.recipe.augment
        if kind not in AUGMENTS:
            raise VisionbenchError(
                f"{self.name} augmentation must be one of {', '.join(AUGMENTS)}, got '{kind}'"
            )
        if kind == "none":
            return batch
        if not hasattr(self, "_transform") or self._transform[0] != kind:
            self._transform = (kind, make_transform(kind))
        images, targets = batch
        pairs = [augment_pair(x, t, self._transform[1]) for x, t in zip(images, targets)]
        return _stack([p[0] for p in pairs]), [p[1] for p in pairs]

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        return sum(self.losses(model, batch).values())

    def attack_loss(self, model: nn.Module, batch) -> torch.Tensor:
        """Detectors give their losses only in training mode: the branches that choose losses
        over detections switch to it, while normalisation and dropout stay as evaluated (no batch
        statistics, no running-statistics update, no random drop), then every mode is restored.
        (The proposal sampling of two-stage detectors is random: the challenges seed it.)"""
        modes = {m: m.training for m in model.modules()}
        model.train()
        for m in model.modules():
            if isinstance(m, _AS_EVALUATED) or "Drop" in type(m).__name__:
                m.eval()
        try:
            return self.loss(model, batch)
        finally:
            for m, mode in modes.items():
                m.training = mode

    def losses(self, model: nn.Module, batch) -> dict[str, torch.Tensor]:
        images, targets = batch
        targets = [self._train_target(t) for t in targets]
        out = model(images, targets)
        if not isinstance(out, dict):
            raise VisionbenchError(f"{type(model).__name__} returned no losses in training mode")
        return out

    def _train_target(self, t: dict) -> dict:
        keep = {"boxes": t["boxes"].float(), "labels": t["labels"]}
        if self.masks:
            if "masks" not in t:
                raise VisionbenchError(
                    "instance segmentation needs instance masks; this dataset has boxes only "
                    "(VOC: --data-option masks=true)"
                )
            keep["masks"] = t["masks"]
        crowd = t.get("iscrowd")
        if crowd is not None and bool(crowd.any()):  # crowd regions are not objects to find
            ok = crowd == 0
            keep = {k: v[ok] for k, v in keep.items()}
        return keep

    def train_step(self, ctx: StepContext, model: nn.Module, batch) -> dict:
        with ctx.autocast():
            parts = self.losses(model, batch)
            loss = sum(parts.values())
        ctx.backward_step(loss)
        return {"loss": loss.detach(), **{k: v.detach() for k, v in parts.items()}}

    # evaluation ----------------------------------------------------------------------------------
    def evaluator(self, purpose: str = "test") -> DetectionEvaluator:
        return DetectionEvaluator(self)

    def scored_target(self, t: dict, size: tuple[int, int]) -> dict:
        """The target as COCO scores it: its image size, and for box-only scoring the mask
        area instead of the masks (the same area ranges as mask scoring, without encoding)."""
        t = {**t, "size": torch.tensor(size)}
        if not self.masks and "masks" in t:
            t["area"] = t.pop("masks").flatten(1).sum(1)
        return t

    @torch.no_grad()
    def infer(self, model: nn.Module, images) -> list[dict]:
        outputs = model(images)
        # labels are 1..K; a sigmoid head with a background slot (torchvision's FCOS) may emit 0
        return [{k: v.detach()[o["labels"] > 0] for k, v in o.items()} for o in outputs]

    @torch.no_grad()
    def predict(self, model: nn.Module, inputs) -> list[dict]:
        """Per image {"boxes" xyxy pixels, "scores", "labels" 1..K, "masks" [N,H,W] when the
        model segments} for images [N,C,H,W] (or a list of [C,H,W]) in [0,1] of any size."""
        outs = self.infer(model, inputs)
        for o in outs:
            if "masks" in o and o["masks"].ndim == 4:
                o["masks"] = (o["masks"][:, 0] > 0.5).to(torch.uint8)
        return outs

    def write_prediction(
        self, outputs: list[dict], input_path, output, *, info, metrics, top: int = 5
    ) -> Path:
        """A PNG with boxes (and masks) drawn, labelled `class score`, and beside it (same name,
        .json) the detections as COCO results (the dataset's category ids, bbox as x, y, w, h,
        masks as RLE); returns the PNG's path."""
        from ..metrics.detection import _rle

        src = Path(input_path)
        png = Path(output) if output else src.with_name(src.stem + "_detections.png")
        image = _read_rgb(src)
        det = outputs[0]
        drawn = draw_detections(image, det, info.class_names, scale=_scale_for(image))
        _write_png(drawn, png)
        results = []
        for i in range(len(det["labels"])):
            x0, y0, x1, y1 = det["boxes"][i].tolist()
            label = int(det["labels"][i])
            r = {
                "image_id": 0,
                "file_name": src.name,
                "category_id": self._category_id(label),
                "category_name": _name(info.class_names, label),
                "bbox": [round(x0, 2), round(y0, 2), round(x1 - x0, 2), round(y1 - y0, 2)],
                "score": round(float(det["scores"][i]), 5),
            }
            if "masks" in det:
                r["segmentation"] = _rle(_np(det["masks"][i]) > 0)
            results.append(r)
        js = png.with_suffix(".json")
        js.write_text(json.dumps(results))
        return png

    def _category_id(self, label: int) -> int:
        ids = self.require_state().category_ids
        return int(ids[label - 1]) if 0 < label <= len(ids) else int(label)

    def save_predictions(self, model: nn.Module, dataset, device, path: Path) -> Path:
        """`eval --save-predictions FILE`: the test detections as COCO results JSON (the
        dataset's image and category ids; masks as RLE), for any external scorer."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.coco_results(model, dataset, device)))
        return path

    def coco_results(self, model: nn.Module, dataset, device, batch_size: int = 16) -> list[dict]:
        """The test detections as COCO results (the dataset's image and category ids)."""
        from ..metrics.detection import _rle

        results = []
        for images, targets in iterate(dataset, batch_size, device=device, collate=self.collate):
            for det, t in zip(self.predict(model, images), targets):
                image_id = int(t.get("image_id", len(results)))
                for i in range(len(det["labels"])):
                    x0, y0, x1, y1 = det["boxes"][i].tolist()
                    r = {
                        "image_id": image_id,
                        "category_id": self._category_id(int(det["labels"][i])),
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "score": float(det["scores"][i]),
                    }
                    if "masks" in det:
                        r["segmentation"] = _rle(_np(det["masks"][i]) > 0)
                    results.append(r)
        return results

    def pictures(self, model, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        """Six test images: the truth beside the prediction (score >= 0.3)."""
        n = min(6, len(bundle.test))
        if n == 0:
            return []
        items = [bundle.test[i] for i in range(n)]
        outs = self.predict(model, [x.to(device) for x, _ in items])
        rows = []
        for (x, t), o in zip(items, outs):
            s = _scale_for(x)
            names = bundle.info.class_names
            truth = draw_detections(x, t, names, scale=s)
            rows.append((truth, draw_detections(x, o, names, scale=s)))
        return [_gallery(rows, out_dir / f"{self.name}.png")]


def _stack(images: list[torch.Tensor]):
    same = all(im.shape == images[0].shape for im in images)
    return torch.stack(images) if same else images


def _boxes_only(d: dict) -> dict:
    keep = ("boxes", "scores", "labels", "difficult")
    return {k: v.detach().cpu() for k, v in d.items() if k in keep}


def _defined(v: float) -> float | None:
    """COCO writes -1 where a number is undefined (no large objects, say): None, not a score."""
    return None if v is None or v < 0 else float(v)


def _nan_none(v: float) -> float | None:
    return None if v is None or math.isnan(v) else float(v)


def _scale_for(image: torch.Tensor) -> int:
    """Small images are drawn enlarged so labels stay legible."""
    return max(1, 256 // max(image.shape[-2:]))


def _read_rgb(path: Path) -> torch.Tensor:
    from ..data.formats.common import open_image, to_tensor

    return to_tensor(open_image(path, "RGB"))


def _write_png(img: torch.Tensor, path: Path) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(path)
    return path


def _gallery(rows: list[tuple[torch.Tensor, torch.Tensor]], path: Path) -> Path:
    from ..viz.plots import _save, _show, plt

    fig, axes = plt.subplots(len(rows), 2, figsize=(5.2, 2.6 * len(rows)), squeeze=False)
    for r, (truth, pred) in enumerate(rows):
        for ax, shown in zip(axes[r], (truth, pred)):
            _show(ax, shown.float() / 255)
    axes[0][0].set_title("ground truth", fontsize=9)
    axes[0][1].set_title("prediction (score >= 0.3)", fontsize=9)
    return _save(fig, path)


@register_task
class InstanceSegmentation(Detection):
    name = "instance_segmentation"
    ranking_metric = "mask_map"
    description = "find every object and its pixels: box, mask, class and score (Sec. 5.3)"
    masks = True
    metric_names = ("mask_map", "mask_map_50", "mask_map_75", *Detection.metric_names)
    baselines = {**Detection.baselines, "mask_map": "prior_mask_map",
                 "mask_map_50": "prior_mask_map_50", "mask_map_75": "prior_mask_map_75"}  # fmt: skip
    also_shown = ("mask_map_50", "map", "map_50")
    prediction_kind = "picture with boxes, masks and COCO results JSON"
