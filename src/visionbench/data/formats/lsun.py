"""LSUN: the lmdb release (`<category>_<split>_lmdb/data.mdb`, values are encoded images).

Needs the optional dependency `lmdb` (pip install 'visionbench[lsun]'). Each category is a
class, so the set serves scene classification and unconditional generation.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ...errors import DataError, VisionbenchError
from ..registry import DataBundle, DataInfo, register_dataset
from .common import carve, fit_square, to_tensor


def lmdb_dirs(root: Path) -> list[Path]:
    if (root / "data.mdb").is_file():
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "data.mdb").is_file())


def parse_name(d: Path) -> tuple[str, str]:
    """'church_outdoor_train_lmdb' -> ('church_outdoor', 'train')."""
    stem = d.name.removesuffix("_lmdb")
    for split in ("train", "val", "test"):
        if stem.endswith("_" + split):
            return stem[: -len(split) - 1], split
    return stem, "train"


def open_env(path: Path):
    try:
        import lmdb
    except ImportError:
        raise VisionbenchError(
            "LSUN needs the optional package lmdb: pip install 'visionbench[lsun]'"
        ) from None
    try:
        return lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False)
    except lmdb.Error as e:
        raise DataError(f"{path}: cannot open lmdb ({e})") from None


def read_keys(path: Path, limit: int | None = None) -> list[bytes]:
    env = open_env(path)
    with env.begin() as txn:
        keys = []
        for k in txn.cursor().iternext(keys=True, values=False):
            keys.append(bytes(k))
            if limit and len(keys) >= limit:
                break
    env.close()
    return keys


def decode(value: bytes | None, where: str, size: int) -> torch.Tensor:
    if value is None:
        raise DataError(f"{where}: key not found")
    try:
        with Image.open(io.BytesIO(value)) as im:
            im.load()
            return to_tensor(fit_square(im.convert("RGB"), size))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{where}: unreadable image ({e})") from None


class LmdbSet(Dataset):
    """(image, label) from lmdb entries; environments open lazily, once per worker."""

    def __init__(self, items: list[tuple[Path, bytes, int]], size: int):
        self.items, self.size, self._envs = items, size, {}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        path, key, label = self.items[i]
        if path not in self._envs:
            self._envs[path] = open_env(path)
        with self._envs[path].begin() as txn:
            value = txn.get(key)
        where = f"{path} (key {key.decode(errors='replace')})"
        return decode(value, where, self.size), torch.tensor(label, dtype=torch.long)

    def __getstate__(self):
        return {**self.__dict__, "_envs": {}}


@register_dataset(
    "lsun",
    tasks=("classification", "generation"),
    format="lmdb: <category>_<split>_lmdb/data.mdb (optional dependency lmdb)",
    description="LSUN scene categories from the lmdb release; category = class; "
    "val lmdbs used as test; data option limit=N per category",
    license="LSUN terms (research)",
    citation="Yu et al. 2015, LSUN",
    how_to_point="--data lsun:DIR (DIR/bedroom_train_lmdb, DIR/bedroom_val_lmdb, ...)",
)
def load_lsun(
    task: str, root: Path, split_seed: int = 0, img_size: int = 64, limit=None, **_
) -> DataBundle:
    dirs = lmdb_dirs(root)
    if not dirs:
        raise DataError(f"{root}: no lmdb folders (<category>_<split>_lmdb/data.mdb) found")
    cats = sorted({parse_name(d)[0] for d in dirs})
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for d in dirs:
        c, split = parse_name(d)
        items = [(d, k, cats.index(c)) for k in read_keys(d, limit)]
        parts["test" if split in ("val", "test") else "train"] += items
    train = parts["train"]
    labels = np.array([it[2] for it in train], dtype=np.int64)
    if not parts["test"]:  # no val lmdb: hold out 20% of train as test
        keep, t = carve(labels, 0.2, split_seed)
        parts["test"], train, labels = [train[i] for i in t], [train[i] for i in keep], labels[keep]
    keep, v = carve(labels, 0.1, split_seed)
    parts["train"], parts["val"] = [train[i] for i in keep], [train[i] for i in v]
    sets = {k: LmdbSet(v, int(img_size)) for k, v in parts.items()}
    info = DataInfo(
        name="lsun",
        task=task,
        in_chans=3,
        img_size=int(img_size),
        num_classes=len(cats),
        class_names=cats,
        sizes={k: len(v) for k, v in sets.items()},
        split=f"val lmdbs as test; val = 10% of train, seed {split_seed}",
        scale="large",
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])
