"""Cityscapes: leftImg8bit/<split>/<city>/*_leftImg8bit.png with gtFine/<split>/<city>/
*_gtFine_labelIds.png, mapped to the 19 training ids (everything else 255 = ignore).

The official test labels are withheld, so the official val is our test and val is carved from
train by city-independent random holdout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .annotated import SemanticSet, annotated_bundle
from .common import IGNORE, Catalog, Record, assign_splits, read_mask

# labelId -> trainId of the official cityscapesScripts labels.py
TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
             25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}  # fmt: skip
CLASSES = ["road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
           "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car", "truck",
           "bus", "train", "motorcycle", "bicycle"]  # fmt: skip
LUT = np.full(256, IGNORE, dtype=np.int64)
for _label_id, _train_id in TRAIN_IDS.items():
    LUT[_label_id] = _train_id


def catalog(root: Path) -> Catalog:
    img_root, gt_root = root / "leftImg8bit", root / "gtFine"
    if not img_root.is_dir() or not gt_root.is_dir():
        raise DataError(f"{root}: Cityscapes needs leftImg8bit/ and gtFine/ folders")
    cat = Catalog("cityscapes", root, [], classes=list(CLASSES), official_split=True)
    for split in ("train", "val"):
        for img in sorted((img_root / split).glob("*/*_leftImg8bit.png")):
            stem = img.name.removesuffix("_leftImg8bit.png")
            mask = gt_root / split / img.parent.name / f"{stem}_gtFine_labelIds.png"
            if not mask.is_file():
                cat.problem(mask, "labelIds mask not found for its leftImg8bit image")
                continue
            cat.records.append(Record(split, img, mask=mask))
    if not cat.records:
        raise DataError(f"{img_root}: no train/val images (<split>/<city>/*_leftImg8bit.png)")
    return cat


def train_id_mask(rec: Record, size) -> np.ndarray:
    return LUT[read_mask(rec.mask, size).astype(np.int64).clip(0, 255)]


@register_dataset(
    "cityscapes",
    tasks=("segmentation",),
    format="leftImg8bit/<split>/<city>/*_leftImg8bit.png + gtFine/<split>/<city>/*_labelIds.png",
    description="urban street scenes, 19 training classes (255 ignore); official val used as test",
    license="Cityscapes terms (non-commercial research)",
    citation="Cordts et al. 2016, The Cityscapes dataset for semantic urban scene understanding",
    how_to_point="--data cityscapes:DIR (DIR/leftImg8bit, DIR/gtFine); --data-option img_size=N",
)
def load_cityscapes(task: str, root: Path, split_seed: int = 0, img_size=None, **_) -> DataBundle:
    cat = catalog(root)
    cat.raise_if_problems()
    how = assign_splits(cat, split_seed, stratify=False)
    sets = {s: SemanticSet(cat.split(s), train_id_mask, img_size) for s in ("train", "val", "test")}
    return annotated_bundle(
        "cityscapes", task, cat, sets, how, len(CLASSES), list(CLASSES), img_size or 0
    )
