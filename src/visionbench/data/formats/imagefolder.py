"""Class-folder layouts: `[split/]<class>/<image>` (ImageNet, ImageNet-V2/-R, CIFAR as images).

The layout is torchvision's ImageFolder; listing is our own so that an empty or unmatched class
folder is reported, not skipped. Class names come from timm's bundled ImageNet metadata when the
folders are WordNet ids, so no network is needed to name them.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .common import Catalog, Record, assign_splits, classification_bundle, is_image

SPLIT_NAMES = ("train", "val", "test")
WNID = re.compile(r"^n\d{8}$")


def class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def split_roots(root: Path) -> dict[str, Path]:
    """{split: folder of class folders}: train/val/test subfolders, or the root itself."""
    found = {s: root / s for s in SPLIT_NAMES if (root / s).is_dir() and class_dirs(root / s)}
    if not found and (root / "valid").is_dir():
        found["val"] = root / "valid"
    return found or {"": root}


def imagenet_names(wnids: list[str]) -> list[str]:
    """'tench (n01440764)' from timm's bundled ImageNet info; the bare id when unavailable."""
    try:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        out = []
        for w in wnids:
            try:
                out.append(f"{info.label_name_to_description(w).split(',')[0]} ({w})")
            except (KeyError, ValueError):
                out.append(w)
        return out
    except ImportError:
        return list(wnids)


def imagenet_wnids() -> list[str]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [info.index_to_label_name(i) for i in range(info.num_classes())]


def catalog(root: Path, fmt: str = "class-folders", numeric_classes: bool = False) -> Catalog:
    """Records for every image of a class-folder tree, with the problems found while listing."""
    roots = split_roots(root)
    first = roots.get("train", next(iter(roots.values())))
    names = [p.name for p in class_dirs(first)]
    if not names:
        raise DataError(f"{first}: no class folders found (expected {first}/<class>/<image>)")
    if numeric_classes:  # ImageNet-V2: folders 0..999 are class indices, not names to sort
        bad = [n for n in names if not n.isdigit()]
        if bad:
            raise DataError(f"{first / bad[0]}: ImageNet-V2 class folders must be numbers 0..999")
        wnids = imagenet_wnids()
        index = {n: int(n) for n in names}
        classes = imagenet_names(wnids)
    else:
        index = {n: i for i, n in enumerate(names)}
        classes = imagenet_names(names) if all(WNID.match(n) for n in names) else names
    cat = Catalog(fmt, root, [], classes=classes, official_split="" not in roots)
    for s in SPLIT_NAMES:  # e.g. ImageNet's raw val/ with all 50,000 images in one folder
        flat = root / s
        if "" in roots or s in roots or not flat.is_dir():
            continue
        if any(is_image(p) for p in flat.iterdir()):
            cat.problem(flat, "holds images but no class folders; sort them into <class>/ folders")
    for split, folder in roots.items():
        for d in class_dirs(folder):
            if d.name not in index:
                cat.problem(d, f"class folder '{d.name}' has no counterpart in {first}")
                continue
            files = sorted(p for p in d.rglob("*") if p.is_file() and is_image(p))
            if not files:
                cat.problem(d, "class folder holds no images")
            cat.records += [Record(split, f, label=index[d.name]) for f in files]
    if not cat.records:
        raise DataError(f"{root}: no images found in its class folders")
    return cat


def load_folders(
    name: str,
    task: str,
    root: Path,
    split_seed: int = 0,
    img_size: int | None = None,
    channels: int = 3,
    preload: bool | None = None,
    numeric_classes: bool = False,
    all_test: bool = False,
    **_,
) -> DataBundle:
    cat = catalog(root, name, numeric_classes=numeric_classes)
    cat.raise_if_problems()
    cat.channels = int(channels)
    if all_test:  # an evaluation set: score every image
        for r in cat.records:
            r.split = "test"
        how = f"evaluation set: all {len(cat.records)} images are test"
    else:
        how = assign_splits(cat, split_seed)
    return classification_bundle(cat, name, task, how, img_size, preload)


def _register(name: str, description: str, citation: str, point: str, **fixed) -> None:
    @register_dataset(
        name,
        tasks=("classification", "generation"),
        format="class folders: [train|val|test/]<class>/<image>",
        description=description,
        citation=citation,
        how_to_point=point,
        all_test=True,
    )
    def loader(task: str, root: Path, split_seed: int = 0, **options) -> DataBundle:
        return load_folders(name, task, root, split_seed, **(fixed | options))


_register(
    "class-folders",
    "any image classification set stored as one folder per class (torchvision ImageFolder)",
    "",
    "--data class-folders:DIR (DIR/[train|val|test/]<class>/*.jpg); --data-option img_size=N",
)
_register(
    "imagenet",
    "ILSVRC-2012: 1,000 WordNet-id class folders; official val is used as test",
    "Deng et al. 2009, ImageNet; Russakovsky et al. 2015, ILSVRC",
    "--data imagenet:DIR (DIR/train/n01440764/*.JPEG, DIR/val/n01440764/*.JPEG)",
)
_register(
    "imagenet-v2",
    "ImageNet-V2 (10 images per class, folders 0..999 = ImageNet class index)",
    "Recht et al. 2019, Do ImageNet classifiers generalize to ImageNet?",
    "--data imagenet-v2:DIR (DIR/0/*.jpeg ... DIR/999/*.jpeg)",
    numeric_classes=True,
)
_register(
    "imagenet-r",
    "ImageNet-R renditions: 200 WordNet-id class folders",
    "Hendrycks et al. 2021, The many faces of robustness",
    "--data imagenet-r:DIR (DIR/n01443537/*.jpg)",
)
