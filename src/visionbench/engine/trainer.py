"""The one training loop for every task: the Task decides what a step is, this decides when.

Seeded per epoch (the shuffle order and every random draw of epoch e depend on (seed, e) only),
so a run resumed from its last checkpoint ends exactly where an uninterrupted run ends.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..config import TrainConfig
from ..data.registry import DataBundle
from ..models.registry import Recipe
from ..runs import RunDir
from ..tasks.base import StepContext, Task
from .batches import iterate, num_batches
from .checkpoint import load_checkpoint, save_checkpoint, save_weights, unwrap
from .optim import make_scheduler
from .progress import Progress


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class FitResult:
    epochs_done: int
    steps: int
    train_seconds: float
    stopped: str  # "completed" | "time_budget" | "early_stopping"
    history: list[dict] = field(default_factory=list)


class Trainer:
    def __init__(
        self,
        task: Task,
        model: nn.Module,
        bundle: DataBundle,
        recipe: Recipe,
        cfg: TrainConfig,
        run: RunDir | None,
        device: torch.device,
        shard: tuple[int, int] = (0, 1),
    ):
        self.task, self.model, self.bundle, self.recipe = task, model, bundle, recipe
        self.cfg, self.run, self.device, self.shard = cfg, run, device, shard
        self.is_main = shard[0] == 0

    def fit(self) -> FitResult:
        cfg, recipe, task = self.cfg, self.recipe, self.task
        per_rank = len(self.bundle.train) // self.shard[1]
        bs = min(recipe.batch_size, max(1, per_rank))
        steps_per_epoch = num_batches(per_rank, bs, drop_last=True)
        optimizers = task.optimizers(self.model, recipe)
        schedulers = [
            make_scheduler(o, recipe, steps_per_epoch * recipe.epochs) for o in optimizers
        ]
        scaler = torch.amp.GradScaler(self.device.type) if cfg.precision == "fp16" else None
        ctx = StepContext(optimizers, schedulers, scaler, self.device, cfg.precision)

        start_epoch, elapsed, history, best = 0, 0.0, [], None
        if cfg.resume and self.run is not None:
            state = load_checkpoint(self.run.checkpoint, self.model, optimizers, schedulers, scaler)
            if state is not None:
                start_epoch, elapsed = int(state["epoch"]), float(state["elapsed"])
                history = [dict(r) for r in state["history"]]
                best = state.get("best")
        ctx.step = start_epoch * steps_per_epoch
        stopped, bad_epochs = "completed", 0
        sign = 1 if task.higher_is_better else -1
        best_state = None

        progress = Progress(
            total=steps_per_epoch * recipe.epochs,
            done=ctx.step,
            label=f"{cfg.model} on {self.bundle.info.name}",
            enabled=self.is_main and not cfg.quiet,
        )
        with progress:
            for epoch in range(start_epoch, recipe.epochs):
                seed_everything(cfg.seed * 100_003 + epoch)
                ctx.generator.manual_seed(cfg.seed * 100_003 + epoch)
                order = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
                self.model.train()
                t0, sums, n = time.perf_counter(), {}, 0
                for batch in iterate(
                    self.bundle.train,
                    bs,
                    shuffle=True,
                    generator=order,
                    drop_last=True,
                    workers=cfg.workers,
                    device=self.device,
                    shard=self.shard,
                ):
                    batch = task.augment(batch, ctx.generator)
                    stats = task.train_step(ctx, self.model, batch)
                    ctx.step += 1
                    n += 1
                    for k, v in stats.items():
                        sums[k] = sums.get(k, 0.0) + v
                    progress.advance(loss=stats.get("loss"))
                    if cfg.time_budget and elapsed + time.perf_counter() - t0 > cfg.time_budget:
                        stopped = "time_budget"
                        break
                elapsed += time.perf_counter() - t0
                row = {"epoch": epoch + 1, **{f"train_{k}": v / max(1, n) for k, v in sums.items()}}
                row["lr"] = optimizers[0].param_groups[0]["lr"]
                val = self.validate()
                row.update({f"val_{k}": v for k, v in val.items()})
                history.append(row)
                score = val.get(task.ranking_metric)
                if score is not None and not math.isnan(score):
                    if best is None or sign * score > sign * best:
                        best, bad_epochs = score, 0
                        if cfg.patience:
                            best_state = {
                                k: v.clone() for k, v in unwrap(self.model).state_dict().items()
                            }
                    else:
                        bad_epochs += 1
                progress.note(
                    f"epoch {epoch + 1}/{recipe.epochs} val {task.ranking_metric} {score:.4g}"
                    if score is not None
                    else f"epoch {epoch + 1}/{recipe.epochs}"
                )
                if self.is_main and self.run is not None:
                    self.run.write_history(history)
                    save_checkpoint(
                        self.run.checkpoint,
                        self.model,
                        optimizers,
                        schedulers,
                        scaler,
                        {"epoch": epoch + 1, "elapsed": elapsed, "history": history, "best": best},
                    )
                if stopped == "time_budget":
                    break
                if cfg.patience and bad_epochs >= cfg.patience:
                    stopped = "early_stopping"
                    break
        if best_state is not None:  # early stopping keeps the best weights on validation
            unwrap(self.model).load_state_dict(best_state)
        if self.is_main and self.run is not None:
            save_weights(self.model, self.run.weights)
        epochs_done = history[-1]["epoch"] if history else 0
        return FitResult(int(epochs_done), ctx.step, elapsed, stopped, history)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        try:
            return self.task.evaluate(self.model, self.bundle.val, self.device)
        finally:
            self.model.train()
