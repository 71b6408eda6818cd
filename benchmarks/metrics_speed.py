"""Metric speed against the reference implementations, on the same seeded data in one run.

COCO box evaluation of 5,000 images x 80 categories (~7 ground-truth boxes and 100 detections
per image): visionbench (faster-coco-eval) against pycocotools, with the ratio and the largest
difference over the twelve numbers. mIoU of 100 512x512 label maps against scikit-learn's
confusion matrix. SSIM of 200 256x256 pairs against scikit-image. Prints a Markdown table.

    nice -n 10 .venv/bin/python benchmarks/metrics_speed.py [--images 5000]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import platform
import time

import numpy as np
import torch


def coco_problem(n_images: int, n_cats: int = 80, seed: int = 0) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for img_id in range(1, n_images + 1):
        images.append({"id": img_id, "height": 480, "width": 640})
        n = int(rng.poisson(7))
        xy = rng.uniform(0, 500, (n, 2))
        wh = rng.lognormal(3.5, 1.0, (n, 2)).clip(2, 400)
        cats = rng.integers(1, n_cats + 1, n)
        for j in range(n):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": img_id,
                    "category_id": int(cats[j]),
                    "bbox": [*xy[j].tolist(), *wh[j].tolist()],
                    "area": float(wh[j].prod()),
                    "iscrowd": int(rng.random() < 0.02),
                }
            )
        m = 100
        src = rng.integers(0, max(n, 1), m)
        near = rng.random(m) < 0.5
        for j in range(m):
            if n and near[j]:
                x, y = xy[src[j]] + rng.normal(0, 4, 2)
                w, h = wh[src[j]] * rng.uniform(0.8, 1.2, 2)
                cat = int(cats[src[j]]) if rng.random() < 0.9 else int(rng.integers(1, n_cats + 1))
            else:
                x, y = rng.uniform(0, 500, 2)
                w, h = rng.lognormal(3.5, 1.0, 2).clip(2, 400)
                cat = int(rng.integers(1, n_cats + 1))
            dets.append(
                {
                    "image_id": img_id,
                    "category_id": cat,
                    "bbox": [float(x), float(y), float(w), float(h)],
                    "score": float(rng.random()),
                }
            )
    cats = [{"id": c, "name": str(c)} for c in range(1, n_cats + 1)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def pycocotools_stats(gt: dict, dets: list) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats)


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    args = ap.parse_args()
    from skimage.metrics import structural_similarity
    from sklearn.metrics import confusion_matrix

    from visionbench.metrics.detection import coco_evaluate
    from visionbench.metrics.image import ssim
    from visionbench.metrics.segmentation import seg_confusion, seg_scores

    rows = []
    gt, dets = coco_problem(args.images)
    n_ann = len(gt["annotations"])
    ref, t_ref = timed(pycocotools_stats, copy.deepcopy(gt), copy.deepcopy(dets))
    ours, t_ours = timed(coco_evaluate, gt, dets, "bbox")
    diff = float(np.abs(np.array(list(ours.values())) - ref).max())
    rows.append(
        (
            f"COCO bbox, {args.images} images x 80 cats, {n_ann} GT, {len(dets)} dets",
            "pycocotools 2.0",
            t_ref,
            t_ours,
            f"max abs diff of 12 numbers {diff:.1e} (mAP {ours['map']:.4f})",
        )
    )

    rng = np.random.default_rng(1)
    target = rng.integers(0, 21, (100, 512, 512))
    target[rng.random(target.shape) < 0.05] = 255
    pred = np.where(rng.random(target.shape) < 0.7, target, rng.integers(0, 21, target.shape))
    pred[pred == 255] = 0
    keep = target != 255
    ref_cm, t_ref = timed(confusion_matrix, target[keep], pred[keep], labels=list(range(21)))

    def ours_seg():
        cm = sum(
            seg_confusion(torch.from_numpy(p), torch.from_numpy(t), 21)
            for p, t in zip(pred, target)
        )
        return cm, seg_scores(cm)

    (cm, _), t_ours = timed(ours_seg)
    same = bool((cm.numpy() == ref_cm).all())
    rows.append(
        (
            "mIoU confusion, 100 maps 512x512, 21 classes, 5% ignored",
            "sklearn confusion_matrix",
            t_ref,
            t_ours,
            f"confusion matrices identical: {same}",
        )
    )

    x = rng.random((200, 256, 256))
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    ref_s, t_ref = timed(
        lambda: np.array([structural_similarity(a, b, **kw) for a, b in zip(x, y)])
    )
    ours_s, t_ours = timed(
        lambda: ssim(torch.from_numpy(y)[:, None], torch.from_numpy(x)[:, None]).numpy()
    )
    rows.append(
        (
            "SSIM, 200 pairs 256x256 gray",
            "skimage structural_similarity",
            t_ref,
            t_ours,
            f"max abs diff per image {np.abs(ref_s - ours_s).max():.1e}",
        )
    )

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}"
    )
    print("| metric | reference | reference s | visionbench s | speed-up | agreement |")
    print("|---|---|---|---|---|---|")
    for name, refname, tr, to, agree in rows:
        print(f"| {name} | {refname} | {tr:.2f} | {to:.2f} | {tr / to:.1f}x | {agree} |")


if __name__ == "__main__":
    main()
