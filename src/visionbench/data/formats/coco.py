"""COCO instances JSON: boxes, polygon and RLE masks, iscrowd, non-contiguous category ids.

Layout: `annotations/instances_<split>.json` with images in `<split>/` (e.g. train2017, val2017),
or a single JSON file whose images sit beside it or in `images/`. Masks are decoded with
faster-coco-eval's pycocotools-compatible RLE utilities.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...cocofile import gt_problems
from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .annotated import DetectionSet, SemanticSet, annotated_bundle, semantic_from_instances
from .common import Catalog, Record, assign_splits, check_boxes, contiguous


def annotation_files(root: Path) -> dict[str, Path]:
    """{split: instances JSON}. train*/val*/test* by file name; a lone file is unsplit."""
    if root.is_file():
        return {"": root}
    files = (
        sorted((root / "annotations").glob("instances_*.json"))
        if (root / "annotations").is_dir()
        else []
    )
    files = files or sorted(root.glob("instances_*.json")) or sorted(root.glob("*.json"))
    if not files:
        raise DataError(f"{root}: no COCO annotations (annotations/instances_*.json) found")
    if len(files) == 1:
        return {"": files[0]}
    out = {}
    for f in files:
        stem = f.stem.removeprefix("instances_")
        split = next((s for s in ("train", "val", "test") if stem.startswith(s)), stem)
        out[split] = f
    return out


def image_dir(ann: Path, split_stem: str) -> list[Path]:
    """Folders where a JSON's images may live, most specific first."""
    base = ann.parent.parent if ann.parent.name == "annotations" else ann.parent
    return [base / split_stem, base / "images" / split_stem, base / "images", base, ann.parent]


def read_json(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise DataError(
            f"{path}: invalid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: unreadable JSON ({e})") from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), list) for k in ("images", "annotations", "categories")
    ):
        raise DataError(
            f"{path}: not a COCO instances file (needs lists images, annotations, categories)"
        )
    return data


def parse(path: Path, split: str, cat: Catalog, categories: dict[int, str]) -> None:
    """Append one record per image of a COCO JSON; problems (cocofile's validator, shared with
    `metrics coco`, plus boxes outside their image) go to the catalog and the entry is skipped."""
    data = read_json(path)
    problems = gt_problems(data, need_sizes=True)
    for _, _, reason in problems:
        cat.problem(path, reason)
    bad = {(section, i) for section, i, _ in problems}
    for i, c in enumerate(data["categories"]):
        if ("category", i) not in bad:
            categories.setdefault(c["id"], str(c.get("name", c["id"])))
    stem = path.stem.removeprefix("instances_")
    folders = image_dir(path, stem)
    by_id: dict[int, Record] = {}
    for i, im in enumerate(data["images"]):
        fname = im.get("file_name") if isinstance(im, dict) else None
        if ("image", i) in bad:
            continue
        if not isinstance(fname, str) or not fname:
            cat.problem(path, f"image {im['id']} has no file_name")
            continue
        img = next((d / fname for d in folders if (d / fname).is_file()), folders[0] / fname)
        rec = Record(split, img, size=(im["width"], im["height"]), image_id=im["id"])
        rec.boxes = np.zeros((0, 4))
        by_id[im["id"]] = rec
        cat.records.append(rec)
    boxes: dict[int, list] = {}
    for i, a in enumerate(data["annotations"]):
        if ("annotation", i) in bad or a["image_id"] not in by_id:
            continue
        x, y, w, h = (float(v) for v in a["bbox"])
        rec = by_id[a["image_id"]]
        boxes.setdefault(a["image_id"], []).append([x, y, x + w, y + h])
        rec.categories.append(a["category_id"])
        rec.iscrowd.append(int(a.get("iscrowd", 0)) if a.get("iscrowd") in (0, 1) else 0)
        rec.segmentations.append(a.get("segmentation"))
    for iid, b in boxes.items():
        by_id[iid].boxes = np.asarray(b, dtype=np.float64)
        check_boxes(cat, by_id[iid], path)


def catalog(root: Path) -> Catalog:
    files = annotation_files(root)
    cat = Catalog("coco", root, [], official_split="" not in files)
    categories: dict[int, str] = {}
    for split, f in files.items():
        parse(f, split, cat, categories)
    cat.category_ids = sorted(categories)
    cat.classes = [categories[c] for c in cat.category_ids]
    cat.notes["annotation_files"] = [str(f) for f in files.values()]
    return cat


def decode_masks(rec: Record, size: tuple[int, int]) -> np.ndarray:
    """Polygons, uncompressed and compressed RLE -> uint8 [N,H,W] (pycocotools semantics)."""
    from faster_coco_eval.core import mask as mask_utils

    w, h = size
    out = np.zeros((len(rec.segmentations), h, w), np.uint8)
    for i, seg in enumerate(rec.segmentations):
        if not seg:
            continue
        try:
            if isinstance(seg, dict):
                rh, rw = (int(v) for v in seg["size"])
                if (rw, rh) != (w, h):
                    raise DataError(f"{rec.image}: mask {i} is {rw}x{rh} but the image is {w}x{h}")
            if isinstance(seg, list):  # polygons
                rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
            elif isinstance(seg.get("counts"), list):  # uncompressed RLE
                rle = mask_utils.frPyObjects(seg, h, w)
            else:
                rle = dict(seg)
                if isinstance(rle["counts"], str):
                    rle["counts"] = rle["counts"].encode()
            out[i] = mask_utils.decode(rle)
        except DataError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise DataError(f"{rec.image}: undecodable segmentation {i} ({e})") from None
    return out


@register_dataset(
    "coco",
    tasks=("detection", "instance_segmentation", "segmentation"),
    format="COCO instances JSON (annotations/instances_<split>.json) + image folders",
    description="COCO-style detection / instance segmentation (boxes, polygon + RLE masks, "
    "iscrowd); segmentation gives semantic masks painted from the instances",
    license="CC BY 4.0 (annotations); Flickr terms (images)",
    citation="Lin et al. 2014, Microsoft COCO: Common objects in context",
    how_to_point="--data coco:DIR (DIR/annotations/instances_val2017.json, DIR/val2017/*.jpg) "
    "or --data coco:FILE.json",
)
def load_coco(
    task: str, root: Path, split_seed: int = 0, masks: bool = True, img_size=None, **_
) -> DataBundle:
    cat = catalog(root)
    cat.raise_if_problems()
    how = assign_splits(cat, split_seed, stratify=False)
    names = list(cat.classes)
    if task == "segmentation":
        lab = contiguous(cat.category_ids)

        def semantic(rec: Record, size):
            m = decode_masks(rec, size)
            return semantic_from_instances(m, [lab[c] for c in rec.categories], rec.iscrowd, size)

        sets = {s: SemanticSet(cat.split(s), semantic, img_size) for s in ("train", "val", "test")}
        return annotated_bundle(
            "coco", task, cat, sets, how, len(names) + 1, ["background", *names], img_size or 0
        )
    fn = decode_masks if masks else None
    sets = {
        s: DetectionSet(cat.split(s), cat.category_ids, fn, names) for s in ("train", "val", "test")
    }
    return annotated_bundle("coco", task, cat, sets, how, len(names), names)
