"""Open Images V7: box CSVs with normalised coordinates (XMin, XMax, YMin, YMax in [0,1]) and
image-level label CSVs, keyed by MID label names (/m/...) with a class-description CSV.

Layout: DIR/<split>/<ImageID>.jpg (split = train, validation, test) with CSVs in DIR or
DIR/annotations named like `<split>-annotations-bbox.csv`, `<split>-annotations-human-
imagelabels-boxable.csv`, `oidv7-class-descriptions-boxable.csv`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .annotated import DetectionSet, annotated_bundle
from .common import Catalog, Record, assign_splits, image_header

SPLITS = {"train": "train", "validation": "val", "test": "test"}
BOX_COLUMNS = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax")


def csv_dirs(root: Path) -> list[Path]:
    return [root, root / "annotations", root / "labels"]


def find_csv(root: Path, *needles: str) -> list[Path]:
    out = []
    for d in csv_dirs(root):
        if d.is_dir():
            out += [p for p in sorted(d.glob("*.csv")) if all(n in p.name for n in needles)]
    return out


def read_rows(path: Path, required: tuple[str, ...]) -> list[dict]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(f"{path}: missing CSV columns {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: unreadable CSV ({e})") from None


def class_descriptions(root: Path) -> dict[str, str]:
    files = find_csv(root, "class-descriptions")
    if not files:
        return {}
    out = {}
    with files[0].open(newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) >= 2 and row[0] != "LabelName":
                out[row[0]] = row[1]
    return out


def split_of(path: Path) -> str | None:
    return next((SPLITS[s] for s in SPLITS if path.name.startswith(s)), None)


def catalog(root: Path) -> Catalog:
    names = class_descriptions(root)
    box_files = find_csv(root, "bbox")
    if not box_files:
        raise DataError(f"{root}: no Open Images box CSV (<split>-annotations-bbox.csv) found")
    cat = Catalog("openimages", root, [], official_split=True)
    by_key: dict[tuple[str, str], Record] = {}
    mids: set[str] = set()
    for f in box_files:
        split = split_of(f) or ""
        folder = next(
            (d for d in (root / k for k, v in SPLITS.items() if v == split) if d.is_dir()),
            root / "images",
        )
        for n, row in enumerate(read_rows(f, BOX_COLUMNS), 2):
            mid = row["LabelName"]
            if names and mid not in names:
                cat.problem(f"{f}:{n}", f"unknown label name {mid} (not in the class descriptions)")
                continue
            try:
                x0, x1, y0, y1 = (float(row[k]) for k in ("XMin", "XMax", "YMin", "YMax"))
            except ValueError:
                cat.problem(f"{f}:{n}", "non-numeric box coordinates")
                continue
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                cat.problem(
                    f"{f}:{n}",
                    f"box [{x0}, {y0}, {x1}, {y1}] is outside [0,1] or has non-positive size",
                )
                continue
            key = (split, row["ImageID"])
            if key not in by_key:
                rec = Record(split, folder / f"{row['ImageID']}.jpg", image_id=len(by_key))
                rec.extra["norm"] = []
                by_key[key] = rec
                cat.records.append(rec)
            rec = by_key[key]
            rec.extra["norm"].append([x0, y0, x1, y1])
            rec.extra.setdefault("mids", []).append(mid)
            rec.iscrowd.append(int(row.get("IsGroupOf", "0") == "1"))
            mids.add(mid)
    for f in find_csv(root, "imagelabels"):
        split = split_of(f) or ""
        for row in read_rows(f, ("ImageID", "LabelName", "Confidence")):
            rec = by_key.get((split, row["ImageID"]))
            if rec is not None and row["Confidence"] in ("1", "1.0"):
                rec.extra.setdefault("image_labels", []).append(row["LabelName"])
    cat.category_ids = list(range(1, len(mids) + 1))
    cat.notes["mids"] = sorted(mids)
    cat.classes = [names.get(m, m) for m in cat.notes["mids"]]
    index = {m: i + 1 for i, m in enumerate(cat.notes["mids"])}
    for rec in cat.records:
        rec.categories = [index[m] for m in rec.extra["mids"]]
        if "image_labels" in rec.extra:  # positive labels among the boxable classes, as 1..K
            rec.extra["image_labels"] = sorted(
                {index[m] for m in rec.extra["image_labels"] if m in index}
            )
    return cat


def resolve_boxes(cat: Catalog) -> None:
    """Normalised boxes -> pixels, reading each image's header for its size."""
    for rec in cat.records:
        if not rec.image.is_file():
            cat.problem(rec.image, "image listed in the box CSV not found")
            continue
        rec.size, _ = image_header(rec.image)
        w, h = rec.size
        rec.boxes = np.asarray(rec.extra["norm"], dtype=np.float64) * [w, h, w, h]


@register_dataset(
    "openimages",
    tasks=("detection",),
    format="<split>-annotations-bbox.csv (normalised XMin/XMax/YMin/YMax), image-level label "
    "CSV, class-descriptions CSV, <split>/<ImageID>.jpg",
    description="Open Images V7 boxes (600 boxable classes; IsGroupOf as iscrowd); "
    "positive image-level labels in target['image_labels']",
    license="CC BY 4.0 (annotations); CC BY 2.0 (images)",
    citation="Kuznetsova et al. 2020, The Open Images dataset V4",
    how_to_point="--data openimages:DIR (DIR/validation/*.jpg, DIR/validation-annotations-bbox.csv)",
)
def load_openimages(task: str, root: Path, split_seed: int = 0, **_) -> DataBundle:
    cat = catalog(root)
    resolve_boxes(cat)
    cat.raise_if_problems()
    how = assign_splits(cat, split_seed, stratify=False)
    sets = {
        s: DetectionSet(cat.split(s), cat.category_ids, None, cat.classes)
        for s in ("train", "val", "test")
    }
    return annotated_bundle("openimages", task, cat, sets, how, len(cat.classes), cat.classes)
