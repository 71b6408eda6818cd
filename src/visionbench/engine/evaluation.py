"""The one evaluation loop: every task's metrics come from `evaluate(model, batches, evaluator)`.

Validation during training, `visionbench eval`, the suite and every challenge (a corrupted or
adversarial loader is the same evaluator fed other inputs) call this loop. An evaluator streams:
`reset()`, then `infer(model, batch)` and `update(batch, outputs)` for every batch, then
`compute()` (detectron2's DatasetEvaluator and torchmetrics' Metric are the anchors).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn as nn


class Evaluator:
    """Streams a task's outputs into plain-named metrics with their baselines beside them."""

    def reset(self) -> None:
        """Forget everything seen so far."""

    def infer(self, model: nn.Module, batch: Any) -> Any:
        """The model's outputs for one batch (default: the model on the batch's first item)."""
        return model(batch[0] if isinstance(batch, (tuple, list)) else batch)

    def update(self, batch: Any, outputs: Any) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError

    def per_sample(self) -> dict[str, list[float]]:
        """Per-sample values whose mean is a metric (0/1 correctness, per-image PSNR), for
        bootstrap intervals; {} where a metric does not decompose (mAP, FID)."""
        return {}


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[Any], evaluator: Evaluator) -> dict[str, float]:
    """Run `model` over `batches` and return the evaluator's metrics; `evaluator` keeps its
    accumulated state afterwards, so `evaluator.per_sample()` can follow."""
    evaluator.reset()
    for batch in batches:
        evaluator.update(batch, evaluator.infer(model, batch))
    return evaluator.compute()
