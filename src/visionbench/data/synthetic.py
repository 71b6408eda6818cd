"""Embedded smoke data that needs no path: `shapes` (detection, segmentation) and `textures`
(anomaly detection), generated from a seed in well under a second.

- shapes: circles, squares and triangles on textured backgrounds, with boxes, instance masks
  and semantic masks; the labels are exact because the scenes are drawn, not annotated.
- textures: scikit-image's brick, grass and gravel photos cut into patches; the training set is
  normal patches only, the test set adds synthetically damaged patches with pixel masks.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .formats.common import collate_detection
from .registry import DataBundle, DataInfo, register_dataset
from .tensors import TensorSet

SHAPES = ["circle", "square", "triangle"]


class MultiTensorSet(TensorSet):
    """TensorSet whose samples are tuples of several aligned tensors (image, label, mask, ...)."""

    def __init__(self, images: torch.Tensor, *others: torch.Tensor):
        super().__init__(images, others[0] if others else None)
        self.others = others

    def __getitem__(self, i):
        return (self.images[i], *(o[i] for o in self.others))

    def subset(self, idx) -> MultiTensorSet:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return MultiTensorSet(self.images[idx], *(o[idx] for o in self.others))


class TargetListSet(Dataset):
    """Images [N,C,H,W] with one detection target dict each; batch with collate_detection."""

    collate_fn = staticmethod(collate_detection)

    def __init__(self, images: torch.Tensor, targets: list[dict]):
        self.images, self.targets = images, targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        return self.images[i], self.targets[i]


# -- shapes ------------------------------------------------------------------------------------
def textured_background(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random colour fields plus fine grain: [N,H,W,3] float in [0,1]."""
    coarse = torch.from_numpy(rng.random((n, 3, 6, 6), dtype=np.float32))
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    base = rng.uniform(0.2, 0.6, (n, 3, 1, 1)).astype(np.float32)
    grain = rng.random((n, 1, size, size), dtype=np.float32)  # luminance grain, +-0.06
    bg = base + 0.25 * (smooth.numpy() - 0.5) + 0.12 * (grain - 0.5)
    return np.ascontiguousarray(bg.clip(0, 1).transpose(0, 2, 3, 1))


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    return yy, xx


def shape_mask(kind: int, cx: float, cy: float, r: float, size: int) -> np.ndarray:
    yy, xx = _grid(size)
    if kind == 1:  # circle
        return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if kind == 2:  # square
        return (np.abs(xx - cx) <= r) & (np.abs(yy - cy) <= r)
    top = cy - r  # triangle, apex up
    return (yy >= top) & (yy <= cy + r) & (np.abs(xx - cx) <= (yy - top) / 2)


def make_scenes(n: int, size: int, seed: int, max_objects: int = 3):
    """n scenes -> images [N,3,H,W], semantic masks [N,H,W] int64, per-image targets."""
    rng = np.random.default_rng(seed)
    images = textured_background(n, size, rng)
    semantic = np.zeros((n, size, size), np.int64)
    targets = []
    for i in range(n):
        boxes, labels, masks = [], [], []
        occupied = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _try in range(20):  # rejection sampling: objects never overlap
                kind = int(rng.integers(1, 4))
                r = rng.uniform(size * 0.09, size * 0.2)
                cx, cy = rng.uniform(r + 1, size - r - 1, 2)
                m = shape_mask(kind, cx, cy, r, size)
                if m.sum() >= 4 and not (m & occupied).any():
                    break
            else:
                continue
            occupied |= m
            colour = rng.uniform(0, 1, 3)
            colour[rng.integers(0, 3)] = rng.choice([0.05, 0.95])  # saturated, stands out
            images[i][m] = colour
            semantic[i][m] = kind
            cols, rows = np.flatnonzero(m.any(0)), np.flatnonzero(m.any(1))
            boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
            labels.append(kind)
            masks.append(m)
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(labels, dtype=torch.long),
                "masks": torch.from_numpy(np.array(masks, dtype=np.uint8).reshape(-1, size, size)),
                "iscrowd": torch.zeros(len(labels), dtype=torch.long),
                "image_id": torch.tensor(i, dtype=torch.long),
            }
        )
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32))
    return x, torch.from_numpy(semantic), targets


