"""Suites: named lists of jobs (task, model, dataset, protocol). `review` is the default.

The review suite is derived from the registries, not written by hand: every registered model on
every task it suits, so a model that lands in the registry is benchmarked without touching this
file. A model steers its own jobs through `ModelSpec.bench_jobs`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import VisionbenchError
from ..registry import Registry
from ..runs import run_name, safe_name

# Options that only shorten or lengthen training: they apply to --quick only, so --full keeps the
# model's recipe. Everything else (task/data/model options, image size) applies to both modes.
# A quick job's work is its epochs (the recipe's, or a bench_jobs `quick: {"epochs": N}`), sized
# so the quick suite fits about 10 minutes on 2 idle CPU cores; never a number of seconds.
LENGTH_KEYS = {"epochs", "time_budget", "patience"}


@dataclass(frozen=True)
class Job:
    task: str
    model: str
    data: str
    seed: int = 0
    quick: dict = field(default_factory=dict)  # TrainConfig overrides for --quick (2 CPU cores)
    full: dict = field(default_factory=dict)  # TrainConfig overrides for --full (one GPU)
    variant: str = ""  # tells apart two jobs of one model on one dataset (e.g. sr2, noise25)
    in_quick: bool | None = None  # None: --quick picks the family's cheapest model per setting
    label: str = ""  # the dataset's name when `data` holds a path (standard suite: 'Set5')

    @property
    def dataset(self) -> str:
        return self.label or self.data

    @property
    def setting(self) -> str:
        """Dataset plus protocol variant: what a leaderboard groups by."""
        return f"{self.dataset}-{self.variant}" if self.variant else self.dataset

    def run_name(self, seed: int) -> str:
        return run_name(self.model, self.setting, seed)

    @property
    def key(self) -> str:
        return f"{self.task}/{self.run_name(self.seed)}"

    def overrides(self, quick: bool) -> dict:
        return dict(self.quick if quick else self.full)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    fixed_jobs: tuple[Job, ...] = ()
    factory: Callable[..., tuple[list[Job], list[str]]] | None = (
        None  # jobs + notes on what's missing
    )
    needs_data_root: bool = False  # the factory takes the --data-root folder
    default_full: bool = False  # runs the models' full recipes unless --quick is given

    def expand(self, data_root: str | Path | None = None) -> tuple[list[Job], list[str]]:
        """The jobs and, for derived suites, notes on families/tasks that have no job yet."""
        if self.factory is None:
            return list(self.fixed_jobs), []
        if self.needs_data_root:
            if data_root is None:
                raise VisionbenchError(
                    f"suite '{self.name}' needs --data-root DIR (the folder holding the data sets)"
                )
            return self.factory(data_root)
        return self.factory()

    @property
    def jobs(self) -> tuple[Job, ...]:
        return () if self.needs_data_root else tuple(self.expand()[0])

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "jobs": [j.key for j in self.jobs],
        }


SUITES: Registry[Suite] = Registry("suite")


def job_from_overrides(model: str, task: str, entry: dict) -> Job:
    """A Job from a ModelSpec.bench_jobs entry (or a suite file row) of TrainConfig overrides."""
    entry = dict(entry)
    task = entry.pop("task", task)
    from ..tasks.base import TASKS

    task_cls = TASKS.get(task) if task in TASKS else None  # an unimplemented task: noted later
    default_data, default_opts = task_cls.suite_data if task_cls else ("", {})
    data = entry.pop("data", default_data)
    seed = int(entry.pop("seed", 0))
    quick, full = dict(entry.pop("quick", {})), dict(entry.pop("full", {}))
    variant = str(entry.pop("variant", ""))
    in_quick = entry.pop("in_quick", None)
    for k, v in entry.items():
        quick.setdefault(k, v)
        if k not in LENGTH_KEYS:
            full.setdefault(k, v)
    if data == default_data:
        for mode in (quick, full):
            mode["task_options"] = {**default_opts, **mode.get("task_options", {})}
    if task_cls and task_cls.quick_options:
        quick["task_options"] = {**task_cls.quick_options, **quick.get("task_options", {})}
    degradation = quick.get("task_options", {}).get("degradation")
    if not variant and degradation:
        variant = degradation.replace(":", "")
    return Job(task, model, data, seed, quick, full, variant, in_quick)


# Data efficiency (the review: ViTs need far more data than CNNs, hybrids sit between): one model
# of every classification family also trains on stratified shares of the digits training split.
# Each job keeps the model's recipe (the same epochs, so fewer optimiser steps on less data):
# fixed work, no seconds. --full: every family, 5 shares x 3 training seeds (the 100%, seed-0
# point is the model's own full run), for learning curves with intervals; --quick: the classic
# CNN, ViT and hybrid (the review's contrast), two shares, seed 0. The share of the training
# split is drawn with the split seed, so seeds vary initialisation and batch order, not the subset.
# mae_vit_nano is vit_nano's network and supervised recipe after self-supervised pre-training on
# the whole training split (labels unused), so its curve against vit_nano's is pre-training's gain.
DATA_EFFICIENCY_MODELS = (
    "lenet5",  # classic CNN
    "resnet_tiny",  # modern deep CNN
    "mobilenetv4_conv_small_050",  # mobile CNN
    "capsnet_tiny",  # capsule network
    "vit_nano",  # ViT
    "hybrid_nano",  # hybrid CNN-ViT
    "mae_vit_nano",  # modern autoencoder: vit_nano after masked-autoencoder pre-training
)
DATA_EFFICIENCY_IN_QUICK = ("lenet5", "vit_nano", "hybrid_nano", "mae_vit_nano")
DATA_EFFICIENCY_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 1.0)
DATA_EFFICIENCY_QUICK = (0.1, 0.25)
DATA_EFFICIENCY_SEEDS = (0, 1, 2)


def data_efficiency_jobs() -> list[Job]:
    """Classification jobs on fractions of the training split; run names end in `-fracF`."""
    return [
        job_from_overrides(
            model,
            "classification",
            {
                "train_fraction": f,
                "seed": seed,
                "variant": f"frac{f:g}",
                "in_quick": model in DATA_EFFICIENCY_IN_QUICK
                and f in DATA_EFFICIENCY_QUICK
                and seed == 0,
            },
        )
        for model in DATA_EFFICIENCY_MODELS
        for f in DATA_EFFICIENCY_FRACTIONS
        for seed in DATA_EFFICIENCY_SEEDS
        if not (f == 1.0 and seed == 0)
    ]


# Bias (the review's Sec. VI): the same classifiers on colored_digits, whose stroke colour agrees
# with the label in 95% of training images and at random in test, so a model that learned the
# colour shortcut fails on the bias-conflicting test images; the challenges measure the group
# gap on every such run. --quick: a CNN and a ViT, seed 0.
BIAS_DATA = "colored_digits"
BIAS_IN_QUICK = ("lenet5", "vit_nano")


def bias_jobs() -> list[Job]:
    """Classification jobs on the spurious-correlation set, one per data-efficiency model."""
    return [
        job_from_overrides(
            model, "classification", {"data": BIAS_DATA, "in_quick": model in BIAS_IN_QUICK}
        )
        for model in DATA_EFFICIENCY_MODELS
    ]


def review_jobs() -> tuple[list[Job], list[str]]:
    """Every registered model on every task it suits, on that task's embedded dataset."""
    from ..data.registry import DATASETS
    from ..families import FAMILIES
    from ..models.registry import MODELS
    from ..tasks.base import TASKS

    jobs: list[Job] = []
    notes: list[str] = []
    for spec in MODELS:
        entries = list(spec.bench_jobs) or [{"task": t} for t in spec.tasks]
        for entry in entries:
            job = job_from_overrides(spec.name, entry.get("task", spec.tasks[0]), entry)
            if job.task not in TASKS:
                notes.append(f"{spec.name}: task '{job.task}' is not implemented yet")
            elif not job.data or job.data not in DATASETS:
                notes.append(f"{spec.name}/{job.task}: dataset '{job.data}' is not registered yet")
            else:
                jobs.append(job)
    jobs += [j for j in (*data_efficiency_jobs(), *bias_jobs()) if j.model in MODELS]
    covered = {(MODELS.get(j.model).family, j.task) for j in jobs}
    for fam in FAMILIES:
        missing = [t for t in fam.tasks if (fam.key, t) not in covered]
        if missing:
            notes.append(f"{fam.name}: no job for {', '.join(missing)} (no registered model)")
    return jobs, notes


