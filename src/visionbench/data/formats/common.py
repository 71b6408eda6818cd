"""What every on-disk format shares: safe image reading, records, problems, splits, bundles.

A format module turns a folder into a `Catalog` (one `Record` per image, with its split, label,
boxes or mask file). The loader builds datasets from the catalog; `datasets inspect` checks the
same catalog image by image. So a file is parsed in one place, and a broken file gives the same
one-line error whichever path reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ...errors import DataError
from ..registry import DataBundle, DataInfo
from ..tensors import ImageListSet, TensorSet

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
IGNORE = 255  # the ignore index of semantic segmentation masks


# -- images ------------------------------------------------------------------------------------
def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTS and not path.name.startswith(".")


def list_images(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files under `folder`, sorted by path so every run sees the same order."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and is_image(p))


def open_image(path: Path, mode: str | None = None) -> Image.Image:
    """Open and fully decode an image; a truncated or unreadable file raises a DataError naming it."""
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later in a worker
            return im.convert(mode) if mode and im.mode != mode else im.copy()
    except FileNotFoundError:
        raise DataError(f"{path}: image file not found") from None
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: image too large to decode safely ({e})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: unreadable image ({e})") from None


def image_header(path: Path) -> tuple[tuple[int, int], str]:
    """(width, height) and PIL mode from the header only (cheap; no decode)."""
    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: unreadable image ({e})") from None


def channels_mode(channels: int) -> str:
    return "L" if channels == 1 else "RGB"


def to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL image -> float [C,H,W] in [0,1]."""
    a = np.asarray(im, dtype=np.uint8)
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    # astype copies into a writable C-order array: a grayscale image's array is Pillow's own,
    # read-only, and torch warns on every such from_numpy
    return torch.from_numpy(a.astype(np.float32, order="C")).div_(255.0)


def fit_square(im: Image.Image, size: int, resample: int = Image.BICUBIC) -> Image.Image:
    """Resize the shorter side to `size` and centre-crop a square, so every batch stacks."""
    w, h = im.size
    if (w, h) == (size, size):
        return im
    s = size / min(w, h)
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    im = im.resize((nw, nh), resample)
    left, top = (nw - size) // 2, (nh - size) // 2
    return im.crop((left, top, left + size, top + size))


JPEG_SUFFIXES = (".jpg", ".jpeg")


def decode_jpeg(path: Path, channels: int) -> torch.Tensor | None:
    """A JPEG through torchvision.io (libjpeg-turbo): 2.4x Pillow's images/s on this machine's
    64 px Tiny ImageNet-style files, same pixels (benchmarks/pipeline.py). RGB only (its gray
    conversion rounds differently from Pillow's). None when it cannot (CMYK, a damaged file):
    the Pillow path then decodes it or names the fault."""
    from torchvision.io import ImageReadMode, read_file
    from torchvision.io import decode_jpeg as tv_decode

    try:
        return tv_decode(read_file(str(path)), mode=ImageReadMode.RGB).float().div_(255.0)
    except (RuntimeError, ValueError, OSError):
        return None


def read_image(path: Path, channels: int = 3, size: int | None = None) -> torch.Tensor:
    """An image file as float [C,H,W] in [0,1]; resized and centre-cropped to `size` if given."""
    if channels == 3 and Path(path).suffix.lower() in JPEG_SUFFIXES:
        t = decode_jpeg(path, channels)
        if t is not None and (size is None or tuple(t.shape[-2:]) == (size, size)):
            return t
    im = open_image(path, channels_mode(channels))
    return to_tensor(fit_square(im, size) if size else im)