def make_instance_scenes(
    n: int, size: int, seed: int, max_objects: int = 6, max_overlap: float = 0.3
) -> tuple[torch.Tensor, list[dict]]:
    """n scenes of 1-max_objects shapes that may overlap: images [N,3,H,W] and per-image targets.

    Later shapes are drawn over earlier ones, so each instance mask is the *visible* part and its
    box is the box of that part (what an annotator would draw). A placement is rejected when it
    covers more than `max_overlap` of its own area with earlier shapes, or would leave an earlier
    shape less than half visible, so every object stays recognisable.
    """
    rng = np.random.default_rng(seed)
    images = textured_background(n, size, rng)
    targets = []
    for i in range(n):
        kinds: list[int] = []
        masks: list[np.ndarray] = []  # visible parts
        full_area: list[int] = []
        occupied = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _try in range(20):
                kind = int(rng.integers(1, 4))
                r = rng.uniform(size * 0.08, size * 0.2)
                cx, cy = rng.uniform(r + 1, size - r - 1, 2)
                m = shape_mask(kind, cx, cy, r, size)
                area = int(m.sum())
                if area < 9 or (m & occupied).sum() > max_overlap * area:
                    continue
                if all((v & ~m).sum() >= 0.5 * a for v, a in zip(masks, full_area)):
                    break
            else:
                continue
            masks = [v & ~m for v in masks]
            masks.append(m)
            kinds.append(kind)
            full_area.append(area)
            occupied |= m
            colour = rng.uniform(0, 1, 3)
            colour[rng.integers(0, 3)] = rng.choice([0.05, 0.95])  # saturated, stands out
            images[i][m] = colour
        boxes = []
        for m in masks:
            cols, rows = np.flatnonzero(m.any(0)), np.flatnonzero(m.any(1))
            boxes.append([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                "labels": torch.tensor(kinds, dtype=torch.long),
                "masks": torch.from_numpy(np.array(masks, dtype=np.uint8).reshape(-1, size, size)),
                "iscrowd": torch.zeros(len(kinds), dtype=torch.long),
                "image_id": torch.tensor(i, dtype=torch.long),
            }
        )
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32))
    return x, targets


INSTANCE_TASKS = ("detection", "instance_segmentation")


@register_dataset(
    "shapes",
    tasks=("detection", "instance_segmentation", "segmentation"),
    format="generated (seeded)",
    description="synthetic 64x64 scenes of circles, squares and triangles on textured "
    "backgrounds. segmentation: 1-3 shapes that never overlap, semantic masks (240/40/80); "
    "detection and instance_segmentation: 1-6 shapes that may partly occlude each other, boxes "
    "and visible-part instance masks (1000/100/200)",
    embedded=True,
    license="generated by visionbench (no licence needed)",
    citation="visionbench smoke data",
    how_to_point="--data shapes (embedded); --data-option n=360 --data-option img_size=64 "
    "(segmentation); --data-option n_train=1000 (detection)",
    stands_in_for=("COCO", "Pascal VOC"),
)
def load_shapes(
    task: str, root=None, split_seed: int = 0, img_size: int = 64, **opts
) -> DataBundle:
    """Scenes are generated from a fixed seed (the data never changes); split_seed shuffles."""
    if task in INSTANCE_TASKS:
        return _instance_shapes(task, split_seed, int(img_size), **opts)
    return _semantic_shapes(task, split_seed, int(img_size), **opts)


def _semantic_shapes(task: str, split_seed: int, img_size: int, n: int = 360, **_) -> DataBundle:
    images, semantic, _targets = make_scenes(int(n), img_size, seed=0)
    order = np.random.default_rng(split_seed).permutation(len(semantic))
    n_test, n_val = len(order) * 2 // 9, len(order) // 9
    parts = {
        "train": order[n_test + n_val :],
        "val": order[n_test : n_test + n_val],
        "test": order[:n_test],
    }
    sets = {k: TensorSet(images[np.sort(v)], semantic[np.sort(v)]) for k, v in parts.items()}
    info = DataInfo(
        name="shapes",
        task=task,
        in_chans=3,
        img_size=img_size,
        num_classes=len(SHAPES) + 1,
        class_names=["background", *SHAPES],
        sizes={k: len(v) for k, v in sets.items()},
        split=f"random 7/9, 1/9, 2/9 of {n} scenes, seed {split_seed}",
        scale="small",
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])


def _instance_shapes(
    task: str,
    split_seed: int,
    img_size: int,
    n_train: int = 1000,
    n_val: int = 100,
    n_test: int = 200,
    max_objects: int = 6,
    **_,
) -> DataBundle:
    sizes = {"train": int(n_train), "val": int(n_val), "test": int(n_test)}
    sets = {}
    for k, (name, n) in enumerate(sizes.items()):
        # each split from its own seed: val and test stay the same scenes whatever n_train is
        images, targets = make_instance_scenes(
            n, img_size, seed=1000 + 10 * int(split_seed) + k, max_objects=int(max_objects)
        )
        sets[name] = TargetListSet(images, targets)
        sets[name].category_ids = [1, 2, 3]
    info = DataInfo(
        name="shapes",
        task=task,
        in_chans=3,
        img_size=img_size,
        num_classes=len(SHAPES),
        class_names=list(SHAPES),
        sizes={k: len(sets[k]) for k in ("train", "val", "test")},
        split=f"{n_train}/{n_val}/{n_test} scenes of 1-{max_objects} partly overlapping shapes, "
        f"each split drawn from its own seed (split seed {split_seed})",
        scale="small",
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])


