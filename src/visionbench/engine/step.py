"""StepContext: what a task's train_step may use (autocast, and one backward/step/schedule call).

It lives in the engine, below the tasks, because the Trainer builds it; tasks only use it.
"""

from __future__ import annotations

import contextlib

import torch


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
