"""MNIST and Fashion-MNIST: the four IDX files, gzipped or raw (LeCun's format)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .common import split_tensors

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CLASSES = {
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ],
}
DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find(root: Path, stem: str) -> Path | None:
    """The IDX file `stem`, raw or .gz, in root or its `raw/` folder (torchvision's layout)."""
    for folder in (root, root / "raw", root / "MNIST" / "raw", root / "FashionMNIST" / "raw"):
        for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
            if (folder / name).is_file():
                return folder / name
    return None


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file: magic (0, 0, dtype, ndim), big-endian int32 dims, then the data."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DataError(f"{path}: unreadable IDX file ({e})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">i4", ndim, 4))
    dtype = np.dtype(DTYPES[data[2]])
    need = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != need:
        raise DataError(
            f"{path}: IDX header declares shape {shape} ({need} bytes) but the file holds "
            f"{len(data) - header} bytes (truncated or corrupt)"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def read_split(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, tuple[Path, Path]]:
    img_stem, lab_stem = FILES[split]
    ip, lp = find(root, img_stem), find(root, lab_stem)
    for p, stem in ((ip, img_stem), (lp, lab_stem)):
        if p is None:
            raise DataError(f"{root}: IDX file {stem}(.gz) not found")
    images, labels = read_idx(ip), read_idx(lp)
    if images.ndim != 3:
        raise DataError(f"{ip}: expected images [N,H,W], found shape {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{lp}: {len(labels)} labels for {len(images)} images in {ip.name}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{lp}: labels must be 0..9, found {labels.min()}..{labels.max()}")
    return images, labels.astype(np.int64), (ip, lp)


def guess_variant(root: Path) -> str:
    """MNIST and Fashion-MNIST share file names: the folder name, else the mean brightness."""
    text = str(root.resolve()).lower()
    if "fashion" in text:
        return "fashion-mnist"
    if "mnist" in text:
        return "mnist"
    images, _, _ = read_split(root, "test")
    return "fashion-mnist" if images[:1000].mean() > 50 else "mnist"  # 33 vs 73 of 255


def load_idx(name: str, task: str, root: Path, split_seed: int = 0, **_) -> DataBundle:
    from .common import tensor_bundle

    arrays = {s: read_split(root, s)[:2] for s in ("train", "test")}
    x = torch.from_numpy(np.concatenate([arrays["train"][0], arrays["test"][0]]))
    x = x[:, None].float().div_(255.0)
    y = torch.from_numpy(np.concatenate([arrays["train"][1], arrays["test"][1]]))
    n = len(arrays["train"][0])
    parts, how = split_tensors(x, y, {"train": slice(0, n), "test": slice(n, None)}, split_seed)
    return tensor_bundle(name, task, parts, CLASSES[name], how)


def _register(name: str, description: str, citation: str) -> None:
    @register_dataset(
        name,
        tasks=("classification", "generation"),
        format="IDX (train/t10k-images-idx3-ubyte[.gz], *-labels-idx1-ubyte[.gz])",
        description=description,
        license="CC BY-SA 3.0" if name == "mnist" else "MIT",
        citation=citation,
        how_to_point=f"--data {name}:DIR (the folder holding the four IDX files)",
    )
    def loader(task: str, root: Path, split_seed: int = 0, **options) -> DataBundle:
        return load_idx(name, task, root, split_seed, **options)


_register(
    "mnist",
    "70,000 28x28 handwritten digits, 10 classes; official 60k/10k split",
    "LeCun et al. 1998, Gradient-based learning applied to document recognition",
)
_register(
    "fashion-mnist",
    "70,000 28x28 gray clothing images, 10 classes; official 60k/10k split",
    "Xiao et al. 2017, Fashion-MNIST",
)
