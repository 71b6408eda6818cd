"""The Task contract: everything that differs between tasks, so the Trainer never asks which task.

A task owns its batch contract, its loss and step order (a GAN steps two optimizers), its
evaluation into plain-named metrics with baselines beside them, prediction, and its pictures.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn as nn

from ..config import TrainConfig
from ..data.registry import DataBundle, DataInfo
from ..models.registry import ModelSpec, Recipe, create_model
from ..registry import Registry


class StepContext:
    """What a train_step may use: autocast, and one call that does backward, step and schedule.

    Keeping the scaler, the optimizers and the schedulers here means precision, clipping and
    schedule handling live in one place for every task.
    """

    def __init__(self, optimizers, schedulers, scaler, device: torch.device, precision: str):
        self.optimizers = optimizers
        self.schedulers = schedulers
        self.scaler = scaler
        self.device = device
        self.precision = precision
        self.step = 0
        self.generator = torch.Generator(device="cpu")

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        if dtype is None:  # fp32: no autocast object per step
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def backward_step(self, loss: torch.Tensor, opt: int = 0, clip: float | None = None) -> None:
        optimizer = self.optimizers[opt]
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip:
                self.scaler.unscale_(optimizer)
                _clip(optimizer, clip)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if clip:
                _clip(optimizer, clip)
            optimizer.step()
        if self.schedulers[opt] is not None:
            self.schedulers[opt].step()


def _clip(optimizer, max_norm: float) -> None:
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    torch.nn.utils.clip_grad_norm_(params, max_norm)


class Task(ABC):
    name: ClassVar[str]
    ranking_metric: ClassVar[str]
    higher_is_better: ClassVar[bool] = True
    description: ClassVar[str] = ""
    metric_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.options = dict(cfg.task_options)
        self.recipe = Recipe()

    def set_recipe(self, recipe: Recipe) -> None:
        self.recipe = recipe

    # data and model -----------------------------------------------------------------------
    def prepare(self, bundle: DataBundle, spec: ModelSpec) -> DataBundle:
        """Adapt the data to the model (resize, normalise statistics); default: unchanged."""
        return bundle

    def build_model(self, spec: ModelSpec, info: DataInfo) -> nn.Module:
        return create_model(
            spec.name,
            task=self.name,
            num_classes=info.num_classes,
            in_chans=info.in_chans,
            img_size=self.cfg.img_size or spec.input_size(info.img_size),
            **self.cfg.model_kwargs,
        )

    def optimizers(self, model: nn.Module, recipe: Recipe) -> list[torch.optim.Optimizer]:
        from ..engine.optim import make_optimizer

        return [make_optimizer(model.parameters(), recipe)]

    def set_channel_stats(self, bundle: DataBundle) -> None:
        """Per-channel mean/std of the training images, for the normalisation that lives inside
        the model; for a set not held in memory, the `mean`/`std` task options or 0.5/0.25."""
        from ..data.tensors import TensorSet

        if isinstance(bundle.train, TensorSet):
            x = bundle.train.images
            self.mean = x.mean(dim=(0, 2, 3)).tolist()
            self.std = x.std(dim=(0, 2, 3)).clamp(min=1e-3).tolist()
        else:
            self.mean = self.options.get("mean", [0.5] * bundle.info.in_chans)
            self.std = self.options.get("std", [0.25] * bundle.info.in_chans)

    # training -------------------------------------------------------------------------------
    def augment(self, batch: Any, generator: torch.Generator) -> Any:
        return batch

    @abstractmethod
    def loss(self, model: nn.Module, batch: Any) -> torch.Tensor: ...

    def train_step(
        self, ctx: StepContext, model: nn.Module, batch: Any
    ) -> dict[str, float | torch.Tensor]:
        """Step statistics; return tensors, not `.item()` (a device sync per step)."""
        with ctx.autocast():
            loss = self.loss(model, batch)
        ctx.backward_step(loss)
        return {"loss": loss.detach()}

    # evaluation -----------------------------------------------------------------------------
    @abstractmethod
    def evaluate(self, model: nn.Module, dataset, device: torch.device) -> dict[str, float]:
        """Test metrics under plain names, baselines beside them; model is in eval mode."""

    def per_sample(self, model: nn.Module, dataset, device: torch.device) -> dict[str, list[float]]:
        """Per-sample values whose mean is a test metric (0/1 correctness, per-image PSNR), for
        bootstrap intervals; {} where a metric does not decompose (mAP, FID)."""
        return {}

    @abstractmethod
    def predict(self, model: nn.Module, inputs: torch.Tensor) -> Any: ...

    def pictures(self, model: nn.Module, bundle: DataBundle, out_dir: Path, device) -> list[Path]:
        return []

    def run_extras(self) -> dict:
        """Task facts saved in config.yaml so eval/predict rebuild the same setting."""
        return {}


def _load_tasks() -> None:
    from . import anomaly, classification, generation, restoration, segmentation  # noqa: F401


TASKS: Registry[type[Task]] = Registry("task", loader=_load_tasks)


def register_task(cls: type[Task]) -> type[Task]:
    TASKS.add(cls.name, cls)
    return cls