# Native input side and channels of the embedded sets, to rank models by cost without loading data.
NATIVE = {
    "digits": (8, 1),
    "faces": (25, 1),
    "photos": (48, 3),
    "shapes": (64, 3),
    "textures": (64, 3),
}


def job_cost(job: Job) -> float:
    """Forward FLOPs per image at the size the job trains on: a model's cost on 2 CPU cores."""
    import torch

    from ..models.flops import count_flops
    from ..models.registry import MODELS, create_model

    spec = MODELS.get(job.model)
    native, chans = NATIVE.get(job.data, (spec.default_img_size, 3))
    size = spec.input_size(native)
    if job.variant.startswith("sr"):
        size = max(1, size // int(job.variant[2:] or 2))
    kw = dict(job.quick.get("model_kwargs", {}))
    for device in ("meta", "cpu"):  # meta: shapes only, no weight init, no memory
        try:
            with torch.device(device):
                model = create_model(
                    job.model, task=job.task, num_classes=10, in_chans=chans, img_size=size, **kw
                )
                return float(count_flops(model, torch.rand(1, chans, size, size)))
        except Exception:  # a model that cannot be built here is not the cheap one
            continue
    return float("inf")


def quick_selection(jobs: list[Job]) -> tuple[list[Job], list[str]]:
    """--quick keeps, per (family, task, setting), the cheapest model, plus every job whose model
    opts in (`in_quick: True` in its bench_jobs); the others run with --full or --only model=."""
    from ..models.registry import MODELS

    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault((MODELS.get(job.model).family, job.task, job.setting), []).append(job)
    keep: set[str] = set()
    for members in groups.values():
        chosen = [j for j in members if j.in_quick]
        candidates = [j for j in members if j.in_quick is None]
        if not chosen and candidates:
            chosen = [candidates[0] if len(candidates) == 1 else min(candidates, key=job_cost)]
        keep |= {j.key for j in chosen}
    kept = [j for j in jobs if j.key in keep]
    # named with the setting: capsnet_tiny runs on digits but not on colored_digits, and
    # "capsnet_tiny (classification)" read as if it did not run at all
    settings: dict[tuple[str, str], set[str]] = {}
    for j in jobs:
        if j.key not in keep:
            settings.setdefault((j.model, j.task), set()).add(j.setting)
    left = [f"{m} ({t} on {', '.join(sorted(s))})" for (m, t), s in sorted(settings.items())]
    why = "per family, task and setting the cheapest model runs, and the models that opt in"
    notes = [f"left out of --quick ({why}; --full runs all): {', '.join(left)}"] if left else []
    return kept, notes


def load_suite_file(path: str | Path) -> Suite:
    """A suite from YAML: `name`, `description`, `jobs: [{task, model, data, ...overrides}]`."""
    from ..config import load_yaml

    d = load_yaml(path)
    rows = d.get("jobs")
    if not isinstance(rows, list) or not rows:
        raise VisionbenchError(f"suite file {path} needs a non-empty list 'jobs'")
    jobs = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or "model" not in row or "task" not in row:
            raise VisionbenchError(f"suite file {path}: job {i + 1} needs 'task' and 'model'")
        row = dict(row)
        for key in ("task", "model"):  # both become folder names
            safe_name(row[key], f"suite file {path}: job {i + 1} {key}")
        jobs.append(job_from_overrides(row.pop("model"), row["task"], row))
    name = d.get("name") or Path(path).stem
    safe_name(name, f"suite file {path}: name")  # it becomes a folder under --out
    return Suite(name, str(d.get("description", "")), tuple(jobs))


def get_suite(name: str) -> Suite:
    """A registered suite by name, or a suite YAML file by path."""
    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        return load_suite_file(name)
    return SUITES.get(name)


SUITES.add(
    "review",
    Suite(
        "review",
        "every registered model on every task it suits, on embedded data",
        factory=review_jobs,
    ),
)


def standard_jobs(found) -> tuple[list[Job], list[str]]:
    """The standard suite's jobs for the sets `found` under a data root (bench/standard.py);
    the set's name, not its path, names the runs and the leaderboards."""
    from .standard import standard_job_specs

    specs, notes = standard_job_specs(found)
    jobs = [
        dataclasses.replace(job_from_overrides(j.model, j.task, j.overrides), label=j.label)
        for j in specs
    ]
    return jobs, notes


def _standard(data_root) -> tuple[list[Job], list[str]]:
    from .standard import find_sets

    return standard_jobs(find_sets(data_root))


SUITES.add(
    "standard",
    Suite(
        "standard",
        "the review's datasets found under --data-root DIR by their usual folder names; every "
        "model on every task each set suits, full recipes",
        factory=_standard,
        needs_data_root=True,
        default_full=True,
    ),
)
SUITES.add(
    "smoke",
    Suite(
        "smoke",
        "two tiny jobs that check the whole pipeline in seconds",
        (
            Job("classification", "lenet5", "digits", quick={"epochs": 2}, full={"epochs": 2}),
            Job(
                "restoration",
                "dae",
                "photos",
                quick={
                    "epochs": 1,
                    "data_options": {"patches_per_image": 16},
                    "task_options": {"degradation": "noise:25"},
                },
                full={"epochs": 1, "task_options": {"degradation": "noise:25"}},
                variant="noise25",
            ),
        ),
    ),
)


def job_dict(job: Job) -> dict:
    return asdict(job)