def read_mask(path: Path, expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """A label PNG as its raw index values [H,W] (palette indices, not colours)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode not in ("P", "L", "I", "I;16", "1"):
                raise DataError(
                    f"{path}: mask must be a single-channel or palette PNG, got {im.mode}"
                )
            a = np.array(im)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{path}: mask file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: unreadable mask ({e})") from None
    if expect_size is not None and (a.shape[1], a.shape[0]) != tuple(expect_size):
        raise DataError(
            f"{path}: mask is {a.shape[1]}x{a.shape[0]} but its image is "
            f"{expect_size[0]}x{expect_size[1]}"
        )
    return a


# -- catalog -----------------------------------------------------------------------------------
@dataclass
class Record:
    """One image and what is known about it before decoding."""

    split: str
    image: Path | None = None
    label: int | None = None  # contiguous class index (classification, anomaly)
    boxes: np.ndarray | None = None  # [N,4] xyxy pixels (detection)
    categories: list[int] = field(default_factory=list)  # original category ids, one per box
    iscrowd: list[int] = field(default_factory=list)
    segmentations: list = field(default_factory=list)  # COCO polygons / RLE, one per box
    mask: Path | None = None  # semantic / instance / anomaly mask file
    size: tuple[int, int] | None = None  # (width, height) declared by the annotation
    image_id: int = 0
    group: int | None = None  # a second attribute for per-group metrics (CelebA)
    extra: dict = field(default_factory=dict)


@dataclass
class Catalog:
    """Everything a format knows about a dataset folder, before any pixel is decoded."""

    format: str
    root: Path
    records: list[Record]
    classes: list[str] = field(default_factory=list)  # contiguous index -> name
    category_ids: list[int] = field(default_factory=list)  # detection: label k -> ids[k-1]
    official_split: bool = False
    channels: int = 3
    problems: list[str] = field(default_factory=list)  # "path: reason" lines
    notes: dict = field(default_factory=dict)

    def problem(self, path: Path | str, reason: str) -> None:
        self.problems.append(f"{path}: {reason}")

    def raise_if_problems(self) -> None:
        if self.problems:
            more = (
                f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
            )
            raise DataError(self.problems[0] + more)

    def split(self, name: str) -> list[Record]:
        return [r for r in self.records if r.split == name]

    def splits(self) -> list[str]:
        order = {"train": 0, "val": 1, "test": 2}
        return sorted({r.split for r in self.records}, key=lambda s: (order.get(s, 3), s))

    def labels(self, split: str | None = None) -> np.ndarray:
        rs = self.records if split is None else self.split(split)
        return np.array([r.label for r in rs], dtype=np.int64)


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: unreadable text file ({e})") from None


# -- splits ------------------------------------------------------------------------------------
def _stratify_ok(labels: np.ndarray, n_out: int) -> bool:
    _, counts = np.unique(labels, return_counts=True)
    return counts.min() >= 2 and n_out >= len(counts)


def carve(
    labels: np.ndarray, share: float, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..n-1 into (keep, carved) with `share` carved out, stratified when possible."""
    from sklearn.model_selection import train_test_split

    n = len(labels)
    idx = np.arange(n)
    if n < 2:
        return idx, idx[:0]
    n_out = max(1, round(n * share))
    strat = (
        labels
        if stratify and _stratify_ok(labels, n_out) and n - n_out >= len(set(labels))
        else None
    )
    keep, out = train_test_split(idx, test_size=n_out, stratify=strat, random_state=seed)
    return np.sort(keep), np.sort(out)


def assign_splits(
    catalog: Catalog, seed: int, val: float = 0.1, test: float = 0.2, stratify: bool = True
) -> str:
    """Give records without an official split a deterministic one; return how, in words.

    Official train+test: val is carved from train. Official train+val (ImageNet style): the
    official val becomes test and val is carved from train. No official split: a stratified
    70/10/20 holdout.
    """
    present = set(catalog.splits())
    labels_of = lambda rs: np.array([r.label if r.label is not None else 0 for r in rs])  # noqa: E731
    if present >= {"train", "val", "test"}:
        return "official train/val/test"
    if "train" in present and ("test" in present or "val" in present):
        if "test" not in present:
            for r in catalog.split("val"):
                r.split = "test"
        train = catalog.split("train")
        _, v = carve(labels_of(train), val, seed, stratify)
        for i in v:
            train[i].split = "val"
        held = "official train/test" if "val" not in present else "official val used as test"
        kind = "stratified, " if stratify else ""
        return f"{held}; val = {val:.0%} of train, {kind}seed {seed}"
    records = catalog.records
    labels = labels_of(records)
    rest, t = carve(labels, test, seed, stratify)
    _, v = carve(labels[rest], val / (1 - test), seed, stratify)
    for r in records:
        r.split = "train"
    for i in t:
        records[i].split = "test"
    for i in rest[v]:
        records[i].split = "val"
    kind = "stratified " if stratify else ""
    return (
        f"no official split: {kind}holdout {1 - val - test:.0%}/{val:.0%}/{test:.0%}, seed {seed}"
    )


# -- datasets ----------------------------------------------------------------------------------
class ImageFileSet(Dataset):
    """Classification from files: (image float [C,H,W], label int64), decoded on access."""

    def __init__(self, records: Sequence[Record], channels: int, size: int):
        self.paths = [r.image for r in records]
        self.targets = torch.tensor([r.label for r in records], dtype=torch.long)
        self.groups = (
            torch.tensor([r.group for r in records], dtype=torch.long)
            if records and records[0].group is not None
            else None
        )
        self.channels, self.size = channels, size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        return read_image(self.paths[i], self.channels, self.size), self.targets[i]


def preload(dataset: ImageFileSet) -> TensorSet:
    """Decode every image once into memory (small images), so batches are slices."""
    mode, size = channels_mode(dataset.channels), dataset.size
    raw = np.empty((len(dataset), size, size, dataset.channels), np.uint8)
    for i, p in enumerate(dataset.paths):
        raw[i] = np.asarray(fit_square(open_image(p, mode), size)).reshape(size, size, -1)
    images = torch.from_numpy(raw).permute(0, 3, 1, 2).float().div_(255.0).contiguous()
    out = TensorSet(images, dataset.targets)
    out.groups = dataset.groups  # per-group metrics (CelebA) survive preloading
    return out


def native_size(records: Sequence[Record], default: int = 224) -> int:
    """The side of the first image when it is square and small (CIFAR, Tiny ImageNet), else default."""
    if not records or records[0].image is None:
        return default
    (w, h), _ = image_header(records[0].image)
    return w if w == h and w <= 256 else default


def classification_bundle(
    catalog: Catalog,
    name: str,
    task: str,
    how: str,
    img_size: int | None = None,
    preload_images: bool | None = None,
) -> DataBundle:
    """Datasets per split from a classification catalog; small sets are decoded into tensors."""
    size = int(img_size or native_size(catalog.records))
    sets = {
        s: ImageFileSet(catalog.split(s), catalog.channels, size) for s in ("train", "val", "test")
    }
    n = len(catalog.records)
    if preload_images is None:
        # up to ~800 MB of float32 (CIFAR-sized sets): batches become slices, no per-step decoding
        preload_images = n * size * size * catalog.channels <= 200_000_000
    if preload_images:
        sets = {k: preload(v) if len(v) else v for k, v in sets.items()}
    info = DataInfo(
        name=name,
        task=task,
        in_chans=catalog.channels,
        img_size=size,
        num_classes=len(catalog.classes),
        class_names=list(catalog.classes),
        sizes={k: len(v) for k, v in sets.items()},
        split=how,
        scale=scale_of(n, size),
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])


