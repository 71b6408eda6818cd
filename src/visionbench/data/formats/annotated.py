"""Datasets over annotated images: detection targets, semantic masks, anomaly masks.

Sample types (the contract the tasks build on):
- detection / instance segmentation: (image [C,H,W], {"boxes" float [N,4] xyxy pixels,
  "labels" int64 [N] in 1..K, "masks" uint8 [N,H,W] when the format has them, "iscrowd",
  "image_id"}); batch with `collate_detection`.
- semantic segmentation: (image [C,H,W], mask int64 [H,W], 255 = ignore).
- anomaly: (image [C,H,W], label 0 good / 1 defect, mask float [H,W], zeros for good images).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ...errors import DataError
from ..registry import DataBundle, DataInfo
from .common import (
    Catalog,
    Record,
    collate_detection,
    fit_square,
    open_image,
    read_mask,
    scale_of,
    to_tensor,
)

MaskFn = Callable[[Record, tuple[int, int]], np.ndarray]  # -> uint8 [N,H,W] instance masks


def _checked_image(rec: Record, channels: int = 3) -> Image.Image:
    im = open_image(rec.image, "L" if channels == 1 else "RGB")
    if rec.size is not None and tuple(im.size) != tuple(rec.size):
        raise DataError(
            f"{rec.image}: image is {im.size[0]}x{im.size[1]} but its annotation says "
            f"{rec.size[0]}x{rec.size[1]}"
        )
    return im


class DetectionSet(Dataset):
    """Images with boxes (and instance masks when `mask_fn` is given), labels 1..K."""

    collate_fn = staticmethod(collate_detection)  # for DataLoader(collate_fn=dataset.collate_fn)

    def __init__(
        self,
        records: Sequence[Record],
        category_ids: list[int],
        mask_fn: MaskFn | None = None,
        class_names: list[str] | None = None,
    ):
        self.records = list(records)
        self.category_ids = list(category_ids)  # label k (1..K) is category_ids[k-1]
        self.label_of = {c: i + 1 for i, c in enumerate(self.category_ids)}
        self.mask_fn = mask_fn
        self.class_names = class_names or []

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        rec = self.records[i]
        im = _checked_image(rec)
        n = 0 if rec.boxes is None else len(rec.boxes)
        target = {
            "boxes": torch.as_tensor(
                rec.boxes if n else np.zeros((0, 4)), dtype=torch.float32
            ).reshape(-1, 4),
            "labels": torch.tensor([self.label_of[c] for c in rec.categories], dtype=torch.long),
            "iscrowd": torch.tensor(rec.iscrowd or [0] * n, dtype=torch.long),
            "image_id": torch.tensor(rec.image_id, dtype=torch.long),
        }
        if "image_labels" in rec.extra:
            target["image_labels"] = torch.tensor(rec.extra["image_labels"], dtype=torch.long)
        if "difficult" in rec.extra:
            target["difficult"] = torch.tensor(rec.extra["difficult"], dtype=torch.bool)
        if self.mask_fn is not None:
            m = self.mask_fn(rec, im.size)
            target["masks"] = torch.from_numpy(np.ascontiguousarray(m, dtype=np.uint8))
        return to_tensor(im), target


class SemanticSet(Dataset):
    """(image, mask int64 [H,W]) with 255 = ignore; `mask_fn` turns a record into raw labels."""

    def __init__(
        self,
        records: Sequence[Record],
        mask_fn: Callable[[Record, tuple[int, int]], np.ndarray],
        img_size: int | None = None,
    ):
        self.records, self.mask_fn, self.img_size = list(records), mask_fn, img_size

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        rec = self.records[i]
        im = _checked_image(rec)
        mask = self.mask_fn(rec, im.size)
        if self.img_size:
            im = fit_square(im, self.img_size)
            m = fit_square(Image.fromarray(mask.astype(np.uint8)), self.img_size, Image.NEAREST)
            mask = np.asarray(m)
        return to_tensor(im), torch.from_numpy(np.asarray(mask, dtype=np.int64))


class AnomalySet(Dataset):
    """(image, label 0 good / 1 defect, mask float [H,W]) from files; masks 0/1."""

    def __init__(self, records: Sequence[Record], img_size: int | None = None, channels: int = 3):
        self.records, self.img_size, self.channels = list(records), img_size, channels

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i):
        rec = self.records[i]
        im = open_image(rec.image, "L" if self.channels == 1 else "RGB")
        if rec.mask is not None:
            mask = (read_mask(rec.mask, im.size) > 0).astype(np.uint8) * 255
        else:
            mask = np.zeros((im.size[1], im.size[0]), np.uint8)
        if self.img_size:
            im = fit_square(im, self.img_size)
            mask = np.asarray(fit_square(Image.fromarray(mask), self.img_size, Image.NEAREST))
        return (
            to_tensor(im),
            torch.tensor(int(rec.label or 0), dtype=torch.long),
            torch.from_numpy((mask > 0).astype(np.float32)),
        )


def semantic_from_instances(
    masks: np.ndarray, labels: Sequence[int], iscrowd: Sequence[int], size: tuple[int, int]
) -> np.ndarray:
    """Paint instance masks into one label map: 0 background, k for class k, 255 for crowds."""
    out = np.zeros((size[1], size[0]), np.int64)
    for m, lab, crowd in zip(masks, labels, iscrowd or [0] * len(labels)):
        out[m > 0] = 255 if crowd else lab
    return out


def annotated_bundle(
    name: str,
    task: str,
    cat: Catalog,
    sets: dict[str, Dataset],
    how: str,
    num_classes: int,
    class_names: list[str],
    img_size: int = 0,
) -> DataBundle:
    n = sum(len(v) for v in sets.values())
    info = DataInfo(
        name=name,
        task=task,
        in_chans=cat.channels,
        img_size=img_size or int(cat.notes.get("img_size", 0)),
        num_classes=num_classes,
        class_names=class_names,
        sizes={k: len(v) for k, v in sets.items()},
        split=how,
        scale=scale_of(n, img_size or 256),
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])
