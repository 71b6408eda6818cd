"""The published corrupted test sets of Hendrycks & Dietterich (ICLR 2019), read from disk.

- CIFAR-10-C / CIFAR-100-C: one `<corruption>.npy` per corruption, uint8 [5 x 10000, 32, 32, 3]
  (severities 1..5 stacked in order), and one `labels.npy`.
- ImageNet-C / Tiny-ImageNet-C: folders `<corruption>/<severity>/<class>/<image>`, class folders
  named by WordNet id in the same order as the clean set's.

`open_corrupted("cifar10-c:PATH")` gives a `CorruptedSet` that lists its corruptions and loads
one (corruption, severity) at a time as float images [N,C,H,W] in [0,1] with labels.
`np.load` runs with allow_pickle=False: a .npy file cannot run code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import DataError

KINDS = ("cifar10-c", "cifar100-c", "imagenet-c", "tiny-imagenet-c")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


@dataclass
class CorruptedSet:
    kind: str
    root: Path

    @property
    def is_npy(self) -> bool:
        return self.kind in ("cifar10-c", "cifar100-c")

    def corruptions(self) -> list[str]:
        if self.is_npy:
            return sorted(p.stem for p in self.root.glob("*.npy") if p.stem != "labels")
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _severity_dirs(p))

    def severities(self, corruption: str) -> list[int]:
        if self.is_npy:
            return [1, 2, 3, 4, 5]
        return _severity_dirs(self._folder(corruption))

    def load(
        self, corruption: str, severity: int, max_images: int | None = None, seed: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(images [N,C,H,W] float in [0,1], labels [N]); a seeded subset above max_images."""
        if self.is_npy:
            return _load_npy(self.root, corruption, severity, max_images, seed)
        return _load_folders(self._folder(corruption) / str(severity), max_images, seed)

    def _folder(self, corruption: str) -> Path:
        folder = (self.root / corruption).resolve()
        if folder.parent != self.root.resolve() or not folder.is_dir():
            raise DataError(f"{self.kind}: no corruption folder '{corruption}' in {self.root}")
        return folder


def open_corrupted(spec: str) -> CorruptedSet:
    """'cifar10-c:PATH' (or cifar100-c, imagenet-c, tiny-imagenet-c) -> CorruptedSet."""
    kind, sep, path = spec.partition(":")
    kind = kind.lower()
    if not sep or kind not in KINDS:
        raise DataError(
            f"corrupted data must be KIND:PATH with KIND one of {', '.join(KINDS)}; got '{spec}'"
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"{kind}: no such folder {root}")
    cs = CorruptedSet(kind, root)
    if cs.is_npy and not (root / "labels.npy").is_file():
        raise DataError(f"{kind}: {root} has no labels.npy (expected CIFAR-10-C's layout)")
    if not cs.corruptions():
        raise DataError(f"{kind}: no corruptions found in {root}")
    return cs


def _subset(n: int, max_images: int | None, seed: int) -> np.ndarray:
    if max_images is None or n <= max_images:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_images, replace=False))


def _load_npy(root: Path, corruption: str, severity: int, max_images, seed):
    if not 1 <= severity <= 5:
        raise DataError(f"severity must be 1..5, got {severity}")
    path = root / f"{corruption}.npy"
    if path.parent != root or not path.is_file():
        raise DataError(f"no {corruption}.npy in {root}")
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        labels = np.load(root / "labels.npy", allow_pickle=False)
    except ValueError as e:
        raise DataError(f"{path}: not a plain .npy array ({e})") from e
    if data.ndim != 4 or data.shape[0] % 5 or data.shape[0] != labels.shape[0]:
        raise DataError(
            f"{path}: expected [5*N,H,W,C] images and as many labels, got {data.shape} "
            f"and {labels.shape}"
        )
    per = data.shape[0] // 5
    rows = (severity - 1) * per + _subset(per, max_images, seed)
    images = torch.from_numpy(np.ascontiguousarray(data[rows])).permute(0, 3, 1, 2)
    return images.float() / 255, torch.from_numpy(labels[rows].astype(np.int64))


def _severity_dirs(folder: Path) -> list[int]:
    return sorted(int(p.name) for p in folder.iterdir() if p.is_dir() and p.name in "12345")


def _load_folders(folder: Path, max_images, seed):
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    if not folder.is_dir():
        raise DataError(f"no severity folder {folder}")
    classes = sorted(p for p in folder.iterdir() if p.is_dir())
    files = [
        (f, label)
        for label, c in enumerate(classes)
        for f in sorted(c.iterdir())
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DataError(f"{folder}: no images in class folders")
    pick = _subset(len(files), max_images, seed)
    images, labels = [], []
    for i in pick:
        f, label = files[i]
        with Image.open(f) as im:
            images.append(pil_to_tensor(im.convert("RGB")))
        labels.append(label)
    sizes = {tuple(t.shape) for t in images}
    if len(sizes) > 1:
        raise DataError(f"{folder}: images of different sizes {sorted(sizes)[:3]}")
    return torch.stack(images).float() / 255, torch.tensor(labels)
