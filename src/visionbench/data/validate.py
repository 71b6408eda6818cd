"""`visionbench datasets inspect`: detect a folder's format, check every file, summarise.

Checks: counts per split and class, image sizes and modes, unreadable or truncated images,
boxes outside the image or with non-positive size, unknown category ids, images without
annotations, masks whose size differs from their image. Every problem is one "file: reason" line;
nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import DataError
from .formats import (
    celeba,
    cifar,
    cityscapes,
    coco,
    detect,
    idx,
    imagefolder,
    lsun,
    mvtec,
    openimages,
    sr_pairs,
    tinyimagenet,
    voc,
)
from .formats.common import Catalog, image_header, open_image

DETECTION = {"coco", "voc", "openimages"}


def _catalog(name: str, root: Path) -> Catalog | dict:
    """The format's catalog (or, for array formats, a finished summary)."""
    if name in ("mnist", "fashion-mnist"):
        return _idx_summary(name, root)
    if name in ("cifar10", "cifar100") and cifar.batch_dir(root, name):
        return _cifar_summary(name, root)
    if name == "lsun":
        return _lsun_summary(root)
    builders = {
        "imagenet-v2": lambda r: imagefolder.catalog(r, name, numeric_classes=True),
        "tiny-imagenet": tinyimagenet.catalog,
        "celeba": celeba.catalog,
        "cityscapes": cityscapes.catalog,
        "coco": coco.catalog,
        "voc": _voc_catalog,
        "mvtec-ad": _mvtec_catalog,
        "openimages": _openimages_catalog,
        "sr-pairs": lambda r: sr_pairs.sr_catalog(r, all_scales=True),
        "image-folder": sr_pairs.folder_catalog,
    }
    build = builders.get(name, lambda r: imagefolder.catalog(r, name))
    return build(root)


def _voc_catalog(root: Path) -> Catalog:
    cat = voc.catalog(root, "Main")
    base = voc.voc_root(root)
    if (base / "SegmentationClass").is_dir():
        seg = voc.catalog(root, "Segmentation")
        by_image = {r.image: r for r in cat.records}
        for r in seg.records:
            target = by_image.get(r.image)
            if target is not None:
                target.mask, target.extra["objects"] = r.mask, r.extra["objects"]
            else:
                cat.records.append(r)
        cat.problems += [p for p in seg.problems if p not in cat.problems]
    return cat


def _openimages_catalog(root: Path) -> Catalog:
    cat = openimages.catalog(root)
    openimages.resolve_boxes(cat)  # reads each image's header, reports missing images
    return cat


def _mvtec_catalog(root: Path) -> Catalog:
    if mvtec.is_category(root):
        return mvtec.catalog(root)
    cats = [mvtec.catalog(root, c) for c in mvtec.categories(root)]
    out = Catalog("mvtec-ad", root, [], classes=["good", "defect"], official_split=True)
    for c in cats:
        for r in c.records:
            r.split = f"{c.notes['category']}/{r.split}"
        out.records += c.records
        out.problems += c.problems
    return out


def _counts(splits: dict[str, np.ndarray], classes: list[str]) -> dict:
    return {
        s: {
            classes[k] if k < len(classes) else str(k): int(v)
            for k, v in zip(*np.unique(y, return_counts=True))
        }
        for s, y in splits.items()
    }


def _idx_summary(name: str, root: Path) -> dict:
    rep = _empty(name, root)
    labels = {}
    for split in ("train", "test"):
        try:
            x, y, paths = idx.read_split(root, split)
        except DataError as e:
            rep["problems"].append(str(e))
            continue
        rep["splits"][split] = len(y)
        rep["image_sizes"][f"{x.shape[2]}x{x.shape[1]}"] = rep["image_sizes"].get(
            f"{x.shape[2]}x{x.shape[1]}", 0
        ) + len(x)
        rep["files"] += [str(p) for p in paths]
        labels[split] = y
    rep["modes"] = {"L": sum(rep["splits"].values())}
    rep["classes"] = _counts(labels, idx.CLASSES[name])
    return rep


def _cifar_summary(name: str, root: Path) -> dict:
    rep = _empty(name, root)
    d = cifar.batch_dir(root, name)
    lay = cifar.LAYOUT[name]
    try:
        classes = cifar.read_meta(d / lay["meta"][0], lay["meta"][1])
    except DataError as e:
        rep["problems"].append(str(e))
        classes = []
    labels = {}
    for split in ("train", "test"):
        ys = []
        for f in lay[split]:
            try:
                x, y = cifar.read_batch(d / f, lay["labels"])
            except DataError as e:
                rep["problems"].append(str(e))
                continue
            ys.append(y)
            bad = np.flatnonzero((y < 0) | (y >= max(1, len(classes))))
            if len(bad) and classes:
                rep["problems"].append(f"{d / f}: label {y[bad[0]]} outside 0..{len(classes) - 1}")
        if ys:
            labels[split] = np.concatenate(ys)
            rep["splits"][split] = len(labels[split])
    n = sum(rep["splits"].values())
    rep["image_sizes"], rep["modes"] = {"32x32": n}, {"RGB": n}
    rep["classes"] = _counts(labels, classes)
    return rep