# -- textures ----------------------------------------------------------------------------------
TEXTURES = ("brick", "grass", "gravel")


def texture_image(name: str) -> np.ndarray:
    import skimage.data as skd

    if name not in TEXTURES:
        from ..errors import UnknownNameError

        raise UnknownNameError("texture", name, TEXTURES)
    a = getattr(skd, name)().astype(np.float32) / 255.0
    return a if a.ndim == 2 else a.mean(axis=2)


def crops(img: np.ndarray, n: int, size: int, rows: tuple[int, int], rng) -> np.ndarray:
    ys = rng.integers(rows[0], rows[1] - size + 1, n)
    xs = rng.integers(0, img.shape[1] - size + 1, n)
    return np.stack([img[y : y + size, x : x + size] for y, x in zip(ys, xs)])


def damage(
    patch: np.ndarray, rng: np.random.Generator, other: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic defect: a scratch, a stain, or a piece of another texture; returns its mask."""
    s = patch.shape[0]
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32)
    kind = rng.integers(0, 3)
    cx, cy = rng.uniform(s * 0.25, s * 0.75, 2)
    if kind == 0:  # scratch: a thin line at a random angle
        a = rng.uniform(0, np.pi)
        dist = np.abs((xx - cx) * np.sin(a) - (yy - cy) * np.cos(a))
        along = np.abs((xx - cx) * np.cos(a) + (yy - cy) * np.sin(a))
        mask = (dist <= rng.uniform(1.0, 2.0)) & (along <= s * rng.uniform(0.2, 0.4))
        value = np.full_like(patch, rng.choice([0.0, 1.0]))
    elif kind == 1:  # stain: a dark or bright ellipse
        ax, ay = rng.uniform(s * 0.08, s * 0.2, 2)
        mask = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1
        value = np.clip(patch + rng.choice([-0.45, 0.45]), 0, 1)
    else:  # cut-paste: a square of a different texture
        h = int(rng.uniform(s * 0.15, s * 0.3))
        mask = (np.abs(xx - cx) <= h) & (np.abs(yy - cy) <= h)
        value = other
    out = patch.copy()
    out[mask] = value[mask]
    return out, mask.astype(np.float32)


@register_dataset(
    "textures",
    tasks=("anomaly",),
    format="scikit-image bundled textures + generated defects (seeded)",
    description="patches of scikit-image brick/grass/gravel (data option texture=); train and "
    "val on normal patches from the upper 60% of the photo, test on normal + damaged patches "
    "(scratch, stain, foreign texture) from the lower 40%, with pixel masks",
    embedded=True,
    license="public domain / CC0 (see skimage.data)",
    citation="scikit-image data module (van der Walt et al. 2014); defects generated here",
    how_to_point="--data textures (embedded); --data-option texture=brick|grass|gravel",
)
def load_textures(
    task: str,
    root=None,
    split_seed: int = 0,
    texture: str = "brick",
    patch_size: int = 64,
    n_train: int = 200,
    n_val: int = 40,
    n_test: int = 120,
    channels: int = 1,
    **_,
) -> DataBundle:
    img = texture_image(texture)
    others = [texture_image(t) for t in TEXTURES if t != texture]
    rng = np.random.default_rng(split_seed)
    s, h = int(patch_size), img.shape[0]
    cut = int(h * 0.6)  # train/val and test come from disjoint parts of the photo
    train = crops(img, n_train + n_val, s, (0, cut), rng)
    test = crops(img, n_test, s, (cut, h), rng)
    labels = np.zeros(n_test, np.int64)
    masks = np.zeros((n_test, s, s), np.float32)
    for i in range(n_test // 2, n_test):
        other = crops(others[i % len(others)], 1, s, (0, others[i % len(others)].shape[0]), rng)[0]
        test[i], masks[i] = damage(test[i], rng, other)
        labels[i] = 1

    def tensor(a):
        t = torch.from_numpy(np.ascontiguousarray(a))[:, None]
        return t.repeat(1, int(channels), 1, 1) if int(channels) > 1 else t

    zeros = torch.zeros(n_train + n_val, s, s)
    x = tensor(train)
    sets = {
        "train": MultiTensorSet(
            x[:n_train], torch.zeros(n_train, dtype=torch.long), zeros[:n_train]
        ),
        "val": MultiTensorSet(x[n_train:], torch.zeros(n_val, dtype=torch.long), zeros[n_train:]),
        "test": MultiTensorSet(tensor(test), torch.from_numpy(labels), torch.from_numpy(masks)),
    }
    info = DataInfo(
        name=f"textures/{texture}",
        task=task,
        in_chans=int(channels),
        img_size=s,
        num_classes=2,
        class_names=["good", "defect"],
        sizes={k: len(v) for k, v in sets.items()},
        split=f"disjoint image regions: train/val normal (top 60%), test half damaged "
        f"(bottom 40%), seed {split_seed}",
        scale="small",
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])
