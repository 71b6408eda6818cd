"""CelebA: img_align_celeba/*.jpg, list_attr_celeba.txt (+1/-1 per attribute) and
list_eval_partition.txt (0 train, 1 val, 2 test). Any attribute is the label and any other the
group, so per-group metrics (the review's bias challenge) can be measured.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import DataError
from ..registry import DataBundle, register_dataset
from .common import Catalog, Record, classification_bundle, read_text

PARTITIONS = {"0": "train", "1": "val", "2": "test"}


def find(root: Path, name: str) -> Path:
    for p in (root / name, root / "Anno" / name, root / "Eval" / name, root / "celeba" / name):
        if p.exists():
            return p
    raise DataError(f"{root}: CelebA {name} not found")


def read_attributes(path: Path) -> tuple[list[str], dict[str, list[int]]]:
    lines = read_text(path).splitlines()
    if len(lines) < 2:
        raise DataError(f"{path}: expected a count line, an attribute-name line, then rows")
    names = lines[1].split()
    rows = {}
    for n, line in enumerate(lines[2:], 3):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1 or any(v not in ("1", "-1") for v in parts[1:]):
            raise DataError(f"{path}:{n}: expected a file name and {len(names)} values of 1/-1")
        rows[parts[0]] = [int(v == "1") for v in parts[1:]]
    return names, rows


def catalog(root: Path, attribute: str = "Smiling", group: str | None = "Male") -> Catalog:
    names, rows = read_attributes(find(root, "list_attr_celeba.txt"))
    for a in (attribute, group):
        if a is not None and a not in names:
            raise DataError(f"{root}: unknown CelebA attribute '{a}'; valid: {', '.join(names)}")
    images = find(root, "img_align_celeba")
    if (images / "img_align_celeba").is_dir():
        images = images / "img_align_celeba"
    part_file = find(root, "list_eval_partition.txt")
    cat = Catalog("celeba", root, [], classes=[f"not {attribute}", attribute], official_split=True)
    cat.notes |= {"attribute": attribute, "group": group}
    ai, gi = names.index(attribute), names.index(group) if group else None
    for n, line in enumerate(read_text(part_file).splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in PARTITIONS:
            cat.problem(f"{part_file}:{n}", "expected '<file> 0|1|2'")
            continue
        if parts[0] not in rows:
            cat.problem(f"{part_file}:{n}", f"{parts[0]} has no row in list_attr_celeba.txt")
            continue
        v = rows[parts[0]]
        rec = Record(PARTITIONS[parts[1]], images / parts[0], label=v[ai])
        rec.group = v[gi] if gi is not None else None
        cat.records.append(rec)
    return cat


@register_dataset(
    "celeba",
    tasks=("classification", "generation"),
    format="img_align_celeba/*.jpg, list_attr_celeba.txt, list_eval_partition.txt",
    description="202,599 aligned celebrity faces with 40 binary attributes; official split; "
    "label = data option attribute (default Smiling), group = option group (default Male)",
    license="CelebA terms (non-commercial research)",
    citation="Liu et al. 2015, Deep learning face attributes in the wild",
    how_to_point="--data celeba:DIR (DIR/img_align_celeba, DIR/list_attr_celeba.txt, ...); "
    "--data-option attribute=Eyeglasses --data-option group=Young",
)
def load_celeba(
    task: str,
    root: Path,
    split_seed: int = 0,
    attribute: str = "Smiling",
    group: str | None = "Male",
    img_size: int = 64,
    preload=None,
    **_,
) -> DataBundle:
    cat = catalog(root, attribute, group)
    cat.raise_if_problems()
    return classification_bundle(cat, "celeba", task, "official partition", img_size, preload)