def _lsun_summary(root: Path) -> dict:
    rep = _empty("lsun", root)
    for d in lsun.lmdb_dirs(root):
        c, split = lsun.parse_name(d)
        keys = lsun.read_keys(d)
        rep["splits"][split] = rep["splits"].get(split, 0) + len(keys)
        rep["classes"].setdefault(split, {})[c] = len(keys)
        env = lsun.open_env(d)
        with env.begin() as txn:
            for k in keys:
                try:
                    t = lsun.decode(txn.get(k), f"{d} (key {k.decode(errors='replace')})", 8)
                    rep["modes"]["RGB"] = rep["modes"].get("RGB", 0) + 1
                    del t
                except DataError as e:
                    rep["problems"].append(str(e))
        env.close()
    return rep


def _empty(name: str, root: Path) -> dict:
    return {
        "path": str(root),
        "format": name,
        "splits": {},
        "classes": {},
        "image_sizes": {},
        "modes": {},
        "annotations": {},
        "files": [],
        "warnings": [],
        "problems": [],
    }


def check_catalog(cat: Catalog, name: str, decode: bool = True) -> dict:
    """Open every image (fully when `decode`) and mask; collect counts and problems."""
    rep = _empty(name, cat.root)
    sizes, modes = Counter(), Counter()
    splits, classes = Counter(), {}
    no_ann, n_boxes, n_crowd = 0, 0, 0
    for rec in cat.records:
        split = rec.split or "all"
        splits[split] += 1
        if rec.label is not None:
            cname = cat.classes[rec.label] if rec.label < len(cat.classes) else str(rec.label)
            classes.setdefault(split, Counter())[cname] += 1
        for c in rec.categories:
            k = cat.category_ids.index(c) if c in cat.category_ids else -1
            cname = cat.classes[k] if 0 <= k < len(cat.classes) else str(c)
            classes.setdefault(split, Counter())[cname] += 1
        n_boxes += 0 if rec.boxes is None else len(rec.boxes)
        n_crowd += sum(rec.iscrowd)
        if name in DETECTION and not rec.categories:
            no_ann += 1
        if rec.image is None:
            continue
        try:
            if decode:
                im = open_image(rec.image)
                size, mode = im.size, im.mode
            else:
                size, mode = image_header(rec.image)
        except DataError as e:
            rep["problems"].append(str(e))
            continue
        sizes[f"{size[0]}x{size[1]}"] += 1
        modes[mode] += 1
        if rec.size is not None and tuple(rec.size) != tuple(size):
            rep["problems"].append(
                f"{rec.image}: image is {size[0]}x{size[1]} but its annotation says "
                f"{rec.size[0]}x{rec.size[1]}"
            )
        for m in (rec.mask, rec.extra.get("objects"), rec.extra.get("lr")):
            if m is None or not Path(m).is_file():
                continue
            try:
                msize, _ = image_header(m)
            except DataError as e:
                rep["problems"].append(str(e))
                continue
            want = size
            if m == rec.extra.get("lr"):
                s = rec.extra["scale"]
                want = (size[0] // s, size[1] // s)
            if tuple(msize) != tuple(want):
                what = "LR image" if m == rec.extra.get("lr") else "mask"
                rep["problems"].append(
                    f"{m}: {what} is {msize[0]}x{msize[1]} but should be {want[0]}x{want[1]} "
                    f"(image {rec.image.name})"
                )
        for i, seg in enumerate(rec.segmentations):
            if isinstance(seg, dict) and "size" in seg:
                h, w = (int(v) for v in seg["size"])
                if (w, h) != tuple(size):
                    rep["problems"].append(
                        f"{rec.image}: RLE mask {i} is {w}x{h} but the image is {size[0]}x{size[1]}"
                    )
    rep["splits"] = dict(splits)
    rep["classes"] = {s: dict(c) for s, c in classes.items()}
    rep["image_sizes"] = dict(sizes.most_common())
    rep["modes"] = dict(modes)
    if name in DETECTION or cat.category_ids:
        rep["annotations"] = {
            "boxes": n_boxes,
            "crowd": n_crowd,
            "images_without_annotations": no_ann,
        }
        if no_ann:
            rep["warnings"].append(f"{no_ann} images have no annotations (kept as negatives)")
    rep["problems"] = cat.problems + rep["problems"]
    rep["official_split"] = cat.official_split
    return rep


def inspect(root: Path, name: str | None = None, decode: bool = True) -> dict:
    """A summary of the dataset at `root`; `problems` lists every broken file, one line each."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: dataset path not found")
    name = name or detect(root)
    try:
        cat = _catalog(name, root)
    except DataError as e:  # a file so broken the layout cannot be listed
        rep = _empty(name, root)
        rep["problems"].append(str(e))
        return rep
    return cat if isinstance(cat, dict) else check_catalog(cat, name, decode)
