"""Restoration folders: paired super-resolution releases (Set5, Set14, BSD100, Urban100) and plain
folders of clean images for denoising (CBSD68, Kodak24, McMaster).

Paired layout: `image_SRF_{s}/img_NNN_SRF_{s}_{HR,LR}.png`. The clean sample is the HR image of
the chosen scale; the official LR files travel beside it (`dataset.lr_paths`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .common import (
    Catalog,
    Record,
    is_image,
    list_images,
    restoration_bundle,
    split_files,
)

PAIR = re.compile(r"^(?P<stem>.+)_SRF_(?P<scale>\d+)_(?P<kind>HR|LR)$")


def scales(root: Path) -> list[int]:
    return sorted(
        int(p.name.rsplit("_", 1)[1])
        for p in root.glob("image_SRF_*")
        if p.is_dir() and p.name.rsplit("_", 1)[1].isdigit()
    )


def sr_catalog(root: Path, scale: int | None = None, all_scales: bool = False) -> Catalog:
    """Records of HR images (with their LR partner in extra['lr']) at `scale` (default: smallest);
    with `all_scales`, every scale's pairs, split named x2, x3, ... (for inspection)."""
    found = scales(root)
    if not found:
        raise DataError(f"{root}: no image_SRF_<scale> folders (Set5/Set14 layout)")
    s = int(scale or found[0])
    if s not in found:
        raise DataError(f"{root}: no image_SRF_{s} folder; scales present: {found}")
    cat = Catalog("sr-pairs", root, [], notes={"scales": found, "scale": s})
    for sc in found:
        folder = root / f"image_SRF_{sc}"
        pairs: dict[str, dict[str, Path]] = {}
        for p in list_images(folder):
            m = PAIR.match(p.stem)
            if not m or int(m["scale"]) != sc:
                cat.problem(p, f"name does not match <name>_SRF_{sc}_HR|LR.<ext>")
                continue
            pairs.setdefault(m["stem"], {})[m["kind"]] = p
        for _stem, kinds in sorted(pairs.items()):
            if "HR" not in kinds or "LR" not in kinds:
                missing = "HR" if "HR" not in kinds else "LR"
                cat.problem(next(iter(kinds.values())), f"has no {missing} partner")
                continue
            if sc == s or all_scales:
                split = f"x{sc}" if all_scales else ""
                cat.records.append(
                    Record(split, kinds["HR"], extra={"lr": kinds["LR"], "scale": sc})
                )
    return cat


def folder_catalog(root: Path) -> Catalog:
    """Clean images for denoising: train|val|test subfolders when present, else one folder."""
    cat = Catalog("image-folder", root, [])
    subs = [s for s in ("train", "val", "test") if (root / s).is_dir()]
    for split in subs or [""]:
        for p in list_images(root / split if split else root):
            cat.records.append(Record(split, p))
    if not cat.records:
        hidden = [p for p in root.iterdir() if p.is_file() and not is_image(p)]
        why = f" (found {len(hidden)} non-image files)" if hidden else ""
        raise DataError(f"{root}: no images found{why}")
    return cat


def _bundle(name, task, cat: Catalog, split_seed, channels=3, all_test=False, **opts) -> DataBundle:
    cat.raise_if_problems()
    if all_test:  # an evaluation set: every image is test, nothing to train on
        splits = {"train": [], "val": [], "test": [r.image for r in cat.records]}
        how = f"evaluation set: all {len(cat.records)} images are test"
    elif all(r.split for r in cat.records) and {r.split for r in cat.records} >= {"train", "test"}:
        splits = {s: [r.image for r in cat.split(s)] for s in ("train", "val", "test")}
        if not splits["val"]:
            splits["val"] = splits["test"][:1]
        how = "official train/test folders" + (
            "" if cat.split("val") else "; val = first test image"
        )
    else:
        splits = split_files([r.image for r in cat.records], split_seed)
        how = f"no official split: image-level holdout 70/10/20, seed {split_seed}"
    lr_of = {r.image: r.extra.get("lr") for r in cat.records}
    lr = {k: [lr_of[p] for p in v] for k, v in splits.items()} if any(lr_of.values()) else None
    if lr:  # the run record says where the test inputs come from (SR papers use these)
        how += f"; SR test inputs: the set's own LR images (x{cat.notes['scale']})"
    keep = {k: v for k, v in opts.items() if k in ("patch_size", "patches_per_image")}
    return restoration_bundle(
        name,
        task,
        splits,
        how,
        int(channels),
        split_seed=split_seed,
        lr=lr,
        eval_only=all_test,
        **keep,
    )


@register_dataset(
    "sr-pairs",
    tasks=("restoration",),
    format="image_SRF_{2,3,4}/img_NNN_SRF_s_{HR,LR}.png (Set5/Set14/BSD100/Urban100 releases)",
    description="paired super-resolution benchmark folders; HR images are the clean samples",
    citation="Bevilacqua et al. 2012 (Set5); Zeyde et al. 2010 (Set14); Huang et al. 2015",
    how_to_point="--data sr-pairs:DIR (DIR/image_SRF_2/img_001_SRF_2_HR.png); --data-option scale=S",
    all_test=True,
)
def load_sr_pairs(task: str, root: Path, split_seed: int = 0, scale=None, **opts) -> DataBundle:
    return _bundle("sr-pairs", task, sr_catalog(root, scale), split_seed, **opts)


@register_dataset(
    "image-folder",
    tasks=("restoration",),
    format="a folder of clean images (optionally train|val|test subfolders)",
    description="clean images for denoising benchmarks (CBSD68, Kodak24, McMaster, ...); "
    "the task adds the noise",
    citation="Martin et al. 2001 (BSDS); Roth & Black 2005 (CBSD68 selection)",
    how_to_point="--data image-folder:DIR (DIR/*.png)",
    all_test=True,
)
def load_image_folder(task: str, root: Path, split_seed: int = 0, **opts) -> DataBundle:
    return _bundle("image-folder", task, folder_catalog(root), split_seed, **opts)
