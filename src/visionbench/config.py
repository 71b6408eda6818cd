"""The resolved configuration of one training run: every CLI option, loadable from YAML.

`check_options` is the one validator of these options, whichever way they enter (a CLI flag, a
YAML file, a suite job, the Python API): types and ranges, one line naming the key and its source,
before any data is loaded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .errors import VisionbenchError
from .files import read_yaml, write_yaml


@dataclass
class TrainConfig:
    task: str = ""
    model: str = ""
    data: str = ""
    seed: int = 0
    split_seed: int = 0  # the data split; fixed across training seeds so runs share one test set
    out: str = "runs"
    run_dir: str = ""  # explicit run folder; default <out>/<task>/<model>__<data>__s<seed>
    # the leaderboard group a suite files the run under (dataset plus protocol variant);
    # default: the dataset's name
    setting: str = ""
    # training; None means "the model's recipe for this data scale"
    epochs: int | None = None
    # self-supervised pre-training epochs (a model with a pre-training loss, e.g. mae_vit_nano)
    pretrain_epochs: int | None = None
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
    force: bool = False  # replace a finished run in the same folder
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
        return cls(**check_options(d, source))

    def validate(self, source: str = "TrainConfig") -> TrainConfig:
        """Self, after checking every field; raises one line naming the field and `source`."""
        check_options(self.to_dict(), source)
        return self


# (kind, lowest, lowest allowed itself?, highest) or (kind, choices) per option; kinds: int,
# float, str, bool, dict, a list of strings (each one of the choices)
_INT, _FLOAT, _STR, _BOOL, _DICT, _STRS = (
    "an integer",
    "a number",
    "a string",
    "true or false",
    "a mapping",
    "a list of strings",
)
RULES: dict[str, tuple] = {
    "task": (_STR,),
    "model": (_STR,),
    "data": (_STR,),
    "seed": (_INT, 0, True),
    "split_seed": (_INT, 0, True),
    "out": (_STR,),
    "run_dir": (_STR,),
    "setting": (_STR,),
    "epochs": (_INT, 1, True),
    "pretrain_epochs": (_INT, 0, True),
    "batch_size": (_INT, 1, True),
    "lr": (_FLOAT, 0, False),
    "optimizer": (_STR,),  # adamw | adam | sgd | a timm name: the optimizer factory checks it
    "schedule": (_STR, ("cosine", "onecycle", "constant")),
    "weight_decay": (_FLOAT, 0, True),
    "augment": (_STR,),  # each task knows its own augmentations and names them in its error
    "time_budget": (_FLOAT, 0, False),
    "patience": (_INT, 1, True),
    "train_fraction": (_FLOAT, 0, False, 1),
    "resume": (_BOOL,),
    "force": (_BOOL,),
    "device": (_STR,),
    "precision": (_STR, ("fp32", "bf16", "fp16")),
    "channels_last": (_BOOL,),
    "compile": (_BOOL,),
    "workers": (_INT, 0, True),
    "threads": (_INT, 1, True),
    "img_size": (_INT, 1, True),
    "model_kwargs": (_DICT,),
    "task_options": (_DICT,),
    "data_options": (_DICT,),
    "quiet": (_BOOL,),
    "weights": (_STR,),
    "loggers": (_STRS, ("tensorboard", "mlflow")),
}
OPTIONAL = {"epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "augment"}
OPTIONAL |= {
    "pretrain_epochs",
    "time_budget",
    "patience",
    "train_fraction",
    "threads",
    "img_size",
    "weights",
}


def _is(kind: str, v) -> bool:
    if kind == _INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if kind == _FLOAT:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if kind == _STR:
        return isinstance(v, str)
    if kind == _BOOL:
        return isinstance(v, bool)
    if kind == _STRS:
        return isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)
    return isinstance(v, dict) and all(isinstance(k, str) for k in v)


def _problem(key: str, v) -> str | None:
    kind, *rest = RULES[key]
    if v is None and key in OPTIONAL:
        return None
    if not _is(kind, v):
        return f"must be {kind}" + (" with text keys" if kind == _DICT else "")
    if rest and isinstance(rest[0], tuple):
        bad = [x for x in v if x not in rest[0]] if kind == _STRS else [v] * (v not in rest[0])
        return f"must be one of {', '.join(rest[0])}" if bad else None
    if rest:
        low, inclusive, *high = rest
        if v < low or (v == low and not inclusive) or (high and v > high[0]):
            rng = f">= {low}" if inclusive else f"> {low}"
            return f"must be {rng}" + (f" and <= {high[0]}" if high else "")
    return None


def check_options(d: dict, source: str = "config", flags: bool = False) -> dict:
    """`d` (option -> value) with floats given as integers made floats; raises on the first
    unknown key, wrong type or value out of range, naming the key and `source`. `flags`: the
    options came from the command line, so they are named as flags (--batch-size)."""
    if not isinstance(d, dict):
        raise VisionbenchError(f"{source} must be a mapping of option: value")
    unknown = set(d) - set(RULES)
    if unknown:
        raise VisionbenchError(f"unknown option(s) in {source}: {', '.join(sorted(unknown))}")
    out = {}
    for key, v in d.items():
        problem = _problem(key, v)
        if problem:
            name = f"--{key.replace('_', '-')}" if flags else f"'{key}'"
            shown = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
            raise VisionbenchError(f"{source}: {name} {problem}, got {shown}")
        out[key] = float(v) if RULES[key][0] == _FLOAT and v is not None else v
    return out


def load_yaml(path: str | Path) -> dict:
    """Read a YAML mapping (a run folder means its config.yaml), failing with the file name."""
    p = Path(path)
    if p.is_dir() and (p / "config.yaml").exists():
        p = p / "config.yaml"
    return read_yaml(p)


def save_yaml(d: dict, path: Path) -> None:
    write_yaml(d, path)
