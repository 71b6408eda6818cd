"""DatasetSpec, DataInfo, DataBundle and `load_dataset`: how a name (and a path) becomes splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from ..errors import VisionbenchError
from ..registry import Registry


@dataclass
class DataInfo:
    """What a task and a model need to know about the data, saved with every run."""

    name: str
    task: str
    in_chans: int
    img_size: int  # native side length (square sets) or patch size (restoration)
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    split: str = ""  # how train/val/test were made, in words
    scale: str = "small"  # small | medium | large: picks the model's recipe

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DataBundle:
    info: DataInfo
    train: Dataset
    val: Dataset
    test: Dataset
    # training images a run may use without their labels (self-supervised pre-training): the
    # whole training split when `subsample_train` keeps a labelled share; None: `train` itself
    unlabelled: Dataset | None = None

    @property
    def pretraining_images(self) -> Dataset:
        return self.train if self.unlabelled is None else self.unlabelled


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset. `loader(task=..., root=..., split_seed=..., **options)` -> DataBundle."""

    name: str
    tasks: tuple[str, ...]
    loader: Callable[..., DataBundle]
    format: str
    description: str
    embedded: bool = False  # needs no path
    license: str = ""
    citation: str = ""
    how_to_point: str = ""
    # the loader takes `all_test=True`: every image becomes test (cross-dataset evaluation)
    all_test: bool = False
    # Rows of the review's Table 2 (their Dataset cell) this embedded set stands in for when the
    # real one is not on disk; the report names it as a stand-in, never as the dataset itself.
    stands_in_for: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("loader")
        d["stands_in_for"] = list(self.stands_in_for)
        d["tasks"] = list(self.tasks)
        return d


def _load_datasets() -> None:
    from . import embedded, formats, synthetic  # noqa: F401


DATASETS: Registry[DatasetSpec] = Registry("dataset", loader=_load_datasets)


def register_dataset(name: str, **kw) -> Callable:
    def wrap(loader):
        DATASETS.add(name, DatasetSpec(name=name, loader=loader, **kw))
        return loader

    return wrap


def parse_data_arg(data: str) -> tuple[str, Path | None]:
    """`NAME`, `NAME:PATH` or a bare PATH (format detection is the formats module's job)."""
    if ":" in data:
        name, path = data.split(":", 1)
        return name, Path(path).expanduser()
    if data in DATASETS:
        return data, None
    p = Path(data).expanduser()
    if p.exists() or "/" in data:
        return "", p
    return data, None


def load_dataset(data: str, task: str, *, split_seed: int = 0, **options) -> DataBundle:
    """Load a dataset by `NAME`, `NAME:PATH` or PATH for `task`, with deterministic splits."""
    name, root = parse_data_arg(data)
    if not name:
        name = detect_format(root)
    spec = DATASETS.get(name)
    if task not in spec.tasks:
        raise VisionbenchError(
            f"dataset '{name}' does not serve task '{task}'; it serves: {', '.join(spec.tasks)}"
        )
    if root is None and not spec.embedded:
        raise VisionbenchError(f"dataset '{name}' needs a path: --data {name}:PATH")
    if root is not None and not root.exists():
        raise VisionbenchError(f"dataset path not found: {root}")
    return spec.loader(task=task, root=root, split_seed=split_seed, **options)


def detect_format(root: Path | None) -> str:
    """Guess a dataset's format from its layout; the formats module extends this."""
    if root is None or not root.exists():
        raise VisionbenchError(f"dataset path not found: {root}")
    try:
        from .formats import detect  # provided by the dataset-formats module when present
    except ImportError:
        raise VisionbenchError(
            f"cannot detect the format of {root}; name it: --data NAME:{root}"
        ) from None
    return detect(root)


def subsample_train(bundle: DataBundle, fraction: float, seed: int = 0) -> DataBundle:
    """The bundle with only a stratified, seeded `fraction` of its training split.

    Validation and test stay untouched, so accuracies at different fractions are measured on the
    same images. Labelled in-memory sets are stratified; unlabelled ones get a seeded random share.
    The whole training split stays as `unlabelled` (its images only): a model that pre-trains
    without labels sees all of it, as semi-supervised learning would, and trains on labels only
    in the share.
    """
    import dataclasses

    import numpy as np

    from .splits import stratified_subset
    from .tensors import TensorSet

    if not 0.0 < fraction <= 1.0:
        raise VisionbenchError(f"train_fraction must be in (0, 1], got {fraction}")
    train = bundle.train
    if not isinstance(train, TensorSet):
        raise VisionbenchError(
            f"train_fraction needs an in-memory dataset; '{bundle.info.name}' is read from files"
        )
    n = len(train)
    if train.labels is not None:
        keep = stratified_subset(train.labels.numpy(), fraction, seed)
    else:
        keep = np.sort(np.random.default_rng(seed).permutation(n)[: max(1, int(fraction * n))])
    sizes = {**bundle.info.sizes, "train": len(keep)}
    split = (
        f"{bundle.info.split}; train subsampled to {fraction:g} ({len(keep)} of {n}, seed {seed})"
    )
    info = dataclasses.replace(bundle.info, sizes=sizes, split=split.lstrip("; "))
    unlabelled = bundle.unlabelled if bundle.unlabelled is not None else TensorSet(train.images)
    return dataclasses.replace(bundle, info=info, train=train.subset(keep), unlabelled=unlabelled)
