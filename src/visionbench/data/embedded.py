"""Datasets that ship inside installed packages, so every command works with no path and no network."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from .registry import DataBundle, DataInfo, register_dataset
from .splits import stratified_holdout
from .tensors import ImageListSet, TensorSet, to_chw_float


def classification_bundle(
    name: str,
    images: torch.Tensor,
    labels: np.ndarray,
    class_names: list[str],
    split_seed: int,
    fold: tuple[int, int] | None = None,
) -> DataBundle:
    """Stratified 70/10/20 holdout, or fold i of k (then val is carved out of the training folds)."""
    if fold is not None:
        from .splits import stratified_kfold

        k, i = fold
        train_idx, test_idx = stratified_kfold(labels, k, seed=split_seed)[i]
        from sklearn.model_selection import train_test_split

        train_idx, val_idx = train_test_split(
            train_idx, test_size=0.1, stratify=labels[train_idx], random_state=split_seed
        )
        how = f"stratified {k}-fold, fold {i}, seed {split_seed}; val = 10% of training folds"
    else:
        train_idx, val_idx, test_idx = stratified_holdout(labels, seed=split_seed)
        how = f"stratified holdout 70/10/20, seed {split_seed}"
    full = TensorSet(images, torch.as_tensor(labels, dtype=torch.long))
    parts = {
        k: full.subset(v) for k, v in (("train", train_idx), ("val", val_idx), ("test", test_idx))
    }
    info = DataInfo(
        name=name,
        task="classification",
        in_chans=images.shape[1],
        img_size=images.shape[-1],
        num_classes=len(class_names),
        class_names=class_names,
        sizes={k: len(v) for k, v in parts.items()},
        split=how,
        scale="small",
    )
    return DataBundle(info, parts["train"], parts["val"], parts["test"])


@lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return to_chw_float(d.images, max_value=16.0), d.target.astype(np.int64)


@register_dataset(
    "digits",
    tasks=("classification", "generation"),
    format="scikit-learn bundled array",
    description="1,797 real 8x8 handwritten digits, 10 classes (UCI optdigits test set)",
    embedded=True,
    license="CC BY 4.0 (UCI)",
    citation="Alpaydin & Kaynak 1998, UCI Optical Recognition of Handwritten Digits",
    how_to_point="--data digits (embedded)",
    stands_in_for=("ImageNet", "CIFAR-10/100"),
)
def load_digits_dataset(task: str, root=None, split_seed: int = 0, fold=None, **_) -> DataBundle:
    images, labels = _digits()
    bundle = classification_bundle(
        "digits", images, labels, [str(i) for i in range(10)], split_seed, fold
    )
    bundle.info.task = task
    return bundle


@lru_cache(maxsize=1)
def _faces() -> tuple[torch.Tensor, np.ndarray]:
    from skimage.data import lfw_subset

    faces = lfw_subset()  # float in [0,1]; first 100 are faces, the last 100 are not
    labels = np.array([1] * 100 + [0] * 100, dtype=np.int64)
    return to_chw_float(faces, max_value=1.0), labels


@register_dataset(
    "faces",
    tasks=("classification", "generation"),
    format="scikit-image bundled array",
    description="200 25x25 gray crops from LFW: 100 faces, 100 non-faces",
    embedded=True,
    license="LFW terms (research use)",
    citation="Huang et al. 2007, Labeled Faces in the Wild (scikit-image lfw_subset)",
    how_to_point="--data faces (embedded)",
    stands_in_for=("CelebA",),
)
def load_faces_dataset(task: str, root=None, split_seed: int = 0, fold=None, **_) -> DataBundle:
    images, labels = _faces()
    bundle = classification_bundle("faces", images, labels, ["non-face", "face"], split_seed, fold)
    bundle.info.task = task
    return bundle


# Photos are split by scene; the stereo pair (motorcycle left/right) stays on one side.
PHOTO_SPLITS = {
    "train": ["astronaut", "rocket", "hubble_deep_field", "immunohistochemistry", "retina"],
    "val": ["coffee"],
    "test": ["chelsea", "motorcycle", "camera"],
}


def _photo(name: str, max_side: int) -> torch.Tensor:
    import skimage.data as skd

    if name == "motorcycle":
        a = skd.stereo_motorcycle()[0]
    else:
        a = getattr(skd, name)()
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    t = to_chw_float(a[None, ..., :3])
    h, w = t.shape[-2:]
    s = max_side / max(h, w)
    if s < 1:
        t = F.interpolate(t, size=(round(h * s), round(w * s)), mode="bicubic", antialias=True)
    # Crop to a multiple of 12 so every SR scale (2, 3, 4) divides the size exactly.
    h, w = (t.shape[-2] // 12) * 12, (t.shape[-1] // 12) * 12
    return t[0, :, :h, :w].clamp(0, 1).contiguous()


def random_patches(
    images: list[torch.Tensor], n_per_image: int, size: int, seed: int
) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    out = []
    for img in images:
        h, w = img.shape[-2:]
        ys = torch.randint(0, h - size + 1, (n_per_image,), generator=g)
        xs = torch.randint(0, w - size + 1, (n_per_image,), generator=g)
        out += [img[:, y : y + size, x : x + size] for y, x in zip(ys.tolist(), xs.tolist())]
    return torch.stack(out)


@register_dataset(
    "photos",
    tasks=("restoration",),
    format="scikit-image bundled images",
    description="9 natural photos from scikit-image: train on patches of 5, validate on 1, "
    "test on 3 other whole photos (longer side <= 256 px)",
    embedded=True,
    license="public domain / CC0 (see skimage.data)",
    citation="scikit-image data module (van der Walt et al. 2014)",
    how_to_point="--data photos (embedded)",
)
def load_photos_dataset(
    task: str,
    root=None,
    split_seed: int = 0,
    patch_size: int = 48,
    patches_per_image: int = 128,
    max_side: int = 256,
    **_,
) -> DataBundle:
    photos = {s: [_photo(n, max_side) for n in names] for s, names in PHOTO_SPLITS.items()}
    train = TensorSet(random_patches(photos["train"], patches_per_image, patch_size, split_seed))
    info = DataInfo(
        name="photos",
        task=task,
        in_chans=3,
        img_size=patch_size,
        sizes={"train": len(train), "val": len(photos["val"]), "test": len(photos["test"])},
        split=f"by scene: {patches_per_image} random {patch_size}px patches of each of "
        f"{len(photos['train'])} train photos (seed {split_seed}); whole photos for val/test",
        scale="small",
    )
    return DataBundle(
        info,
        train,
        ImageListSet(photos["val"], PHOTO_SPLITS["val"]),
        ImageListSet(photos["test"], PHOTO_SPLITS["test"]),
    )


# Colours of the coloured digits: matplotlib's tab10, one per class, far apart in RGB.
DIGIT_COLOURS = (
    ("blue", (0.12, 0.47, 0.71)),
    ("orange", (1.00, 0.50, 0.05)),
    ("green", (0.17, 0.63, 0.17)),
    ("red", (0.84, 0.15, 0.16)),
    ("purple", (0.58, 0.40, 0.74)),
    ("brown", (0.55, 0.34, 0.29)),
    ("pink", (0.89, 0.47, 0.76)),
    ("grey", (0.50, 0.50, 0.50)),
    ("olive", (0.74, 0.74, 0.13)),
    ("cyan", (0.09, 0.75, 0.81)),
)


def colour_digits(
    images: torch.Tensor, labels: torch.Tensor, correlation: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB digits whose stroke colour is the label's colour with probability `correlation`, else
    one of the other nine at random; returns (images [N,3,H,W], aligned [N] 1/0)."""
    g = torch.Generator().manual_seed(seed)
    n = len(labels)
    aligned = torch.rand(n, generator=g) < correlation
    other = (labels + torch.randint(1, 10, (n,), generator=g)) % 10  # never the label's colour
    colour_of = torch.where(aligned, labels, other)
    rgb = torch.tensor([c for _, c in DIGIT_COLOURS])[colour_of]  # [N,3]
    return images * rgb.view(n, 3, 1, 1), aligned.long()


