"""The CPU detectors on real COCO images: COCO128 through the COCO reader, box/mask mAP beside
the class-prior baseline.

COCO128 is one annotation file; this writes a seeded 100/28 split of it as two instances files
(train, val) in a scratch folder whose `images/` links to the originals, so the reader sees an
official train/val split: val becomes the test split (28 images) and 10% of train is carved out
for validation. Expect low numbers from scratch on 100 images: the point is that real sizes,
clutter, polygons/RLE and crowd regions flow end to end.

    python benchmarks/detection_coco128.py ../shared/data/coco128 --epochs 10
    python benchmarks/detection_coco128.py DIR --models yolo_nano,mask_rcnn_tiny --max-size 320
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import visionbench as vb

MODELS = ("yolo_nano", "fcos_tiny", "faster_rcnn_tiny", "mask_rcnn_tiny")


def split_coco(src: Path, dest: Path, n_test: int = 28, seed: int = 0) -> Path:
    ann = json.loads((src / "annotations" / "instances_train2017.json").read_text())
    ids = sorted(im["id"] for im in ann["images"])
    test = set(np.random.default_rng(seed).permutation(ids)[:n_test].tolist())
    (dest / "annotations").mkdir(parents=True, exist_ok=True)
    for name, keep in (("train", lambda i: i not in test), ("val", lambda i: i in test)):
        part = {
            **ann,
            "images": [im for im in ann["images"] if keep(im["id"])],
            "annotations": [a for a in ann["annotations"] if keep(a["image_id"])],
        }
        (dest / "annotations" / f"instances_{name}.json").write_text(json.dumps(part))
    (dest / "images").symlink_to((src / "images" / "train2017").resolve())
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the coco128 folder")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-size", type=int, default=320, help="longer image side the models see")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/coco128")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = split_coco(args.root, Path(tmp))
        for model in args.models.split(","):
            task = "instance_segmentation" if model.startswith("mask") else "detection"
            t0 = time.time()
            res = vb.train(
                task=task,
                model=model,
                data=f"coco:{data}",
                out=args.out,
                quiet=True,
                epochs=args.epochs,
                batch_size=args.batch_size,
                device=args.device,
                model_kwargs={"max_size": args.max_size},
            )
            m = res.metrics
            rows.append((model, task, m, time.time() - t0))
    print(
        "| model | task | box mAP | prior box mAP | box AP50 | mask mAP | prior mask mAP | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for model, task, m, wall in rows:

        def f(k: str, m: dict = m) -> str:
            return "–" if m.get(k) is None else f"{m[k]:.4f}"

        print(
            f"| {model} | {task} | {f('map')} | {f('prior_map')} | {f('map_50')} | "
            f"{f('mask_map')} | {f('prior_mask_map')} | {wall:.0f} |"
        )


if __name__ == "__main__":
    main()
