"""ModelSpec, Recipe and `create_model`: how a name becomes a network for a task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch.nn as nn

from ..errors import VisionbenchError
from ..registry import Registry


@dataclass(frozen=True)
class Recipe:
    """Training hyper-parameters that suit a model on a size of data; they live next to the model."""

    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 1e-3
    weight_decay: float = 0.05
    schedule: str = "cosine"  # cosine | onecycle | constant
    warmup_epochs: float = 0.0
    epochs: int = 10
    batch_size: int = 64
    augment: str = "none"  # none | shift | flip_crop
    label_smoothing: float = 0.0
    momentum: float = 0.9
    # self-supervised epochs before the supervised ones, for a model with a pre-training loss
    # (a masked autoencoder): on the unlabelled training images, tasks/pretraining.py
    pretrain_epochs: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its family, the tasks it supports and how to build it.

    `builder(task=..., num_classes=..., in_chans=..., img_size=..., **kw)` returns an nn.Module.
    `recipes` maps a data scale ("small", "medium") to a Recipe, per task if the model has
    several tasks: keys are "<task>/<scale>" or just "<scale>".
    """

    name: str
    family: str
    tasks: tuple[str, ...]
    builder: Callable[..., nn.Module]
    source: str = "visionbench"  # visionbench | timm:<name> | torchvision:<name>
    description: str = ""
    default_img_size: int = 32
    min_img_size: int = 1
    fixed_img_size: bool = False  # True when the architecture needs exactly default_img_size
    recipes: dict[str, Recipe] = field(default_factory=dict)
    card: str = ""  # notes a user must know (input resizing, missing pretrained losses, ...)
    # Jobs of the review suite for this model: TrainConfig overrides, optionally with "task" and
    # "data" (default: one job per supported task on that task's embedded dataset).
    bench_jobs: tuple[dict, ...] = ()
    # options a builder reads from `**kw` itself (beyond its named parameters), for
    # check_model_kwargs; a builder that forwards `**kw` elsewhere needs none
    model_args: tuple[str, ...] = ()

    def recipe(self, task: str, scale: str = "small") -> Recipe:
        for key in (f"{task}/{scale}", scale, f"{task}/small", "small"):
            if key in self.recipes:
                return self.recipes[key]
        return Recipe()

    def input_size(self, data_size: int) -> int:
        """The size the transform resizes inputs to, given the dataset's native size."""
        if self.fixed_img_size:
            return self.default_img_size
        return max(data_size, self.min_img_size)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "family": self.family,
            "tasks": list(self.tasks),
            "source": self.source,
            "description": self.description,
            "default_img_size": self.default_img_size,
            "min_img_size": self.min_img_size,
            "card": self.card,
        }


def _load_models() -> None:
    from . import _all  # noqa: F401  (imports every model file, which registers itself)


MODELS: Registry[ModelSpec] = Registry("model", loader=_load_models)


def register_model(
    name: str,
    *,
    family: str,
    tasks: tuple[str, ...] | list[str],
    **kw,
) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator in timm's style: `@register_model("lenet5", family="classic_cnn", tasks=[...])`."""
    from ..families import FAMILIES

    FAMILIES.get(family)  # fail at import time on a typo

    def wrap(builder):
        MODELS.add(
            name, ModelSpec(name=name, family=family, tasks=tuple(tasks), builder=builder, **kw)
        )
        return builder

    return wrap


BUILDER_ARGS = ("task", "num_classes", "in_chans", "img_size")  # set by visionbench itself


def check_model_kwargs(spec: ModelSpec, kwargs: dict, source: str = "--model-arg") -> None:
    """Refuse options the model's builder would not use, from its signature: its own named
    parameters and its declared `model_args` (what it picks out of `**kw`) are accepted; a `**kw`
    it forwards whole (to timm or a module) accepts any name, and a wrong one then fails when the
    model is built (see `build_with`); a `**_` swallows silently, so only named ones count."""
    import inspect

    params = inspect.signature(spec.builder).parameters.values()
    named = {
        p.name
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in BUILDER_ARGS
    }
    named |= set(spec.model_args)
    forwards = not spec.model_args and any(
        p.kind == p.VAR_KEYWORD and not p.name.startswith("_") for p in params
    )
    reserved = [k for k in kwargs if k in BUILDER_ARGS]
    unknown = reserved or ([] if forwards else [k for k in kwargs if k not in named])
    if unknown:
        valid = ", ".join(sorted(named)) or "none"
        raise VisionbenchError(
            f"{source}: model '{spec.name}' takes no option {', '.join(map(repr, unknown))} "
            f"(its options: {valid})"
        )


def build_with(spec: ModelSpec, build: Callable[[], nn.Module], kwargs: dict) -> nn.Module:
    """Run `build`; a TypeError about a model option becomes one line naming the option."""
    try:
        return build()
    except TypeError as e:
        msg = str(e)
        hit = next((k for k in kwargs if f"'{k}'" in msg), None)
        if hit is None:
            raise
        raise VisionbenchError(
            f"--model-arg {hit}: model '{spec.name}' does not accept it ({msg})"
        ) from None


def create_model(
    name: str,
    task: str | None = None,
    num_classes: int = 10,
    in_chans: int = 3,
    img_size: int | None = None,
    **kw,
) -> nn.Module:
    """Build any registered model for a task; errors say which tasks the model does support."""
    spec = MODELS.get(name)
    task = task or spec.tasks[0]
    if task not in spec.tasks:
        raise VisionbenchError(
            f"model '{name}' does not support task '{task}'; it supports: {', '.join(spec.tasks)}"
        )
    size = img_size or spec.default_img_size
    if size < spec.min_img_size:
        raise VisionbenchError(
            f"model '{name}' needs inputs of at least {spec.min_img_size}px, got {size}px"
        )
    return spec.builder(task=task, num_classes=num_classes, in_chans=in_chans, img_size=size, **kw)
