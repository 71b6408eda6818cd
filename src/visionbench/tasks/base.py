"""The Task contract (v2): everything that differs between tasks, so nothing else asks which task.

A task owns:
- its learned state: what it learns from the training data when it prepares it (input size,
  normalisation statistics, degradation, ...), one frozen record (`State`), saved in the run
  folder as task_state.json and restored by eval, predict, profile and export;
- its batch contract: `collate` for loaders, `augment` on a batch, `images_of` / `with_images`
  (so a corruption or an attack can replace the images of any task's batch);
- its loss and step order (a GAN steps two optimizers, every phase through the wrapped model);
- its evaluation as a streaming `Evaluator` (engine/evaluation.py), the only way metrics are made;
- its outputs: prediction files (`write_prediction`), the example input for profiling and export,
  pictures, and what a report shows (`baselines`, `also_shown`).

The detection task is the worked example of why: its batches are images of different sizes with a
list of target dicts, its evaluator streams detections into COCO mAP, and its prediction file is
a picture with boxes plus COCO results JSON. None of that may leak into the trainer, the API, the
profiler or the report.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn
from torch.utils.data import default_collate

from ..config import TrainConfig
from ..data.registry import DataBundle, DataInfo
from ..engine.batches import iterate
from ..engine.checkpoint import unwrap
from ..engine.evaluation import Evaluator, evaluate
from ..engine.step import StepContext
from ..errors import VisionbenchError
from ..models.registry import ModelSpec, Recipe, create_model
from ..registry import Registry

__all__ = ["Task", "TaskState", "StepContext", "Evaluator", "TASKS", "register_task"]


@dataclass(frozen=True)
class TaskState:
    """What a task learned from its training data; JSON-able fields only (lists, not tuples)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, source: str = "task state") -> TaskState:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in data
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise VisionbenchError(f"{source}: missing {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})


class Task(ABC):
    name: ClassVar[str]
    ranking_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    description: ClassVar[str] = ""
    metric_names: ClassVar[tuple[str, ...]] = ()
    State: ClassVar[type[TaskState]] = TaskState
    # what `predict` produces, in words, for the CLI's "... written to PATH" line
    prediction_kind: ClassVar[str] = "prediction"
    # report: metrics shown beside the ranking metric in a leaderboard
    also_shown: ClassVar[tuple[str, ...]] = ()
    # report: metric -> the key of the baseline measured beside it on the same test images
    baselines: ClassVar[dict[str, str]] = {}
    # the challenges of Sec. VI (corruptions, attacks, energy; saliency and groups for class
    # scores) are measured for this task's runs: every task whose model maps an image to a
    # prediction scored against a label
    challenges: ClassVar[bool] = True
    # the quick form's test-image cap for this task, where its evaluation is costly (None: the
    # form's own); `visionbench challenges RUN` without --quick uses the full form's
    quick_challenge_images: ClassVar[int | None] = None
    eval_batch_size: ClassVar[int] = 256
    # the review suite: this task's embedded dataset and its task options
    suite_data: ClassVar[tuple[str, dict]] = ("", {})
    # task options the suite adds in --quick only (a model's own bench_jobs options win)
    quick_options: ClassVar[dict] = {}
    # the --augment names this task's `augment` knows (checked before any data loads)
    augmentations: ClassVar[tuple[str, ...]] = ("none", "shift", "flip_crop", "flip")
    # why this task's models cannot be exported to ONNX (empty: they can)
    export_refusal: ClassVar[str] = ""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.options = dict(cfg.task_options)
        self.recipe = Recipe()
        self.state: TaskState | None = None
        # the data's facts (classes, channels); set by the API from the loaded data or run.json
        self.info: DataInfo | None = None

    def set_recipe(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # state ----------------------------------------------------------------------------------
    def load_state(self, data: dict, source: str = "task_state.json") -> None:
        self.state = self.State.from_dict(data, source)

    def save_state(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.require_state().to_dict(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)

    def require_state(self) -> TaskState:
        if self.state is None:
            raise VisionbenchError(f"{self.name}: task state used before prepare() or load")
        return self.state

    # data and model -------------------------------------------------------------------------
    def eval_data_options(self, info: DataInfo) -> dict:
        """Data options that make another data set fit this run (cross-dataset `eval --data`):
        e.g. the input size; a reader that does not take one ignores it."""
        return {}

    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        """Learn the state from the training split and adapt the data to the model; keep
        `bundle.info`. A state already loaded (eval of a finished run) is kept, not relearned."""
        self.info = bundle.info
        self.state = self.state or self.State()
        return bundle

    def build_model(self, spec: ModelSpec, info: DataInfo) -> nn.Module:
        return create_model(
            spec.name,
            task=self.name,
            num_classes=info.num_classes,
            in_chans=info.in_chans,
            img_size=self.cfg.img_size or spec.input_size(info.img_size),
            **self.model_kwargs(spec),
        )

    def model_kwargs(self, spec: ModelSpec) -> dict:
        """The user's --model-arg values plus what the task's state requires (never mutated)."""
        return dict(self.cfg.model_kwargs)

    def optimizers(self, model: nn.Module, recipe: Recipe) -> list[torch.optim.Optimizer]:
        from ..engine.optim import make_optimizer

        return [make_optimizer(model.parameters(), recipe)]

    @staticmethod
    def channel_stats(bundle: DataBundle, options: dict) -> tuple[list[float], list[float]]:
        """Per-channel mean/std of the training images, for the normalisation that lives inside
        the model; for a set not held in memory, the `mean`/`std` task options or 0.5/0.25."""
        from ..data.tensors import TensorSet

        if isinstance(bundle.train, TensorSet):
            x = bundle.train.images
            return x.mean(dim=(0, 2, 3)).tolist(), x.std(dim=(0, 2, 3)).clamp(min=1e-3).tolist()
        c = bundle.info.in_chans
        return list(options.get("mean", [0.5] * c)), list(options.get("std", [0.25] * c))

    # batches --------------------------------------------------------------------------------
    def collate(self, samples: list) -> Any:
        """How a loader stacks samples into a batch (detection keeps a list of target dicts)."""
        return default_collate(samples)

    def augment(self, batch: Any, generator: torch.Generator) -> Any:
        return batch

    def images_of(self, batch: Any) -> torch.Tensor:
        """The input images [N,C,H,W] in [0,1] of a batch."""
        return batch[0] if isinstance(batch, (tuple, list)) else batch

    def with_images(self, batch: Any, images: torch.Tensor) -> Any:
        """The same batch with its input images replaced (corruptions, attacks)."""
        if isinstance(batch, (tuple, list)):
            return type(batch)([images, *batch[1:]])
        return images

    def model_input(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [0,1] of any size as the model takes them (a classifier resizes)."""
        return images

    def eval_batches(self, dataset, device: torch.device, purpose: str = "test") -> Iterable[Any]:
        """The batches an evaluator sees, on `device`. `purpose` is "test", "val" (per-epoch
        validation) or "challenge" (the quick challenges, which evaluate each image dozens of
        times): a task whose test images are costly may make the last two cheaper."""
        return iterate(dataset, self.eval_batch_size, device=device)

    # training -------------------------------------------------------------------------------
    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor: ...

    def attack_loss(self, model: nn.Module, batch: Any) -> torch.Tensor:
        """The loss an adversarial attack ascends, on the model as it is evaluated (eval mode,
        weights and statistics untouched): the training loss, where the model gives it in eval
        mode."""
        return self.loss(model, batch)

    def train_step(
        self, ctx: StepContext, model: nn.Module, batch: Any
    ) -> dict[str, float | torch.Tensor]:
        """Step statistics; return tensors, not `.item()` (a device sync per step). Every model
        call goes through `model` itself (the DDP / compiled wrapper), never an unwrapped part."""
        with ctx.autocast():
            loss = self.loss(model, batch)
        ctx.backward_step(loss)
        return {"loss": loss.detach()}

    def pretrain(self, model: nn.Module, bundle: DataBundle, recipe: Recipe, device) -> dict:
        """A phase before the supervised epochs, in place on `model` (a masked autoencoder's
        self-supervised pre-training on the unlabelled training images); its record for
        status.json, {} when there is none."""
        return {}

    # evaluation -----------------------------------------------------------------------------
    @abstractmethod
    def evaluator(self, purpose: str = "test") -> Evaluator:
        """A fresh streaming evaluator; `purpose` is "test" or "val" (per-epoch validation may
        use cheaper settings)."""

    def evaluate(
        self, model: nn.Module, dataset, device: torch.device, purpose: str = "test"
    ) -> dict[str, float]:
        """Test metrics under plain names, baselines beside them; model is in eval mode."""
        batches = self.eval_batches(dataset, device, purpose)
        return evaluate(model, batches, self.evaluator(purpose))

    def per_sample(self, model: nn.Module, dataset, device: torch.device) -> dict[str, list]:
        """Per-sample values whose mean is a test metric, for bootstrap intervals."""
        ev = self.evaluator("test")
        evaluate(model, self.eval_batches(dataset, device), ev)
        return ev.per_sample()

    # outputs --------------------------------------------------------------------------------
    def save_predictions(self, model: nn.Module, dataset, device: torch.device, path: Path) -> Path:
        """`eval --save-predictions FILE`: the test predictions in a format other tools read."""
        raise VisionbenchError(f"{self.name}: --save-predictions is not supported for this task")

    @abstractmethod
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> Any: ...

    def write_prediction(
        self,
        outputs: Any,
        input_path: Path,
        output: Path | None,
        *,
        info: DataInfo,
        metrics: dict,
        top: int = 5,
    ) -> Any:
        """Write (or return) what `predict` gave for one input image; default: an image file.
        `metrics` are the run's test metrics (a threshold may come from them)."""
        from ..data.io import write_image

        dest = output or input_path.with_name(f"{input_path.stem}_{self.prediction_suffix}.png")
        return write_image(outputs[0], dest)

    prediction_suffix: ClassVar[str] = "prediction"

    def input_channels(self, info: DataInfo) -> int:
        """Channels of one model input (an inpainting model also sees its mask channel)."""
        return info.in_chans

    def input_hw(self, info: DataInfo) -> tuple[int, int]:
        return (self.cfg.img_size or info.img_size,) * 2

    def example_input(self, info: DataInfo, batch: int = 1) -> torch.Tensor:
        """A batch shaped like what the model sees, for profiling and export."""
        return torch.rand(batch, self.input_channels(info), *self.input_hw(info))

    def profile_target(self, model: nn.Module, info: DataInfo):
        """(module, make_input(batch) -> input, what one measured call means): what a user pays
        for per image; a generator overrides it to time drawing a sample."""
        return model, lambda b: self.example_input(info, b), "one forward pass per image"

    def pictures(self, model: nn.Module, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        return []


def pad_to(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """Reflect-pad the bottom and right of images to a multiple of the model's `size_divisor`
    (a U-Net's), so dense tasks run models on test images of any size and crop back."""
    div = getattr(unwrap(model), "size_divisor", 1)
    ph, pw = (-x.shape[-2]) % div, (-x.shape[-1]) % div
    return torch.nn.functional.pad(x, (0, pw, 0, ph), mode="reflect") if ph or pw else x


def _load_tasks() -> None:
    from . import (  # noqa: F401
        anomaly,
        classification,
        detection,
        generation,
        restoration,
        segmentation,
    )


TASKS: Registry[type[Task]] = Registry("task", loader=_load_tasks)


def register_task(cls: type[Task]) -> type[Task]:
    TASKS.add(cls.name, cls)
    return cls