@register_dataset(
    "colored_digits",
    tasks=("classification",),
    format="scikit-learn bundled array, coloured here",
    description="the 1,797 digits with a spurious colour: in train and val the stroke has the "
    "label's colour with probability `correlation` (default 0.95), in test the colour is random "
    "(10% aligned by chance); groups: bias-aligned vs bias-conflicting test images",
    embedded=True,
    license="CC BY 4.0 (UCI)",
    citation="in the spirit of Colored MNIST (Arjovsky et al. 2019, Invariant Risk Minimization)",
    how_to_point="--data colored_digits (embedded); --data-option correlation=0.99",
)
def load_colored_digits(
    task: str, root=None, split_seed: int = 0, correlation: float = 0.95, fold=None, **_
) -> DataBundle:
    if not 0.0 <= float(correlation) <= 1.0:
        from ..errors import DataError

        raise DataError(f"colored_digits: correlation must be in [0,1], got {correlation}")
    images, labels = _digits()
    bundle = classification_bundle(
        "colored_digits", images, labels, [str(i) for i in range(10)], split_seed, fold
    )
    parts = {}
    for k, (name, part) in enumerate(
        (("train", bundle.train), ("val", bundle.val), ("test", bundle.test))
    ):
        corr = 0.1 if name == "test" else float(correlation)  # test: colour independent of label
        rgb, aligned = colour_digits(part.images, part.labels, corr, seed=split_seed * 7 + k)
        parts[name] = TensorSet(rgb, part.labels)
        parts[name].groups = aligned  # per-group metrics read `groups`, as CelebA's
        parts[name].group_names = ["bias-conflicting", "bias-aligned"]
    bundle.info.name = "colored_digits"
    bundle.info.in_chans = 3
    bundle.info.split += (
        f"; colour = label's colour with p={float(correlation):g} in train/val, random in test"
    )
    return DataBundle(bundle.info, parts["train"], parts["val"], parts["test"])
