"""Self-supervised pre-training before a task's supervised epochs (a masked autoencoder's).

A model that has a `pretraining_loss(x)` (models/mae.py) is first trained on that loss for the
recipe's `pretrain_epochs` on the training images without their labels: the whole training
split, also when `--train-fraction` keeps a labelled share (`DataBundle.unlabelled`). The phase
runs through the one Trainer (seeded per epoch, its shuffles and masks fixed by the seed,
DDP/compile/precision as the run's), with a small Task of its own whose loss is the model's
and whose evaluator is the masked-patch MSE on the validation images under fixed, seeded
masks; the run records that MSE before and after (status.json `pretraining`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch
import torch.nn as nn

from ..data.registry import DataBundle
from ..data.tensors import TensorSet
from ..engine.checkpoint import unwrap
from ..engine.evaluation import Evaluator
from .base import Task

EVAL_MASK_SEED = 1234  # the fixed masks of the before/after masked-patch MSE


def autoencoder_of(model: nn.Module) -> nn.Module | None:
    """The network with a pre-training loss inside a task's wrapper (Classifier.net), or None."""
    m = unwrap(model)
    net = getattr(m, "net", m)
    return net if hasattr(net, "pretraining_loss") else None


class Pretrainer(nn.Module):
    """The pre-training forward of a task's model: its input normalisation, then the masked
    loss; the parameters are the model's own, so training this trains the model."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = unwrap(model)
        self.find_unused_parameters = True  # the classification head gets no gradient here

    def normalised(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        return (x - m.mean) / m.std if hasattr(m, "mean") and hasattr(m, "std") else x

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-image masked-patch MSE with `generator` (fixed masks), else the batch mean."""
        net = autoencoder_of(self.model)
        if generator is not None:
            return net.masked_forward(self.normalised(x), generator)[0]
        return net.pretraining_loss(self.normalised(x))


class MaskedMSE(Evaluator):
    """Mean per-image masked-patch MSE under masks drawn from one seeded generator."""

    def reset(self) -> None:
        self.generator = torch.Generator().manual_seed(EVAL_MASK_SEED)
        self.total, self.count = 0.0, 0

    def infer(self, model: nn.Module, batch) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return model(x, generator=self.generator)

    def update(self, batch, outputs: torch.Tensor) -> None:
        self.total += float(outputs.float().sum())
        self.count += outputs.shape[0]

    def compute(self) -> dict[str, float]:
        return {"masked_mse": self.total / self.count if self.count else float("nan")}


class MaskedPretraining(Task):
    """The pre-training phase as the Trainer sees it (never registered: no run is made of it)."""

    name = "pretraining"
    ranking_metric = "masked_mse"
    higher_is_better = False

    def loss(self, model: nn.Module, batch) -> torch.Tensor:
        return model(self.images_of(batch))

    def evaluator(self, purpose: str = "test") -> MaskedMSE:
        return MaskedMSE()

    def predict(self, model, inputs):  # pragma: no cover - never a run of its own
        raise NotImplementedError


def pretrain(task: Task, model: nn.Module, bundle: DataBundle, recipe, cfg, device) -> dict:
    """Pre-train `model` in place for `recipe.pretrain_epochs` on the unlabelled training
    images; return the record for status.json ({} when the model has no pre-training loss or
    the recipe gives no epochs)."""
    from ..engine.trainer import Trainer
    from ..engine.work import training_work

    if autoencoder_of(model) is None or not recipe.pretrain_epochs:
        return {}
    images = bundle.pretraining_images
    if isinstance(images, TensorSet):
        images = TensorSet(images.images)  # the labels are not used: drop them
    data = DataBundle(bundle.info, images, bundle.val, bundle.test)
    phase = MaskedPretraining(cfg)
    phase.info = bundle.info
    precipe = dataclasses.replace(
        recipe, epochs=recipe.pretrain_epochs, label_smoothing=0.0, augment="none"
    )
    phase.set_recipe(precipe)
    pcfg = dataclasses.replace(cfg, patience=None, resume=False)
    wrapper = Pretrainer(model).to(device)
    trainer = Trainer(phase, wrapper, data, precipe, pcfg, None, device)
    before = trainer.evaluate(bundle.val, purpose="val")["masked_mse"]
    started = time.perf_counter()
    fit = trainer.fit()
    seconds = time.perf_counter() - started
    after = trainer.evaluate(bundle.val, purpose="val")["masked_mse"]
    record = {
        "epochs": fit.epochs_done,
        "images": len(images),
        "labels_used": False,
        "val_masked_mse_before": round(before, 6),
        "val_masked_mse_after": round(after, 6),
        "mask_ratio": autoencoder_of(model).mask_ratio,
        "train_seconds": round(fit.train_seconds, 3),
        "wall_seconds": round(seconds, 3),
        "stopped": fit.stopped,
        "history": [
            {k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}
            for row in fit.history
        ],
    }
    try:
        record |= training_work(phase, wrapper, images, precipe, device, fit.steps)
    except Exception as e:  # a counting failure loses no run
        record |= {
            "steps": fit.steps,
            "train_flops": None,
            "work_error": f"{type(e).__name__}: {e}",
        }
    unwrap(model).train()
    return record


@torch.no_grad()
def reconstruction_rows(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Eight images as three rows: masked inputs (hidden patches grey), reconstructions (the
    visible patches copied, the hidden ones predicted), originals; the fixed evaluation masks,
    in the [0,1] pixel space of the inputs. Made right after pre-training: fine-tuning moves the
    encoder away from the decoder it was trained with."""
    wrapper = Pretrainer(model)
    net = autoencoder_of(model)
    device = next(net.parameters()).device
    x = images[:8].to(device)
    g = torch.Generator().manual_seed(EVAL_MASK_SEED)
    was_training = net.training
    net.eval()
    recon, hidden = net.reconstruct(wrapper.normalised(x), g)
    net.train(was_training)
    m = unwrap(model)
    if hasattr(m, "mean") and hasattr(m, "std"):  # back to pixels
        recon = recon * m.std + m.mean
    masked = x * (1 - hidden) + 0.5 * hidden
    return torch.cat([masked, recon, x]).float().cpu()


def reconstruction_picture(rows: torch.Tensor, path: Path) -> Path:
    from ..viz.plots import image_grid_png

    return image_grid_png(
        rows, path, title="MAE after pre-training: masked input (grey) / reconstruction / original"
    )
