"""Detection, segmentation and anomaly formats: COCO, Pascal VOC, Open Images, Cityscapes, MVTec AD."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visionbench.data.formats import detect
from visionbench.data.registry import load_dataset
from visionbench.data.validate import inspect
from visionbench.errors import DataError


def save(path: Path, array: np.ndarray, palette: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(array)
    if palette:  # a VOC-style palette PNG: pixel values are class indices, colours are a palette
        im = im.convert("P")  # L -> P keeps the index values
        im.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
    im.save(path)
    return path


def rgb(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- COCO --------------------------------------------------------------------------------------
def coco_tree(root: Path) -> dict:
    from faster_coco_eval.core import mask as mask_utils

    w, h = 32, 24
    for i in (1, 2, 3):
        save(root / "val2017" / f"{i:012d}.jpg", rgb(i, h, w))
    full = np.zeros((h, w), np.uint8, order="F")
    full[4:10, 20:30] = 1
    rle = mask_utils.encode(np.asfortranarray(full))
    rle["counts"] = rle["counts"].decode()
    col = np.zeros((h, w), np.uint8)
    col[0:5, 0:2] = 1  # uncompressed RLE is column-major: 5 on, rest off in the first two columns
    ann = {
        "images": [
            {"id": i, "file_name": f"{i:012d}.jpg", "width": w, "height": h} for i in (1, 2, 3)
        ],
        "categories": [
            {"id": 1, "name": "person"},
            {"id": 7, "name": "train"},
            {"id": 40, "name": "glove"},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 7, "bbox": [2, 2, 8, 6], "iscrowd": 0,
             "segmentation": [[2, 2, 10, 2, 10, 8, 2, 8]], "area": 48},
            {"id": 11, "image_id": 1, "category_id": 40, "bbox": [20, 4, 10, 6], "iscrowd": 0,
             "segmentation": rle, "area": 60},
            {"id": 12, "image_id": 2, "category_id": 1, "bbox": [0, 0, 2, 5], "iscrowd": 1,
             "segmentation": {"counts": [0, 5, h - 5, 5, w * h - h - 5], "size": [h, w]}, "area": 10},
        ],
    }  # fmt: skip
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(ann))
    return {"ann": ann, "rle_mask": full, "col_mask": col}


def test_coco_boxes_masks_crowd_noncontiguous_ids(tmp_path):
    fx = coco_tree(tmp_path)
    assert detect(tmp_path) == "coco"
    b = load_dataset(str(tmp_path), "detection")
    assert b.info.class_names == ["person", "train", "glove"] and b.info.num_classes == 3
    assert b.train.category_ids == [1, 7, 40]
    every = [s for part in (b.train, b.val, b.test) for s in part]
    by_id = {int(t["image_id"]): (x, t) for x, t in every}
    assert sorted(by_id) == [1, 2, 3]
    x, t = by_id[1]
    assert x.shape == (3, 24, 32)
    assert t["labels"].tolist() == [2, 3]  # ids 7, 40 -> contiguous 2, 3
    assert t["boxes"].tolist() == [[2, 2, 10, 8], [20, 4, 30, 10]]
    assert t["masks"].shape == (2, 24, 32) and t["masks"].dtype == torch.uint8
    assert torch.equal(t["masks"][1], torch.from_numpy(fx["rle_mask"]))
    assert t["masks"][0][3:8, 3:10].all() and t["masks"][0].sum() < 100
    _, t2 = by_id[2]
    assert t2["iscrowd"].tolist() == [1] and t2["labels"].tolist() == [1]
    assert torch.equal(t2["masks"][0], torch.from_numpy(fx["col_mask"]))
    _, t3 = by_id[3]
    assert t3["boxes"].shape == (0, 4) and t3["labels"].numel() == 0
    rep = inspect(tmp_path)
    assert rep["problems"] == [] and rep["annotations"]["images_without_annotations"] == 1


def test_coco_semantic_masks(tmp_path):
    coco_tree(tmp_path)
    b = load_dataset(f"coco:{tmp_path}", "segmentation")
    assert b.info.class_names[0] == "background" and b.info.num_classes == 4
    masks = {int(m.sum()): m for part in (b.train, b.val, b.test) for _, m in part}
    assert all(m.dtype == torch.int64 for m in masks.values())
    values = set(torch.cat([m.unique() for m in masks.values()]).tolist())
    assert values == {0, 2, 3, 255}  # background, train, glove, crowd ignored


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda a: a["annotations"][0].update(bbox=[25, 2, 20, 6]),
            r"box .* lies outside the 32x24 image",
        ),
        (lambda a: a["annotations"][0].update(bbox=[2, 2, 0, 6]), r"non-positive size"),
        (
            lambda a: a["annotations"][1].update(category_id=99),
            r"annotation 11 has unknown category id 99",
        ),
        (lambda a: a["annotations"][2].update(image_id=77), r"unknown image id 77"),
    ],
)
def test_coco_damage_is_reported(tmp_path, damage, message):
    coco_tree(tmp_path)
    path = tmp_path / "annotations" / "instances_val2017.json"
    ann = json.loads(path.read_text())
    damage(ann)
    path.write_text(json.dumps(ann))
    with pytest.raises(DataError, match=r"instances_val2017\.json.*" + message):
        load_dataset(f"coco:{tmp_path}", "detection")
    problems = inspect(tmp_path)["problems"]
    assert len(problems) == 1 and re.search(r"instances_val2017\.json.*" + message, problems[0])


def test_coco_invalid_json_and_wrong_size_rle(tmp_path):
    coco_tree(tmp_path)
    path = tmp_path / "annotations" / "instances_val2017.json"
    text = path.read_text()
    ann = json.loads(text)
    ann["annotations"][2]["segmentation"]["size"] = [10, 10]
    path.write_text(json.dumps(ann))
    rep = inspect(tmp_path)
    assert (
        len(rep["problems"]) == 1
        and "RLE mask 0 is 10x10 but the image is 32x24" in rep["problems"][0]
    )
    b = load_dataset(f"coco:{tmp_path}", "detection")
    samples = [b.train, b.val, b.test]
    with pytest.raises(
        DataError, match=r"000000000002\.jpg: mask 0 is 10x10 but the image is 32x24"
    ):
        for part in samples:
            for i in range(len(part)):
                part[i]
    path.write_text(text[:-20])
    with pytest.raises(DataError, match=r"instances_val2017\.json: invalid JSON \(line 1"):
        load_dataset(f"coco:{tmp_path}", "detection")


# -- Pascal VOC --------------------------------------------------------------------------------
XML = """<annotation><filename>{name}.jpg</filename>
<size><width>40</width><height>30</height><depth>3</depth></size>
<object><name>dog</name><difficult>0</difficult>
<bndbox><xmin>3</xmin><ymin>4</ymin><xmax>20</xmax><ymax>25</ymax></bndbox></object>
<object><name>person</name><difficult>1</difficult>
<bndbox><xmin>22</xmin><ymin>1</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object>
</annotation>"""


def voc_tree(root: Path) -> Path:
    base = root / "VOCdevkit" / "VOC2012"
    ids = ["2008_000001", "2008_000002", "2008_000003", "2008_000004"]
    for i, n in enumerate(ids):
        save(base / "JPEGImages" / f"{n}.jpg", rgb(i, 30, 40))
        (base / "Annotations").mkdir(parents=True, exist_ok=True)
        (base / "Annotations" / f"{n}.xml").write_text(XML.format(name=n))
        cls = np.zeros((30, 40), np.uint8)
        cls[3:25, 2:20] = 12  # dog
        cls[0:30, 21:40] = 15  # person
        cls[25, :] = 255  # border
        obj = np.zeros((30, 40), np.uint8)
        obj[3:25, 2:20] = 1
        obj[0:30, 21:40] = 2
        save(base / "SegmentationClass" / f"{n}.png", cls, palette=True)
        save(base / "SegmentationObject" / f"{n}.png", obj, palette=True)
    for kind in ("Main", "Segmentation"):
        d = base / "ImageSets" / kind
        d.mkdir(parents=True, exist_ok=True)
        (d / "train.txt").write_text("\n".join(ids[:3]) + "\n")
        (d / "val.txt").write_text(ids[3] + "\n")
    return base


def test_voc_detection_difficult_and_masks(tmp_path):
    base = voc_tree(tmp_path)
    assert detect(tmp_path) == "voc"
    b = load_dataset(str(tmp_path), "detection", masks=True)
    assert b.info.sizes == {"train": 2, "val": 1, "test": 1}  # official val -> test
    x, t = b.test[0]
    assert x.shape == (3, 30, 40)
    assert t["boxes"].tolist() == [[2, 3, 20, 25], [21, 0, 40, 30]]  # 1-based -> 0-based xyxy
    assert t["labels"].tolist() == [12, 15] and t["difficult"].tolist() == [False, True]
    assert t["masks"].shape == (2, 30, 40) and int(t["masks"][0].sum()) == 22 * 18
    s = load_dataset(str(base), "segmentation")
    _, m = s.test[0]
    assert m.dtype == torch.int64 and set(m.unique().tolist()) == {0, 12, 15, 255}
    assert inspect(tmp_path)["problems"] == []


def test_voc_xml_entity_bomb_is_refused(tmp_path):
    base = voc_tree(tmp_path)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<annotation><filename>&lol3;</filename></annotation>"
    )
    (base / "Annotations" / "2008_000002.xml").write_text(bomb)
    with pytest.raises(DataError, match=r"2008_000002\.xml: unsafe XML refused"):
        load_dataset(f"voc:{tmp_path}", "detection")


def test_voc_wrong_size_mask(tmp_path):
    base = voc_tree(tmp_path)
    save(base / "SegmentationClass" / "2008_000004.png", np.zeros((10, 10), np.uint8), palette=True)
    rep = inspect(tmp_path)
    assert len(rep["problems"]) == 1
    assert "2008_000004.png: mask is 10x10 but should be 40x30" in rep["problems"][0]
    b = load_dataset(f"voc:{tmp_path}", "segmentation")
    with pytest.raises(DataError, match=r"2008_000004\.png: mask is 10x10 but its image is 40x30"):
        b.test[0]


# -- Open Images -------------------------------------------------------------------------------
def test_openimages_normalised_boxes(tmp_path):
    save(tmp_path / "validation" / "abc.jpg", rgb(0, 50, 100))
    save(tmp_path / "validation" / "def.jpg", rgb(1, 20, 20))
    (tmp_path / "oidv7-class-descriptions-boxable.csv").write_text(
        "LabelName,DisplayName\n/m/01g317,Person\n/m/0k4j,Car\n"
    )
    head = "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside\n"
    rows = [
        "abc,xclick,/m/0k4j,1,0.1,0.5,0.2,1.0,0,0,0,0,0",
        "abc,xclick,/m/01g317,1,0.6,0.9,0.0,0.5,0,0,1,0,0",
        "def,xclick,/m/0k4j,1,0.0,1.0,0.0,1.0,0,0,0,0,0",
    ]
    (tmp_path / "validation-annotations-bbox.csv").write_text(head + "\n".join(rows) + "\n")
    (tmp_path / "validation-annotations-human-imagelabels-boxable.csv").write_text(
        "ImageID,Source,LabelName,Confidence\nabc,verification,/m/0k4j,1\n"
        "abc,verification,/m/01g317,0\nabc,verification,/m/0zzz,1\n"
    )
    assert detect(tmp_path) == "openimages"
    b = load_dataset(str(tmp_path), "detection")
    assert b.info.class_names == ["Person", "Car"]
    samples = {tuple(x.shape): t for part in (b.train, b.val, b.test) for x, t in part}
    t = samples[(3, 50, 100)]
    assert torch.allclose(t["boxes"], torch.tensor([[10.0, 10, 50, 50], [60, 0, 90, 25]]))
    assert t["labels"].tolist() == [2, 1] and t["iscrowd"].tolist() == [0, 1]
    assert t["image_labels"].tolist() == [2]  # Car positive; Person verified absent
    (tmp_path / "validation-annotations-bbox.csv").write_text(
        head + rows[0].replace("0.5,0.2", "1.5,0.2") + "\n"
    )
    with pytest.raises(
        DataError, match=r"validation-annotations-bbox\.csv:2: box .* outside \[0,1\]"
    ):
        load_dataset(str(tmp_path), "detection")


# -- Cityscapes --------------------------------------------------------------------------------
def test_cityscapes_train_ids(tmp_path):
    for split, city, n in (("train", "aachen", 3), ("val", "lindau", 1)):
        for i in range(n):
            stem = f"{city}_{i:06d}_000019"
            save(tmp_path / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", rgb(i, 8, 16))
            ids = np.zeros((8, 16), np.uint8)
            ids[:4] = 7  # road -> 0
            ids[4:, :8] = 26  # car -> 13
            ids[4:, 8:] = 5  # dynamic -> ignore
            save(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids)
    assert detect(tmp_path) == "cityscapes"
    b = load_dataset(str(tmp_path), "segmentation")
    assert b.info.num_classes == 19 and b.info.sizes == {"train": 2, "val": 1, "test": 1}
    _, m = b.test[0]
    assert m[0, 0] == 0 and m[7, 0] == 13 and m[7, 15] == 255
    x, m = load_dataset(str(tmp_path), "segmentation", img_size=4).train[0]
    assert x.shape == (3, 4, 4) and m.shape == (4, 4)


# -- MVTec AD ----------------------------------------------------------------------------------
def test_mvtec_anomaly(tmp_path):
    base = tmp_path / "bottle"
    for i in range(10):
        save(base / "train" / "good" / f"{i:03d}.png", rgb(i, 16, 16))
    for i in range(2):
        save(base / "test" / "good" / f"{i:03d}.png", rgb(20 + i, 16, 16))
        save(base / "test" / "broken_large" / f"{i:03d}.png", rgb(30 + i, 16, 16))
        mask = np.zeros((16, 16), np.uint8)
        mask[4:8, 4:8] = 255
        save(base / "ground_truth" / "broken_large" / f"{i:03d}_mask.png", mask)
    assert detect(tmp_path) == "mvtec-ad"
    b = load_dataset(str(tmp_path), "anomaly", img_size=16)
    assert b.info.name == "mvtec-ad/bottle"
    assert b.info.sizes == {"train": 9, "val": 1, "test": 4}
    labels = [int(b.test[i][1]) for i in range(4)]
    assert labels == [1, 1, 0, 0]  # sorted folders: broken_large before good
    assert b.test[0][2].sum() == 16 and b.test[3][2].sum() == 0
    (base / "ground_truth" / "broken_large" / "001_mask.png").unlink()
    with pytest.raises(DataError, match=r"001_mask\.png: ground-truth mask .* not found"):
        load_dataset(str(tmp_path), "anomaly")


def test_inspect_cityscapes_and_mvtec_report_wrong_size_masks(tmp_path):
    city = tmp_path / "city"
    for split in ("train", "val"):
        stem = f"ulm_{split}_000019"
        save(city / "leftImg8bit" / split / "ulm" / f"{stem}_leftImg8bit.png", rgb(0, 8, 16))
        save(
            city / "gtFine" / split / "ulm" / f"{stem}_gtFine_labelIds.png",
            np.zeros((8, 8), np.uint8),
        )
    rep = inspect(city)
    assert rep["format"] == "cityscapes" and rep["splits"] == {"train": 1, "val": 1}
    assert len(rep["problems"]) == 2 and "mask is 8x8 but should be 16x8" in rep["problems"][0]
    mv = tmp_path / "mv"
    for c in ("cable", "wood"):
        save(mv / c / "train" / "good" / "000.png", rgb(1, 8, 8))
        save(mv / c / "test" / "cut" / "000.png", rgb(2, 8, 8))
        save(mv / c / "ground_truth" / "cut" / "000_mask.png", np.zeros((8, 8), np.uint8))
    rep = inspect(mv)
    assert rep["splits"] == {"cable/train": 1, "cable/test": 1, "wood/train": 1, "wood/test": 1}
    assert rep["problems"] == []
