"""Tiny ImageNet: 200 classes of 64x64 images; train/<wnid>/images, val/images + val_annotations.txt.

The official test set has no labels, so the official val split is our test set.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .common import Catalog, Record, assign_splits, classification_bundle, list_images, read_text


def catalog(root: Path) -> Catalog:
    wnids = [w.strip() for w in read_text(root / "wnids.txt").split() if w.strip()]
    if not wnids:
        raise DataError(f"{root / 'wnids.txt'}: no WordNet ids listed")
    words = {}
    if (root / "words.txt").is_file():
        for line in read_text(root / "words.txt").splitlines():
            if "\t" in line:
                w, text = line.split("\t", 1)
                words[w] = text.split(",")[0].strip()
    index = {w: i for i, w in enumerate(wnids)}
    names = [f"{words[w]} ({w})" if w in words else w for w in wnids]
    cat = Catalog("tiny-imagenet", root, [], classes=names, official_split=True)
    for w in wnids:
        folder = root / "train" / w / "images"
        if not folder.is_dir():
            cat.problem(folder, f"train folder of class {w} not found")
            continue
        cat.records += [Record("train", p, label=index[w]) for p in list_images(folder)]
    ann = root / "val" / "val_annotations.txt"
    if ann.is_file():
        for n, line in enumerate(read_text(ann).splitlines(), 1):
            parts = line.split("\t")
            if not line.strip():
                continue
            if len(parts) < 2:
                cat.problem(f"{ann}:{n}", "expected '<file>\\t<wnid>\\t...'")
                continue
            if parts[1] not in index:
                cat.problem(f"{ann}:{n}", f"unknown WordNet id '{parts[1]}' (not in wnids.txt)")
                continue
            img = root / "val" / "images" / parts[0]
            if not img.is_file():
                cat.problem(img, "listed in val_annotations.txt but not found")
                continue
            cat.records.append(Record("val", img, label=index[parts[1]]))
    return cat


@register_dataset(
    "tiny-imagenet",
    tasks=("classification", "generation"),
    format="train/<wnid>/images/*.JPEG, val/images + val_annotations.txt, wnids.txt, words.txt",
    description="Tiny ImageNet: 200 classes, 500 train + 50 val 64x64 images each; "
    "official val used as test",
    citation="Le & Yang 2015, Tiny ImageNet visual recognition challenge",
    how_to_point="--data tiny-imagenet:DIR (DIR/wnids.txt, DIR/train, DIR/val)",
)
def load_tiny_imagenet(
    task: str, root: Path, split_seed: int = 0, img_size=None, preload=None, **_
) -> DataBundle:
    cat = catalog(root)
    cat.raise_if_problems()
    how = assign_splits(cat, split_seed)
    return classification_bundle(cat, "tiny-imagenet", task, how, img_size, preload)
