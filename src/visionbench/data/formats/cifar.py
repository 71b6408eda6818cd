"""CIFAR-10 and CIFAR-100: the python pickle batches (read safely) or class folders of images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from . import safe_pickle
from .common import split_tensors, tensor_bundle
from .imagefolder import load_folders

CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
LAYOUT = {
    "cifar10": {
        "dir": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": ("batches.meta", "label_names"),
        "labels": "labels",
    },
    "cifar100": {
        "dir": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": ("meta", "fine_label_names"),
        "labels": "fine_labels",
    },
}


def batch_dir(root: Path, name: str) -> Path | None:
    """The folder holding the pickled batches: root itself or its cifar-*-python subfolder."""
    lay = LAYOUT[name]
    for d in (root, root / lay["dir"]):
        if (d / lay["test"][0]).is_file() and (d / lay["meta"][0]).is_file():
            return d
    return None


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch -> uint8 images [N,3,32,32] and int64 labels [N]."""
    try:
        d = safe_pickle.text_keys(safe_pickle.load(path))
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d[label_key], dtype=np.int64)
    except DataError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: not a CIFAR batch ({type(e).__name__}: {e})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(
            f"{path}: expected data [N,3072] and N labels, found {data.shape} and {len(labels)}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_meta(path: Path, key: str) -> list[str]:
    try:
        names = safe_pickle.text_keys(safe_pickle.load(path))[key]
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    except (KeyError, TypeError) as e:
        raise DataError(f"{path}: no '{key}' list in the CIFAR meta file ({e})") from None


def read_pickles(d: Path, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    lay = LAYOUT[name]
    out = {}
    for split in ("train", "test"):
        parts = []
        for f in lay[split]:
            if not (d / f).is_file():
                raise DataError(f"{d / f}: CIFAR batch file not found")
            parts.append(read_batch(d / f, lay["labels"]))
        out[split] = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return out


def load_cifar(name: str, task: str, root: Path, split_seed: int = 0, **options) -> DataBundle:
    d = batch_dir(root, name)
    if d is None:  # the class-folder image layout
        return load_folders(name, task, root, split_seed, **options)
    lay = LAYOUT[name]
    classes = read_meta(d / lay["meta"][0], lay["meta"][1])
    arrays = read_pickles(d, name)
    for split, (_, y) in arrays.items():
        if len(y) and (y.min() < 0 or y.max() >= len(classes)):
            raise DataError(f"{d}: {split} labels outside 0..{len(classes) - 1}")
    n = len(arrays["train"][1])
    x = torch.from_numpy(np.concatenate([arrays["train"][0], arrays["test"][0]])).float() / 255
    y = torch.from_numpy(np.concatenate([arrays["train"][1], arrays["test"][1]]))
    parts, how = split_tensors(x, y, {"train": slice(0, n), "test": slice(n, None)}, split_seed)
    return tensor_bundle(name, task, parts, classes, how)


def _register(name: str, description: str) -> None:
    @register_dataset(
        name,
        tasks=("classification", "generation"),
        format="python pickle batches (cifar-*-python) or class folders train|test/<class>/*",
        description=description,
        license="MIT-style (Krizhevsky 2009)",
        citation="Krizhevsky 2009, Learning multiple layers of features from tiny images",
        how_to_point=f"--data {name}:DIR (DIR/{LAYOUT[name]['dir']}/ or DIR/train/<class>/*.png)",
    )
    def loader(task: str, root: Path, split_seed: int = 0, **options) -> DataBundle:
        return load_cifar(name, task, root, split_seed, **options)


_register("cifar10", "60,000 32x32 colour images, 10 classes; official 50k/10k split")
_register("cifar100", "60,000 32x32 colour images, 100 fine classes; official 50k/10k split")
