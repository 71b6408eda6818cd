"""Decode the CIFAR-10 JPEG tar once into CIFAR's own python batches, so runs load it in a second.

The shared copy is a tar of class folders (train/<class>/NNNN.jpg, test/<class>/NNNN.jpg).
Decoding 60,000 JPEGs for every run would cost more than the GPU recipe trains, so this writes
the uint8 pixels once as `cifar-10-batches-py/` (data_batch_1..5, test_batch, batches.meta),
which `visionbench train --data cifar10:DIR` reads through its restricted unpickler.

    python benchmarks/cifar10_cache.py /work/shared/data/cifar10/cifar10-jpg.tar.gz .data/cifar10
    python benchmarks/cifar10_cache.py TAR OUT --per-class 20   # a tiny subset for CPU checks
"""

from __future__ import annotations

import argparse
import io
import pickle
import sys
import tarfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image


def decode_tar(tar_path: Path, per_class: int | None) -> dict[str, dict[str, list[np.ndarray]]]:
    """{split: {class: [HxWx3 uint8, ...]}} in file-name order, at most `per_class` each."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    names: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    with tarfile.open(tar_path, "r:*") as tar:
        for m in tar:
            parts = Path(m.name).parts
            if not m.isfile() or len(parts) < 3 or parts[-3] not in ("train", "test"):
                continue
            split, cls = parts[-3], parts[-2]
            if per_class is not None and len(out[split][cls]) >= per_class:
                continue
            f = tar.extractfile(m)
            with Image.open(io.BytesIO(f.read())) as im:
                a = np.asarray(im.convert("RGB"), dtype=np.uint8)
            if a.shape != (32, 32, 3):
                raise SystemExit(f"{m.name}: expected a 32x32 RGB image, found {a.shape}")
            out[split][cls].append(a)
            names[split][cls].append(parts[-1])
    for split in out:  # tar order is arbitrary: sort each class by file name
        for cls in out[split]:
            order = np.argsort(names[split][cls])
            out[split][cls] = [out[split][cls][i] for i in order]
    return out


def write_batches(decoded, out_dir: Path) -> dict[str, int]:
    classes = sorted(decoded["train"])
    if sorted(decoded.get("test", {})) != classes:
        raise SystemExit("train/ and test/ hold different class folders")
    d = out_dir / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    counts = {}
    rng = np.random.default_rng(0)  # CIFAR's batches are shuffled; so are these
    for split in ("train", "test"):
        x = np.concatenate([np.stack(decoded[split][c]) for c in classes])
        y = np.concatenate([np.full(len(decoded[split][c]), i) for i, c in enumerate(classes)])
        order = rng.permutation(len(y))
        x = x[order].transpose(0, 3, 1, 2).reshape(len(y), 3072)  # CIFAR's row layout
        y = y[order]
        counts[split] = len(y)
        chunks = np.array_split(np.arange(len(y)), 5) if split == "train" else [np.arange(len(y))]
        files = [f"data_batch_{i + 1}" for i in range(5)] if split == "train" else ["test_batch"]
        for name, idx in zip(files, chunks):
            batch = {"data": np.ascontiguousarray(x[idx]), "labels": [int(v) for v in y[idx]]}
            (d / name).write_bytes(pickle.dumps(batch, protocol=4))
    (d / "batches.meta").write_bytes(pickle.dumps({"label_names": classes}, protocol=4))
    return counts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tar", type=Path, help="cifar10-jpg.tar.gz")
    p.add_argument("out", type=Path, help="folder to write cifar-10-batches-py/ into")
    p.add_argument("--per-class", type=int, help="keep only the first N images per class")
    args = p.parse_args(argv)
    if not args.tar.is_file():
        print(f"cifar10_cache: no such file: {args.tar}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    counts = write_batches(decode_tar(args.tar, args.per_class), args.out)
    print(
        f"wrote {args.out / 'cifar-10-batches-py'}: {counts['train']} train, {counts['test']} "
        f"test images in {time.perf_counter() - t0:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
