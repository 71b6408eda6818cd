"""The resolved configuration of one training run: every CLI option, loadable from YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import yaml

from .errors import VisionbenchError


@dataclass
class TrainConfig:
    task: str = ""
    model: str = ""
    data: str = ""
    seed: int = 0
    split_seed: int = 0  # the data split; fixed across training seeds so runs share one test set
    out: str = "runs"
    run_dir: str = ""  # explicit run folder; default <out>/<task>/<model>__<data>__s<seed>
    # training; None means "the model's recipe for this data scale"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    schedule: str | None = None
    weight_decay: float | None = None
    augment: str | None = None
    time_budget: float | None = None  # seconds of training; then stop cleanly and evaluate
    patience: int | None = None  # early stopping on the validation metric
    # data efficiency: train on a stratified, seeded share of the training split (val/test kept)
    train_fraction: float | None = None
    resume: bool = False
    # hardware
    device: str = "cpu"
    precision: str = "fp32"  # fp32 | bf16 | fp16
    channels_last: bool = False
    compile: bool = False
    workers: int = 0
    threads: int | None = None
    # model / task options
    img_size: int | None = None
    model_kwargs: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)  # e.g. {"degradation": "noise:25"}
    data_options: dict = field(default_factory=dict)
    quiet: bool = False
    # a local weights file (safetensors, or torch read with weights_only) the model starts from
    weights: str | None = None
    loggers: list = field(default_factory=list)  # experiment trackers: tensorboard, mlflow

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> TrainConfig:
        unknown = set(d) - cls.field_names()
        if unknown:
            raise VisionbenchError(f"unknown option(s) in {source}: {', '.join(sorted(unknown))}")
        return cls(**d)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping, failing with the file name and the reason."""
    p = Path(path)
    if p.is_dir() and (p / "config.yaml").exists():
        p = p / "config.yaml"
    try:
        text = p.read_text()
    except OSError as e:
        raise VisionbenchError(f"cannot read config {p}: {e.strerror or e}") from None
    try:
        d = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise VisionbenchError(f"invalid YAML in {p}: {str(e).splitlines()[0]}") from None
    if not isinstance(d, dict):
        raise VisionbenchError(f"config {p} must be a mapping of option: value")
    return d


def save_yaml(d: dict, path: Path) -> None:
    path.write_text(yaml.safe_dump(d, sort_keys=False))
