"""The one training loop for every task: the Task decides what a step is, this decides when.

Seeded per epoch (the shuffle order and every random draw of epoch e depend on (seed, e) only),
so a run resumed from its last checkpoint ends exactly where an uninterrupted run ends.

Hardware speed lives here too: channels_last, torch.compile and DDP wrap the model once; step
losses stay on the device and are read once per epoch (a per-step `.item()` is a device sync);
under DDP the gradients are averaged by DDP, the epoch's training losses by one all-reduce, and
validation runs on rank 0 on the whole set and is broadcast, so every rank takes the same
early-stopping decision.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..config import TrainConfig
from ..data.registry import DataBundle
from ..data.tensors import TensorSet
from ..models.registry import Recipe
from ..runs import RunDir
from . import distributed
from .batches import TrainBatches, resident
from .callbacks import Callback
from .checkpoint import load_checkpoint, save_checkpoint, save_weights, unwrap
from .optim import make_scheduler
from .progress import Progress
from .step import StepContext


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
    compile_seconds: float = (
        0.0  # --compile: the first step (tracing, compiling), not in train_seconds
    )
    resumed_from: int = 0  # the checkpointed epoch a --resume run continued from; 0: from scratch


class Trainer:
    def __init__(
        self,
        task,  # a tasks.base.Task (the engine sits below the tasks, so it is not imported)
        model: nn.Module,
        bundle: DataBundle,
        recipe: Recipe,
        cfg: TrainConfig,
        run: RunDir | None,
        device: torch.device,
        shard: tuple[int, int] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        callbacks: Callback | None = None,
    ):
        self.task, self.model, self.bundle, self.recipe = task, model, bundle, recipe
        self.callbacks = callbacks or Callback()  # experiment trackers; rank 0 only
        self.cfg, self.run, self.device = cfg, run, device
        self.shard = shard or (distributed.rank(), distributed.world())
        self.clock = clock  # seconds; injectable so tests of time budgets need no real clock
        self.is_main = self.shard[0] == 0
        self._eval_sets: dict[int, tuple] = {}
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        # eval_model: compiled but never DDP-wrapped (rank 0 evaluates alone);
        # train_model: DDP around the module, compiled on top, as the DDP docs advise.
        self.eval_model = torch.compile(model) if cfg.compile else model
        ddp = distributed.wrap(model, device) if self.shard[1] > 1 else model
        self.train_model = (
            (torch.compile(ddp) if ddp is not model else self.eval_model) if cfg.compile else ddp
        )

    def fit(self) -> FitResult:
        cfg, recipe, task = self.cfg, self.recipe, self.task
        world = self.shard[1]
        per_rank = len(self.bundle.train) // world
        bs = min(max(1, recipe.batch_size // world), max(1, per_rank))  # batch_size is global
        batches = TrainBatches(
            self.bundle.train,
            bs,
            device=self.device,
            workers=cfg.workers,
            shard=self.shard,
            channels_last=cfg.channels_last,
            resident_bytes=RESIDENT_BYTES,
            collate=task.collate,
        )
        steps_per_epoch = len(batches)
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
        stopped, bad_epochs, compiled = "completed", 0, 0.0
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
                epoch_seed = cfg.seed * 100_003 + epoch
                rank_seed = epoch_seed + 7919 * self.shard[0]  # rank 0 draws as a 1-process run
                seed_everything(rank_seed)
                ctx.generator.manual_seed(rank_seed)
                order = torch.Generator().manual_seed(epoch_seed)  # shared: ranks split one order
                self.model.train()
                t0, steps = self.clock(), []
                for batch in batches.epoch(order):
                    batch = task.augment(batch, ctx.generator)
                    steps.append(task.train_step(ctx, self.train_model, batch))
                    ctx.step += 1
                    if cfg.compile and not compiled:  # time to first step = compilation
                        _sync(self.device)
                        compiled = self.clock() - t0
                        t0 = self.clock()
                    progress.advance()
                    if cfg.time_budget and self._out_of_time(elapsed + self.clock() - t0):
                        stopped = "time_budget"
                        break
                means = distributed.mean_across_ranks(_epoch_means(steps), self.device)
                elapsed += self.clock() - t0  # after the read above: device work included
                row = {"epoch": epoch + 1, **{f"train_{k}": v for k, v in means.items()}}
                row["lr"] = optimizers[0].param_groups[0]["lr"]
                val = self.validate()
                row.update({f"val_{k}": v for k, v in val.items()})
                history.append(row)
                if self.is_main:
                    self.callbacks.epoch_end(row)
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
                loss = row.get("train_loss")
                progress.note(
                    f"epoch {epoch + 1}/{recipe.epochs}"
                    + (f" loss {loss:.4g}" if loss is not None else "")
                    + (f" val {task.ranking_metric} {score:.4g}" if score is not None else "")
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
        distributed.barrier()
        epochs_done = history[-1]["epoch"] if history else 0
        return FitResult(
            int(epochs_done), ctx.step, elapsed, stopped, history, compiled, start_epoch
        )

    def _out_of_time(self, seconds: float) -> bool:
        over = seconds > self.cfg.time_budget
        return distributed.any_rank(over, self.device) if self.shard[1] > 1 else over

    def validate(self) -> dict[str, float]:
        """Rank 0 evaluates on the whole validation set; every rank gets its numbers."""
        metrics = self.evaluate(self.bundle.val, purpose="val") if self.is_main else None
        return distributed.from_main(metrics) if self.shard[1] > 1 else metrics

    @torch.no_grad()
    def evaluate(self, dataset, purpose: str = "test") -> dict[str, float]:
        """The task's metrics with the training model's speed settings: compiled, autocast,
        channels_last, the data resident on the device; the model is left in training mode."""
        key = id(dataset)
        if key not in self._eval_sets:
            data = resident(dataset, self.device, RESIDENT_BYTES)
            if self.cfg.channels_last and isinstance(data, TensorSet) and data.images.ndim == 4:
                data = TensorSet(
                    data.images.contiguous(memory_format=torch.channels_last), data.labels
                )
            self._eval_sets[key] = (dataset, data)  # the original is kept so the id stays unique
        ctx = StepContext([], [], None, self.device, self.cfg.precision)
        self.model.eval()
        try:
            with ctx.autocast():
                return self.task.evaluate(
                    self.eval_model, self._eval_sets[key][1], self.device, purpose
                )
        finally:
            self.model.train()


# Small in-memory training sets are copied to the accelerator once when they fit in this much.
RESIDENT_BYTES = 4 << 30


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _epoch_means(steps: list[dict]) -> dict:
    """Mean of each step statistic; tensors are summed on their device, nothing read per step."""
    out = {}
    for k in dict.fromkeys(k for s in steps for k in s):  # every key, first-seen order
        vals = [s[k] for s in steps if k in s]
        if isinstance(vals[0], torch.Tensor):
            out[k] = torch.stack([v.detach().float() for v in vals]).mean()
        else:
            out[k] = sum(float(v) for v in vals) / len(vals)
    return out
