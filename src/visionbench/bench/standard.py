"""The `standard` suite: the review's datasets (its Table 2) found under one data root by their
usual folder names, every registered model on every task each set suits, with full recipes.

A set that is not under the root is listed as "skipped: not found under DIR", not failed, so one
command serves a machine with two of the sets and one with all of them. What a set is used for
comes from the dataset registry (the tasks its reader serves); `settings` only adds the protocol
variants the papers report (SR scales, noise levels). Evaluation-only sets (ImageNet-V2/-R,
CIFAR-10.1) get no training job: they score runs of their source set through
`visionbench eval RUN --data NAME:PATH`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import VisionbenchError


@dataclass(frozen=True)
class StandardSet:
    name: str  # as the review writes it; also the run folders' setting
    format: str  # a registered dataset reader
    folders: tuple[str, ...]  # usual folder names, compared case-insensitively
    # protocol variants: job overrides ({"task_options": ..., "data_options": ...}) per variant
    settings: tuple[dict, ...] = ({},)
    evaluates: str = ""  # evaluation-only: the set whose runs it scores


_SR = (
    {"task_options": {"degradation": "sr:2"}, "data_options": {"scale": 2}},
    {"task_options": {"degradation": "sr:4"}, "data_options": {"scale": 4}},
)
_NOISE = ({"task_options": {"degradation": "noise:25"}},)

STANDARD_SETS: tuple[StandardSet, ...] = (
    StandardSet("MNIST", "mnist", ("MNIST", "mnist")),
    StandardSet("Fashion-MNIST", "fashion-mnist", ("Fashion-MNIST", "FashionMNIST")),
    StandardSet("CIFAR-10", "cifar10", ("CIFAR-10", "cifar10", "cifar-10-batches-py")),
    StandardSet("CIFAR-10.1", "cifar10.1", ("CIFAR-10.1", "cifar10.1"), evaluates="CIFAR-10"),
    StandardSet("CIFAR-100", "cifar100", ("CIFAR-100", "cifar100", "cifar-100-python")),
    StandardSet("Tiny ImageNet", "tiny-imagenet", ("tiny-imagenet-200", "tiny-imagenet")),
    StandardSet("ImageNet", "imagenet", ("ImageNet", "ILSVRC2012", "imagenet-1k")),
    StandardSet(
        "ImageNet-V2",
        "imagenet-v2",
        ("ImageNet-V2", "imagenetv2-matched-frequency-format-val", "imagenetv2"),
        evaluates="ImageNet",
    ),
    StandardSet("ImageNet-R", "imagenet-r", ("ImageNet-R",), evaluates="ImageNet"),
    StandardSet("COCO", "coco", ("COCO", "coco2017")),
    StandardSet("Pascal VOC", "voc", ("VOCdevkit", "VOC2012", "VOC", "Pascal-VOC")),
    StandardSet("Cityscapes", "cityscapes", ("Cityscapes",)),
    StandardSet("CelebA", "celeba", ("CelebA",)),
    StandardSet("LSUN", "lsun", ("LSUN",)),
    StandardSet("Open Images", "openimages", ("OpenImages", "open-images", "open_images")),
    StandardSet("MVTec AD", "mvtec-ad", ("mvtec_anomaly_detection", "MVTec-AD", "mvtec")),
    *(StandardSet(n, "sr-pairs", (n,), _SR) for n in ("Set5", "Set14", "BSD100", "Urban100")),
    *(StandardSet(n, "image-folder", (n,), _NOISE) for n in ("CBSD68", "Kodak24", "McMaster")),
)


@dataclass
class Found:
    """Where each standard set was found under a data root (None: not there)."""

    root: Path
    paths: dict[str, Path | None] = field(default_factory=dict)

    def rows(self) -> list[dict]:
        """For the report's Table 2: every review dataset, used or skipped (and why)."""
        out = []
        for s in STANDARD_SETS:
            p = self.paths.get(s.name)
            if p is None:
                status = f"skipped: not found under {self.root}"
            elif s.evaluates:
                status = f"found at {p}; evaluation only (runs on {s.evaluates}: visionbench eval)"
            else:
                status = f"used: {p}"
            out.append({"name": s.name, "format": s.format, "status": status, "path": p})
        return out


def find_sets(root: str | Path, depth: int = 2) -> Found:
    """Each standard set's folder under `root` (the root itself, its children, grandchildren),
    matched by the usual folder names, case-insensitively; the shallowest match wins."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise VisionbenchError(f"--data-root {root}: not a folder")
    by_name: dict[str, Path] = {}
    level = [root]
    for _ in range(depth):
        nxt = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:
                continue
            for child in children:
                by_name.setdefault(child.name.lower(), child)
                nxt.append(child)
        level = nxt
    found = Found(root)
    for s in STANDARD_SETS:
        found.paths[s.name] = next(
            (by_name[f.lower()] for f in s.folders if f.lower() in by_name), None
        )
    return found


def _kind(value) -> str:
    """A protocol option's kind: 'sr' of 'sr:4', the whole value otherwise."""
    return str(value).split(":", 1)[0]


def _fits(entry: dict, setting: dict) -> bool:
    """A model's bench entry fits a set's variant when it names each of the variant's task options
    with a value of the same kind (an SR model's 'sr:2' entry fits 'sr:4', not 'noise:25')."""
    mine = entry.get("task_options", {})
    want = setting.get("task_options", {})
    return all(k in mine and _kind(mine[k]) == _kind(v) for k, v in want.items())


@dataclass(frozen=True)
class JobSpec:
    """One standard-suite job before it becomes a suites.Job: TrainConfig overrides in the
    form suites.job_from_overrides takes, and the set's name for the run folders."""

    model: str
    task: str
    overrides: dict
    label: str


def standard_job_specs(found: Found) -> tuple[list[JobSpec], list[str]]:
    """Every registered model on every task each found set suits, one job per protocol variant."""
    from ..data.registry import DATASETS
    from ..models.registry import MODELS

    jobs: list[JobSpec] = []
    notes: list[str] = []
    for s in STANDARD_SETS:
        path = found.paths.get(s.name)
        if path is None:
            notes.append(f"{s.name}: skipped: not found under {found.root}")
            continue
        if s.evaluates or s.format not in DATASETS:
            continue
        tasks = DATASETS.get(s.format).tasks
        for spec in MODELS:
            entries = list(spec.bench_jobs) or [{"task": t} for t in spec.tasks]
            for setting in s.settings:
                seen: set[str] = set()
                for entry in entries:
                    task = entry.get("task", spec.tasks[0])
                    if task not in tasks or task in seen or not _fits(entry, setting):
                        continue
                    seen.add(task)
                    over = _overrides(s, path, entry, setting)
                    jobs.append(JobSpec(spec.name, task, over, s.name))
    return jobs, notes


def _overrides(s: StandardSet, path: Path, entry: dict, setting: dict) -> dict:
    over = {k: v for k, v in entry.items() if k not in ("data", "variant", "quick", "in_quick")}
    for k in ("task_options", "data_options"):
        over[k] = {**over.get(k, {}), **setting.get(k, {})}
    degradation = over["task_options"].get("degradation", "")
    over["variant"] = degradation.replace(":", "")
    over["data"] = f"{s.format}:{path}"
    return over
