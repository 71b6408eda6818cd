"""CIFAR-10.1 (Recht et al. 2018): 2,000 new test images for CIFAR-10 classifiers, released as
numpy arrays `cifar10.1_v{4,6}_data.npy` (N x 32 x 32 x 3 uint8) and `..._labels.npy` in
CIFAR-10's class order. An evaluation set: every image is test; there is nothing to train on.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError
from ..registry import DataBundle, DataInfo, register_dataset
from ..tensors import TensorSet
from .cifar import CIFAR10_CLASSES

DATA = re.compile(r"^cifar10\.1_(?P<version>v\d+)_data\.npy$")


def find_arrays(root: Path, version: str | None = None) -> tuple[Path, Path]:
    """The data/labels pair under `root` (the newest version unless one is named)."""
    found = {m["version"]: p for p in sorted(root.glob("*.npy")) if (m := DATA.match(p.name))}
    if not found:
        raise DataError(f"{root}: no cifar10.1_v<N>_data.npy (CIFAR-10.1 layout)")
    v = version or max(found, key=lambda s: int(s[1:]))
    if v not in found:
        raise DataError(f"{root}: no cifar10.1_{v}_data.npy; versions present: {sorted(found)}")
    labels = root / f"cifar10.1_{v}_labels.npy"
    if not labels.is_file():
        raise DataError(f"{labels}: labels file missing beside {found[v].name}")
    return found[v], labels


def _load(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)  # plain arrays only: nothing in it runs
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: unreadable numpy array ({e})") from None


@register_dataset(
    "cifar10.1",
    tasks=("classification",),
    format="cifar10.1_v{4,6}_data.npy (N x 32 x 32 x 3 uint8) + cifar10.1_v{4,6}_labels.npy",
    description="CIFAR-10.1: 2,000 new test images in CIFAR-10's classes (evaluation only)",
    citation="Recht et al. 2018, Do CIFAR-10 classifiers generalize to CIFAR-10?",
    how_to_point="visionbench eval RUN --data cifar10.1:DIR (DIR/cifar10.1_v6_data.npy); "
    "--data-option version=v4",
    all_test=True,
)
def load_cifar101(
    task: str, root: Path, split_seed: int = 0, version: str | None = None, **_
) -> DataBundle:
    data_path, label_path = find_arrays(Path(root), version)
    x, y = _load(data_path), _load(label_path)
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DataError(f"{data_path}: expected N x 32 x 32 x 3 uint8, got {x.shape} {x.dtype}")
    if y.shape != (x.shape[0],) or y.min() < 0 or y.max() >= len(CIFAR10_CLASSES):
        raise DataError(f"{label_path}: expected {x.shape[0]} labels in 0..9")
    images = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    test = TensorSet(images, torch.from_numpy(y.astype(np.int64)))
    empty = TensorSet(images[:0], test.labels[:0])
    info = DataInfo(
        name="cifar10.1",
        task=task,
        in_chans=3,
        img_size=32,
        num_classes=10,
        class_names=list(CIFAR10_CLASSES),
        sizes={"train": 0, "val": 0, "test": len(test)},
        split=f"evaluation set: all {len(test)} images are test ({data_path.name})",
        scale="small",
    )
    return DataBundle(info, empty, empty, test)
