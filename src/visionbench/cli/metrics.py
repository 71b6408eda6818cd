"""visionbench metrics coco|image|seg: the review's metrics on files any tool produced."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import VisionbenchError
from .common import at_least, console, print_json, print_table

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def cmd_coco(args: argparse.Namespace) -> int:
    from ..metrics.detection import COCO_LABELS, coco_evaluate

    stats = coco_evaluate(args.gt, args.dt, args.iou_type)
    if args.json:
        print_json(stats)
        return 0
    rows = [
        {"metric": name, "setting": label, "value": value}
        for (name, value), label in zip(stats.items(), COCO_LABELS)
    ]
    print_table(rows, ["metric", "setting", "value"], title=f"COCO {args.iou_type} (-1: undefined)")
    return 0


def _pairs(ref: Path, test: Path, what: str) -> list[tuple[Path, Path]]:
    """(ref, test) file pairs: two files, or two folders matched by file stem."""
    for p in (ref, test):
        if not p.exists():
            raise VisionbenchError(f"{what} not found: {p}")
    if ref.is_file() and test.is_file():
        return [(ref, test)]
    if not (ref.is_dir() and test.is_dir()):
        raise VisionbenchError(f"give two files or two folders, got {ref} and {test}")
    refs = sorted(p for p in ref.iterdir() if p.suffix.lower() in IMAGE_EXTS)
    if not refs:
        raise VisionbenchError(f"no images in {ref}")
    tests = {p.stem: p for p in test.iterdir() if p.suffix.lower() in IMAGE_EXTS}
    missing = [p.name for p in refs if p.stem not in tests]
    if missing:
        raise VisionbenchError(
            f"{len(missing)} image(s) of {ref} have no same-named file in {test}, e.g. {missing[0]}"
        )
    return [(p, tests[p.stem]) for p in refs]


def _read(path: Path, mode: str | None = None):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if mode:
                im = im.convert(mode)
            return np.array(im)
    except (UnidentifiedImageError, OSError) as e:
        raise VisionbenchError(f"cannot read image {path}: {e}") from None


def cmd_image(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..metrics.image import crop_border, psnr, rgb_to_y, ssim

    rows = []
    for ref_path, test_path in _pairs(Path(args.ref), Path(args.test), "image"):
        ref = _read(ref_path)
        mode = "L" if ref.ndim == 2 else "RGB"
        ref, test = _read(ref_path, mode), _read(test_path, mode)
        if ref.shape != test.shape:
            raise VisionbenchError(
                f"{test_path} is {test.shape[1]}x{test.shape[0]}, "
                f"its reference {ref_path} is {ref.shape[1]}x{ref.shape[0]}"
            )

        def chw(a):
            t = torch.from_numpy(a.astype(np.float64) / 255.0)
            return (t[None] if t.ndim == 2 else t.permute(2, 0, 1))[None]

        x, y = chw(test), chw(ref)
        if args.y_channel and x.shape[1] == 3:
            x, y = rgb_to_y(x), rgb_to_y(y)
        x, y = crop_border(x, args.crop), crop_border(y, args.crop)
        try:
            s = float(ssim(x, y)[0])
        except ValueError as e:
            raise VisionbenchError(f"{ref_path}: {e}") from None
        rows.append({"image": ref_path.name, "psnr": float(psnr(x, y)[0]), "ssim": s})
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr", "ssim")}
    space = "Y (BT.601)" if args.y_channel else "RGB/gray"
    if args.json:
        print_json({"images": rows, "mean": mean, "channel": space, "crop": args.crop})
        return 0
    if len(rows) > 1:
        rows.append({"image": f"mean of {len(rows)} images", **mean})
    print_table(
        rows,
        ["image", "psnr", "ssim"],
        title=f"PSNR (dB) and SSIM per image on {space}, data range 255, border crop {args.crop}",
    )
    return 0


def cmd_seg(args: argparse.Namespace) -> int:
    from ..metrics.segmentation import SegConfusion

    acc = SegConfusion(args.num_classes, args.ignore_index)
    pairs = _pairs(Path(args.gt), Path(args.pred), "label map")
    for gt_path, pred_path in pairs:
        gt, pred = _read(gt_path), _read(pred_path)
        for p, a in ((gt_path, gt), (pred_path, pred)):
            if a.ndim != 2:
                raise VisionbenchError(f"{p} is not a single-channel label map (shape {a.shape})")
        if gt.shape != pred.shape:
            raise VisionbenchError(f"{pred_path} is {pred.shape}, its ground truth {gt.shape}")
        try:
            acc.update(pred, gt)
        except VisionbenchError as e:
            raise VisionbenchError(f"{gt_path.name}: {e}") from None
    out = acc.compute()
    if args.json:
        print_json({**out, "images": len(pairs), "ignore_index": args.ignore_index})
        return 0
    rows = [
        {"class": str(c), "iou": v, "accuracy": a}
        for c, (v, a) in enumerate(zip(out["per_class_iou"], out["per_class_accuracy"]))
    ]
    print_table(rows, ["class", "iou", "accuracy"], title=f"per-class IoU ({len(pairs)} maps)")
    console.print(
        f"mIoU {out['miou']:.4f}  pixel accuracy {out['pixel_accuracy']:.4f}  "
        f"mean class accuracy {out['mean_class_accuracy']:.4f}  "
        f"(ignore index {args.ignore_index}; nan: class absent, excluded from means)"
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "metrics",
        help="compute COCO mAP, PSNR/SSIM or mIoU on files from any tool",
        description="The review's metrics on result files, with the reference settings "
        "(see: visionbench list metrics).",
    )
    msub = p.add_subparsers(dest="metrics_command", metavar="KIND", required=True)

    c = msub.add_parser(
        "coco",
        help="the twelve COCO AP/AR numbers (faster-coco-eval, identical to pycocotools)",
        epilog="Example: visionbench metrics coco --gt instances_val.json --dt detections.json",
    )
    c.add_argument("--gt", required=True, help="COCO ground-truth JSON (images, annotations)")
    c.add_argument("--dt", required=True, help="COCO results JSON (list of detections)")
    c.add_argument("--iou-type", choices=["bbox", "segm"], default="bbox")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=cmd_coco)

    i = msub.add_parser(
        "image",
        help="PSNR and SSIM of two images or two folders of same-named images",
        description="PSNR per image then averaged; SSIM with Wang et al.'s settings "
        "(11-tap Gaussian, sigma 1.5, K1 0.01, K2 0.03).",
    )
    i.add_argument("--ref", required=True, help="reference image or folder (ground truth)")
    i.add_argument("--test", required=True, help="image or folder to score")
    i.add_argument("--y-channel", action="store_true", help="score the BT.601 luma (SR papers)")
    i.add_argument(
        "--crop", type=at_least(0), default=0, metavar="N", help="crop N border pixels (SR scale)"
    )
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_image)

    s = msub.add_parser(
        "seg", help="mIoU, per-class IoU and pixel accuracy of folders of label maps"
    )
    s.add_argument("--gt", required=True, help="folder (or file) of ground-truth label PNGs")
    s.add_argument("--pred", required=True, help="folder (or file) of predicted label PNGs")
    s.add_argument("--num-classes", type=at_least(1), required=True)
    s.add_argument("--ignore-index", type=int, default=255)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_seg)
