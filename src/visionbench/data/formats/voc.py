"""Pascal VOC: Annotations/*.xml (with the difficult flag), JPEGImages, SegmentationClass and
SegmentationObject palette PNGs, ImageSets/{Main,Segmentation}/*.txt split lists.

XML goes through defusedxml, so entity expansion ("billion laughs") and external entities are
refused instead of expanded. Boxes are VOC's 1-based inclusive pixels turned into 0-based xyxy
(x0 = xmin - 1, x1 = xmax).
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import ParseError

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as parse_xml

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .annotated import DetectionSet, SemanticSet, annotated_bundle
from .common import Catalog, Record, assign_splits, check_boxes, read_mask, read_text

CLASSES = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
]


def voc_root(root: Path) -> Path:
    """Accept VOCdevkit/, VOCdevkit/VOC2012/ or a folder holding a single VOC20xx/."""
    if (root / "JPEGImages").is_dir():
        return root
    for base in (root, root / "VOCdevkit"):
        years = (
            sorted(p for p in base.glob("VOC20*") if (p / "JPEGImages").is_dir())
            if base.is_dir()
            else []
        )
        if years:
            return years[-1]
    raise DataError(f"{root}: no Pascal VOC tree (JPEGImages/ and Annotations/) found")


def read_list(path: Path) -> list[str]:
    return [line.split()[0] for line in read_text(path).splitlines() if line.strip()]


def split_lists(root: Path, kind: str) -> dict[str, list[str]]:
    """Official lists: train + val (val becomes our test), or trainval + test (VOC2007)."""
    d = root / "ImageSets" / kind
    have = {
        s: d / f"{s}.txt"
        for s in ("train", "val", "trainval", "test")
        if (d / f"{s}.txt").is_file()
    }
    if "test" in have and "trainval" in have:
        return {"train": read_list(have["trainval"]), "test": read_list(have["test"])}
    return {s: read_list(have[s]) for s in ("train", "val") if s in have}


def parse_annotation(path: Path, cat: Catalog, rec: Record) -> None:
    """Objects of one XML file -> rec.boxes / categories / difficult; problems to the catalog."""
    try:
        tree = parse_xml(path, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        cat.problem(
            path, f"unsafe XML refused ({type(e).__name__}: entity declarations are not allowed)"
        )
        return
    except ParseError as e:
        cat.problem(path, f"invalid XML ({e})")
        return
    except OSError as e:
        cat.problem(path, f"unreadable XML ({e})")
        return
    root = tree.getroot()
    try:
        size = root.find("size")
        rec.size = (int(size.findtext("width")), int(size.findtext("height")))
    except (AttributeError, TypeError, ValueError):
        cat.problem(path, "missing or invalid <size><width>/<height>")
    boxes, difficult = [], []
    for i, obj in enumerate(root.iter("object")):
        name = (obj.findtext("name") or "").strip()
        if name not in CLASSES:
            cat.problem(path, f"object {i} has unknown class name '{name}'")
            continue
        try:
            bb = obj.find("bndbox")
            x0, y0, x1, y1 = (float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (AttributeError, TypeError, ValueError):
            cat.problem(path, f"object {i} has a missing or invalid <bndbox>")
            continue
        boxes.append([x0 - 1, y0 - 1, x1, y1])
        rec.categories.append(CLASSES.index(name) + 1)
        difficult.append(int((obj.findtext("difficult") or "0").strip() or 0))
    rec.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    rec.iscrowd = [0] * len(boxes)
    rec.extra["difficult"] = difficult
    check_boxes(cat, rec, path)


def catalog(root: Path, kind: str = "Main") -> Catalog:
    """kind 'Main' (detection, every annotated image) or 'Segmentation' (images with PNG masks)."""
    base = voc_root(root)
    lists = split_lists(base, kind)
    if lists:
        ids = [(s, i) for s, v in lists.items() for i in v]
    elif kind == "Segmentation":
        ids = [("", p.stem) for p in sorted((base / "SegmentationClass").glob("*.png"))]
    else:
        ids = [("", p.stem) for p in sorted((base / "Annotations").glob("*.xml"))]
    if not ids:
        raise DataError(f"{base}: no images listed in ImageSets/{kind} or found in Annotations/")
    cat = Catalog("voc", base, [], classes=list(CLASSES), official_split=bool(lists))
    cat.category_ids = list(range(1, len(CLASSES) + 1))
    for n, (split, iid) in enumerate(ids):
        rec = Record(split, base / "JPEGImages" / f"{iid}.jpg", image_id=n)
        if not rec.image.is_file():
            cat.problem(rec.image, "listed image not found")
        xml = base / "Annotations" / f"{iid}.xml"
        if xml.is_file():
            parse_annotation(xml, cat, rec)
        elif kind == "Main":
            cat.problem(xml, "annotation file not found")
        if kind == "Segmentation":
            rec.mask = base / "SegmentationClass" / f"{iid}.png"
            rec.extra["objects"] = base / "SegmentationObject" / f"{iid}.png"
            if not rec.mask.is_file():
                cat.problem(rec.mask, "segmentation mask not found")
        cat.records.append(rec)
    return cat


def class_mask(rec: Record, size) -> np.ndarray:
    return read_mask(rec.mask, size).astype(np.int64)  # palette index = class, 255 = border


def object_masks(rec: Record, size) -> np.ndarray:
    """SegmentationObject: pixel value i+1 belongs to the i-th object of the XML."""
    obj = read_mask(rec.extra["objects"], size)
    n = len(rec.categories)
    return (
        np.stack([obj == i + 1 for i in range(n)]).astype(np.uint8)
        if n
        else np.zeros((0, size[1], size[0]), np.uint8)
    )


@register_dataset(
    "voc",
    tasks=("detection", "instance_segmentation", "segmentation"),
    format="VOCdevkit/VOC20xx: Annotations/*.xml, JPEGImages, SegmentationClass|Object/*.png, "
    "ImageSets/{Main,Segmentation}/*.txt",
    description="Pascal VOC 2007/2012: 20 classes; detection with the difficult flag, semantic "
    "segmentation with 255 borders; official val (or VOC2007 test) used as test",
    license="Flickr terms (images); VOC annotations for research",
    citation="Everingham et al. 2010, The Pascal Visual Object Classes (VOC) challenge",
    how_to_point="--data voc:DIR (DIR = VOCdevkit or VOCdevkit/VOC2012)",
)
def load_voc(
    task: str, root: Path, split_seed: int = 0, masks: bool = False, img_size=None, **_
) -> DataBundle:
    masks = masks or task == "instance_segmentation"  # instance masks: SegmentationObject
    kind = "Segmentation" if task == "segmentation" or masks else "Main"
    cat = catalog(root, kind)
    cat.raise_if_problems()
    how = assign_splits(cat, split_seed, stratify=False)
    if task == "segmentation":
        sets = {
            s: SemanticSet(cat.split(s), class_mask, img_size) for s in ("train", "val", "test")
        }
        return annotated_bundle(
            "voc", task, cat, sets, how, len(CLASSES) + 1, ["background", *CLASSES], img_size or 0
        )
    fn = object_masks if masks else None
    sets = {
        s: DetectionSet(cat.split(s), cat.category_ids, fn, CLASSES)
        for s in ("train", "val", "test")
    }
    return annotated_bundle("voc", task, cat, sets, how, len(CLASSES), list(CLASSES))
