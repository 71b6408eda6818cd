"""Input pipeline at real scale: a folder of JPEGs in the Tiny ImageNet layout, streamed from disk.

Three measurements, each printed as a table row:

1. decoders: Pillow (what visionbench's readers use) against torchvision.io.decode_jpeg, both
   from the file to a float [C,H,W] tensor in [0,1], on the same files, alternating rounds;
2. the training input pipeline, images/s over one pass of the training split: visionbench's
   (the tiny-imagenet reader's ImageFileSet through engine.batches.TrainBatches, the classification
   augmentation `flip_crop` on each batch) against a hand-written torchvision one doing the same
   work (torchvision.datasets.ImageFolder over the same files with the same decoder,
   torchvision.io by default or Pillow + ToTensor with --hand-decoder pillow, a DataLoader with the
   same batch size and workers, the same augmentation function). The model
   step is left out on both sides: it is the same code, so this is where the two can differ;
3. peak resident memory of this process and of its DataLoader workers (ru_maxrss).

    python benchmarks/pipeline.py --make /tmp/tiny --per-class 50   # writes 200 x 50 JPEGs
    python benchmarks/pipeline.py --data /tmp/tiny --workers 2 --batch 128

The JPEGs `--make` writes are 64x64 crops of scikit-image's sample photos (quality 90), so their
content and compressed size are those of real photographs, not noise.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch


def make_tiny(root: Path, per_class: int, classes: int = 200, val_per_class: int = 5) -> None:
    """A Tiny ImageNet layout: train/<wnid>/images/*.JPEG, val/images + val_annotations.txt."""
    from PIL import Image
    from skimage import data as skdata

    photos = [
        np.asarray(getattr(skdata, n)())
        for n in (
            "astronaut",
            "chelsea",
            "coffee",
            "rocket",
            "hubble_deep_field",
            "immunohistochemistry",
        )
    ]
    rng = np.random.default_rng(0)
    wnids = [f"n{10000000 + i:08d}" for i in range(classes)]
    (root / "val" / "images").mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    lines = []

    def crop() -> Image.Image:
        p = photos[rng.integers(len(photos))]
        s = int(rng.integers(64, min(p.shape[:2])))
        y, x = rng.integers(0, p.shape[0] - s + 1), rng.integers(0, p.shape[1] - s + 1)
        return Image.fromarray(p[y : y + s, x : x + s]).resize((64, 64), Image.BICUBIC)

    for w in wnids:
        folder = root / "train" / w / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            crop().save(folder / f"{w}_{i}.JPEG", quality=90)
        for i in range(val_per_class):
            name = f"val_{w}_{i}.JPEG"
            crop().save(root / "val" / "images" / name, quality=90)
            lines.append(f"{name}\t{w}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")


def decode_pil(path: Path) -> torch.Tensor:
    from visionbench.data.formats.common import open_image, to_tensor

    return to_tensor(open_image(path, "RGB"))


def decode_tvio(path: Path) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    return decode_jpeg(read_file(str(path)), mode=ImageReadMode.RGB).float().div_(255.0)


def time_decoders(paths: list[Path], rounds: int) -> dict[str, float]:
    """Images/s of each decoder, best round of `rounds`, the order alternating."""
    best = {"pillow": 0.0, "torchvision.io": 0.0}
    fns = {"pillow": decode_pil, "torchvision.io": decode_tvio}
    a = decode_pil(paths[0])
    b = decode_tvio(paths[0])
    agree = float((a - b).abs().max())
    for r in range(rounds):
        for name in list(fns) if r % 2 == 0 else list(fns)[::-1]:
            t0 = time.perf_counter()
            for p in paths:
                fns[name](p)
            best[name] = max(best[name], len(paths) / (time.perf_counter() - t0))
    best["max_abs_diff"] = agree
    return best


def visionbench_pass(root: Path, batch: int, workers: int, limit: int) -> tuple[float, int]:
    from visionbench.data.registry import load_dataset
    from visionbench.engine.batches import TrainBatches
    from visionbench.tasks import augment

    bundle = load_dataset(f"tiny-imagenet:{root}", "classification", preload=False)
    train = bundle.train
    if limit:
        train = torch.utils.data.Subset(train, range(min(limit, len(train))))
    batches = TrainBatches(train, batch, device=torch.device("cpu"), workers=workers)
    g = torch.Generator().manual_seed(0)
    n, t0 = 0, time.perf_counter()
    for x, _y in batches.epoch(g):
        x = augment.apply("flip_crop", x, g)
        n += x.shape[0]
    return n / (time.perf_counter() - t0), n


def handwritten_pass(
    root: Path, batch: int, workers: int, limit: int, decoder: str = "torchvision.io"
) -> tuple[float, int]:
    from torchvision import datasets, transforms

    from visionbench.tasks import augment

    if decoder == "pillow":
        ds = datasets.ImageFolder(str(root / "train"), transform=transforms.ToTensor())
    else:
        ds = datasets.ImageFolder(str(root / "train"), loader=decode_tvio)
    if limit:
        ds = torch.utils.data.Subset(ds, range(min(limit, len(ds))))
    g = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(
        ds, batch_size=batch, shuffle=True, drop_last=True, num_workers=workers, generator=g
    )
    n, t0 = 0, time.perf_counter()
    for x, _y in loader:
        x = augment.apply("flip_crop", x, g)
        n += x.shape[0]
    return n / (time.perf_counter() - t0), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--make", type=Path, help="write a Tiny ImageNet-layout folder here and stop")
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--data", type=Path, help="a Tiny ImageNet-layout folder")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--decode-images", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--hand-decoder",
        choices=("torchvision.io", "pillow"),
        default="torchvision.io",
        help="the hand-written side's decoder (default: the one visionbench uses for RGB JPEGs)",
    )
    args = ap.parse_args()
    if args.make:
        make_tiny(args.make, args.per_class)
        print(f"wrote {args.make}")
        return
    if not args.data:
        ap.error("--data DIR (or --make DIR first)")
    torch.set_num_threads(1)
    paths = sorted((args.data / "train").rglob("*.JPEG"))[: args.decode_images]
    dec = time_decoders(paths, args.rounds)
    print("| decoder | images/s (best of rounds) |")
    print("|---|---|")
    for k in ("pillow", "torchvision.io"):
        print(f"| {k} | {dec[k]:.0f} |")
    print(f"max abs pixel difference between the two: {dec['max_abs_diff'] * 255:.1f} / 255")
    rows = []
    for r in range(args.rounds):
        sides = [
            ("visionbench", visionbench_pass),
            ("hand-written", lambda *a: handwritten_pass(*a, decoder=args.hand_decoder)),
        ]
        for name, fn in sides if r % 2 == 0 else sides[::-1]:
            rate, n = fn(args.data, args.batch, args.workers, args.limit)
            rows.append((r, name, rate, n))
    vb = sorted(x[2] for x in rows if x[1] == "visionbench")
    hw = sorted(x[2] for x in rows if x[1] == "hand-written")
    mid = len(vb) // 2
    print("\n| pipeline | images/s (median of rounds) | images per pass |")
    print("|---|---|---|")
    print(f"| visionbench (TrainBatches + flip_crop) | {vb[mid]:.0f} | {rows[0][3]} |")
    hand = f"hand-written (ImageFolder, {args.hand_decoder}, DataLoader, flip_crop)"
    print(f"| {hand} | {hw[mid]:.0f} | |")
    print(f"ratio visionbench / hand-written: {vb[mid] / hw[mid]:.3f}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS: this process {own:.0f} MiB, largest worker {kids:.0f} MiB")


if __name__ == "__main__":
    main()
