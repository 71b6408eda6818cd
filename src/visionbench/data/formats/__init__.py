"""Loaders for the review's datasets in their standard on-disk formats, one module per format,
and `detect(root)`: which registered dataset a folder (or file) holds, from its layout alone.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from . import (  # noqa: F401  (importing registers the loaders)
    celeba,
    cifar,
    cifar101,
    cityscapes,
    coco,
    idx,
    imagefolder,
    lsun,
    mvtec,
    openimages,
    sr_pairs,
    tinyimagenet,
    voc,
)
from .common import is_image

CIFAR100_HINT = {"apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle"}


def _class_folder_name(root: Path) -> str:
    roots = imagefolder.split_roots(root)
    first = roots.get("train", next(iter(roots.values())))
    names = {p.name for p in imagefolder.class_dirs(first)}
    if names and all(imagefolder.WNID.match(n) for n in names):
        return "imagenet-r" if len(names) == 200 and "train" not in roots else "imagenet"
    if (
        names
        and all(n.isdigit() for n in names)
        and max(int(n) for n in names) < 1000
        and len(names) > 10
    ):
        return "imagenet-v2"
    if names == set(cifar.CIFAR10_CLASSES):
        return "cifar10"
    if len(names) == 100 and names >= CIFAR100_HINT:
        return "cifar100"
    return "class-folders"


def _has_class_folders(root: Path) -> bool:
    roots = imagefolder.split_roots(root)
    first = roots.get("train", next(iter(roots.values())))
    dirs = imagefolder.class_dirs(first)
    if {d.name for d in dirs} <= set(imagefolder.SPLIT_NAMES):  # split folders of plain images
        return False
    return bool(dirs) and any(is_image(p) for d in dirs[:3] for p in d.iterdir())


def detect(root: Path) -> str:
    """The dataset name for `root`, checked from the most specific layout to the most generic."""
    root = Path(root)
    if root.is_file():
        if root.suffix == ".json":
            return "coco"
        raise DataError(f"{root}: a single file is a dataset only as a COCO JSON; name the format")
    if not root.is_dir():
        raise DataError(f"{root}: dataset path not found")
    checks = [
        (
            "coco",
            lambda r: (
                any((r / "annotations").glob("instances_*.json")) or any(r.glob("instances_*.json"))
            ),
        ),
        (
            "voc",
            lambda r: any(
                (d / "JPEGImages").is_dir()
                for d in [r, *r.glob("VOC20*"), *r.glob("VOCdevkit/VOC20*")]
            ),
        ),
        ("cityscapes", lambda r: (r / "leftImg8bit").is_dir() and (r / "gtFine").is_dir()),
        ("celeba", lambda r: any((d / "list_attr_celeba.txt").is_file() for d in (r, r / "Anno"))),
        ("tiny-imagenet", lambda r: (r / "wnids.txt").is_file() and (r / "train").is_dir()),
        ("mvtec-ad", lambda r: mvtec.is_category(r) or bool(mvtec.categories(r))),
        ("openimages", lambda r: bool(openimages.find_csv(r, "bbox"))),
        ("lsun", lambda r: bool(lsun.lmdb_dirs(r))),
        ("sr-pairs", lambda r: bool(sr_pairs.scales(r))),
    ]
    for name, check in checks:
        if check(root):
            return name
    if idx.find(root, "t10k-images-idx3-ubyte") or idx.find(root, "train-images-idx3-ubyte"):
        return idx.guess_variant(root)
    for name in ("cifar10", "cifar100"):
        if cifar.batch_dir(root, name):
            return name
    if _has_class_folders(root):
        return _class_folder_name(root)
    if any(is_image(p) for p in root.iterdir()) or any(
        (root / s).is_dir() and any(is_image(p) for p in (root / s).iterdir())
        for s in ("train", "test")
    ):
        return "image-folder"
    raise DataError(
        f"{root}: cannot recognise the dataset layout; name it with --data NAME:{root} "
        "(see: visionbench list datasets)"
    )