def scale_of(n_images: int, size: int) -> str:
    if n_images * size * size >= 200_000 * 64 * 64:
        return "large"
    return "medium" if n_images >= 20_000 or size >= 128 else "small"


def tensor_bundle(
    name: str,
    task: str,
    parts: dict[str, tuple[torch.Tensor, torch.Tensor]],
    classes: list[str],
    how: str,
) -> DataBundle:
    """A bundle of in-memory TensorSets (IDX, CIFAR pickles)."""
    sets = {k: TensorSet(x, y) for k, (x, y) in parts.items()}
    x = parts["train"][0]
    info = DataInfo(
        name=name,
        task=task,
        in_chans=x.shape[1],
        img_size=x.shape[-1],
        num_classes=len(classes),
        class_names=list(classes),
        sizes={k: len(v) for k, v in sets.items()},
        split=how,
        scale=scale_of(sum(len(v) for v in sets.values()), x.shape[-1]),
    )
    return DataBundle(info, sets["train"], sets["val"], sets["test"])


def split_tensors(
    x: torch.Tensor, y: torch.Tensor, official: dict[str, slice], seed: int, val: float = 0.1
) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], str]:
    """Official train/test arrays -> train/val/test with a stratified val carved from train."""
    tr, te = official["train"], official["test"]
    xt, yt = x[tr], y[tr]
    keep, v = carve(yt.numpy(), val, seed)
    parts = {
        "train": (xt[keep], yt[keep]),
        "val": (xt[v], yt[v]),
        "test": (x[te], y[te]),
    }
    return parts, f"official train/test; val = {val:.0%} of train, stratified, seed {seed}"


# -- restoration -------------------------------------------------------------------------------
class CleanImageSet(ImageListSet):
    """Whole clean images for restoration, decoded on access; `lr_paths` keeps official LR files."""

    def __init__(self, paths: list[Path], channels: int = 3, lr_paths: list[Path] | None = None):
        self.paths, self.channels, self.lr_paths = paths, channels, lr_paths
        self.names = [p.stem for p in paths]

    @property
    def images(self) -> list[torch.Tensor]:  # type: ignore[override]
        return [self[i] for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i):
        return read_image(self.paths[i], self.channels)

    def is_gray(self, i: int) -> bool:
        """Whether image i's file has a single channel (SR papers score it without YCbCr)."""
        return image_header(self.paths[i])[1] in SINGLE_CHANNEL_MODES

    def lr_image(self, i: int) -> torch.Tensor | None:
        """The low-resolution image shipped with image i (SR pairs), or None."""
        return read_image(self.lr_paths[i], self.channels) if self.lr_paths else None


