"""MVTec AD: <category>/train/good, <category>/test/<defect|good>, <category>/ground_truth/<defect>/
<name>_mask.png. Anomaly detection: train on good images only; test on good + defective.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .annotated import AnomalySet, annotated_bundle
from .common import Catalog, Record, carve, list_images


def is_category(path: Path) -> bool:
    return (path / "train" / "good").is_dir() and (path / "test").is_dir()


def categories(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_category(p))


def catalog(root: Path, category: str | None = None) -> Catalog:
    if is_category(root):
        base = root
    else:
        found = categories(root) if root.is_dir() else []
        if not found:
            raise DataError(f"{root}: no MVTec AD category (<cat>/train/good, <cat>/test) found")
        name = category or found[0]
        if name not in found:
            raise DataError(
                f"{root}: unknown MVTec AD category '{name}'; found: {', '.join(found)}"
            )
        base = root / name
    cat = Catalog("mvtec-ad", base, [], classes=["good", "defect"], official_split=True)
    cat.notes["category"] = base.name
    cat.records += [Record("train", p, label=0) for p in list_images(base / "train" / "good")]
    for d in sorted(p for p in (base / "test").iterdir() if p.is_dir()):
        for p in list_images(d):
            rec = Record("test", p, label=int(d.name != "good"))
            if rec.label:
                rec.mask = base / "ground_truth" / d.name / f"{p.stem}_mask.png"
                if not rec.mask.is_file():
                    cat.problem(rec.mask, "ground-truth mask of a defective image not found")
            cat.records.append(rec)
    if not cat.split("train"):
        raise DataError(f"{base / 'train' / 'good'}: no training images")
    return cat


@register_dataset(
    "mvtec-ad",
    tasks=("anomaly",),
    format="<category>/train/good, <category>/test/<defect>, <category>/ground_truth/<defect>",
    description="MVTec AD industrial anomaly detection (15 categories); one category per run "
    "(data option category=bottle); val = 10% of train/good",
    license="CC BY-NC-SA 4.0",
    citation="Bergmann et al. 2019, MVTec AD",
    how_to_point="--data mvtec-ad:DIR (DIR/bottle/train/good, ...); --data-option category=NAME",
)
def load_mvtec(
    task: str, root: Path, split_seed: int = 0, category=None, img_size: int = 128, **_
) -> DataBundle:
    cat = catalog(root, category)
    cat.raise_if_problems()
    train = cat.split("train")
    _, v = carve(cat.labels("train"), 0.1, split_seed, stratify=False)
    for i in v:
        train[i].split = "val"
    how = f"official train/test; val = 10% of train/good, seed {split_seed}"
    sets = {s: AnomalySet(cat.split(s), img_size) for s in ("train", "val", "test")}
    name = f"mvtec-ad/{cat.notes['category']}"
    return annotated_bundle(name, task, cat, sets, how, 2, ["good", "defect"], img_size)