SINGLE_CHANNEL_MODES = ("1", "L", "LA", "I", "I;16", "F")


def single_channel_file(dataset, i: int) -> bool:
    """Whether test image i of a restoration set was a one-channel file (False for in-memory
    sets, which have no files)."""
    return isinstance(dataset, CleanImageSet) and dataset.is_gray(i)


def restoration_bundle(
    name: str,
    task: str,
    splits: dict[str, list[Path]],
    how: str,
    channels: int = 3,
    patch_size: int = 48,
    patches_per_image: int = 64,
    split_seed: int = 0,
    lr: dict[str, list[Path]] | None = None,
    eval_only: bool = False,
) -> DataBundle:
    """Restoration: random clean patches of the train images; whole images for val and test.
    `eval_only`: test images alone (val is the test set, train is empty)."""
    from ..embedded import random_patches

    for part in ("test",) if eval_only else ("train", "val", "test"):
        if not splits.get(part):
            raise DataError(f"{name}: no {part} images (need at least one image per split)")
    lr = lr or {}
    test = CleanImageSet(splits["test"], channels, lr.get("test"))
    if eval_only:
        train, val = TensorSet(torch.empty(0, channels, patch_size, patch_size)), test
    else:
        train_imgs = [read_image(p, channels) for p in splits["train"]]
        small = [p for p, t in zip(splits["train"], train_imgs) if min(t.shape[-2:]) < patch_size]
        if small:
            raise DataError(f"{small[0]}: image is smaller than patch_size={patch_size}")
        train = TensorSet(random_patches(train_imgs, patches_per_image, patch_size, split_seed))
        val = CleanImageSet(splits["val"], channels, lr.get("val"))
    info = DataInfo(
        name=name,
        task=task,
        in_chans=channels,
        img_size=patch_size,
        sizes={"train": len(train), "val": len(val), "test": len(test)},
        split=how + f"; train = {patches_per_image} random {patch_size}px patches per image",
        scale="small",
    )
    return DataBundle(info, train, val, test)


def split_files(paths: list[Path], seed: int, val: float = 0.1, test: float = 0.2) -> dict:
    """Image-level holdout for small restoration sets: at least one image in every split."""
    n = len(paths)
    if n < 3:
        raise DataError(f"{paths[0].parent if paths else '?'}: need at least 3 images, found {n}")
    order = np.random.default_rng(seed).permutation(n)
    nt, nv = max(1, round(n * test)), max(1, round(n * val))
    t, v, tr = order[:nt], order[nt : nt + nv], order[nt + nv :]
    return {k: [paths[i] for i in sorted(ix)] for k, ix in (("train", tr), ("val", v), ("test", t))}


# -- detection ---------------------------------------------------------------------------------
def collate_detection(batch: list) -> tuple[torch.Tensor | list, list[dict]]:
    """Detection batches: images stacked when they share a size (else a list), targets as a list."""
    images = [b[0] for b in batch]
    same = all(im.shape == images[0].shape for im in images)
    return (torch.stack(images) if same else images), [b[1] for b in batch]


def check_boxes(catalog: Catalog, rec: Record, source: Path | str, tol: float = 1.0) -> None:
    """Boxes must have positive size and lie inside the image (with a rounding tolerance)."""
    if rec.boxes is None or not len(rec.boxes) or rec.size is None:
        return
    w, h = rec.size
    b = rec.boxes
    for i, (x0, y0, x1, y1) in enumerate(b.tolist()):
        where = f"{source} (image {rec.image.name if rec.image else rec.image_id}, box {i})"
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            catalog.problem(where, f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] has non-positive size")
        elif x0 < -tol or y0 < -tol or x1 > w + tol or y1 > h + tol:
            catalog.problem(
                where, f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies outside the {w}x{h} image"
            )
    np.clip(b[:, 0::2], 0, w, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, h, out=b[:, 1::2])


def contiguous(ids: list[int]) -> dict[int, int]:
    """Original category ids -> contiguous labels 1..K in sorted id order (0 is background)."""
    return {c: i + 1 for i, c in enumerate(sorted(ids))}
