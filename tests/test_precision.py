"""Hardware-speed options on CPU: bf16/fp16 autocast, channels_last, compile wiring, batches.

torch.compile itself is not run here (inductor on a 2-core CPU takes about a minute); the test
checks the wrapping and that checkpoints see through it. benchmarks/gpu_check.sh runs it.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import Dataset

from visionbench import api
from visionbench.config import TrainConfig
from visionbench.data.tensors import TensorSet
from visionbench.engine import distributed
from visionbench.engine.batches import TrainBatches, iterate
from visionbench.engine.checkpoint import unwrap
from visionbench.engine.trainer import Trainer, _epoch_means
from visionbench.errors import VisionbenchError
from visionbench.tasks.base import StepContext

BASE = dict(task="classification", data="digits", epochs=1, batch_size=128, quiet=True, threads=1)


def _trainer(**kw) -> Trainer:
    cfg = TrainConfig(**{**BASE, "model": "lenet5", **kw})
    spec, task, bundle, recipe, model, device = api.prepare_run(cfg)
    return Trainer(task, model, bundle, recipe, cfg, None, device)


@pytest.mark.parametrize("precision,dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_autocast_runs_layers_in_low_precision(precision, dtype):
    ctx = StepContext([], [], None, torch.device("cpu"), precision)
    lin = torch.nn.Linear(4, 3)
    with ctx.autocast():
        out = lin(torch.randn(2, 4))
    assert out.dtype == dtype
    with StepContext([], [], None, torch.device("cpu"), "fp32").autocast():
        assert lin(torch.randn(2, 4)).dtype == torch.float32


def test_bf16_training_learns():
    hist = _trainer(precision="bf16", epochs=2, batch_size=64).fit().history
    assert hist[-1]["val_accuracy"] > 0.6  # chance is 0.1
    assert math.isfinite(hist[-1]["train_loss"]) and hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_fp16_step_goes_through_the_grad_scaler():
    torch.manual_seed(0)
    lin = torch.nn.Linear(4, 2)
    before = lin.weight.detach().clone()
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    ctx = StepContext([opt], [None], scaler, torch.device("cpu"), "fp16")
    with ctx.autocast():
        loss = lin(torch.randn(8, 4)).float().pow(2).mean()
    ctx.backward_step(loss)
    grad = lin.weight.grad.clone()
    assert torch.allclose(before - lin.weight.detach(), 0.1 * grad)  # the step used this grad
    assert grad.abs().max() < 10  # ... unscaled: a scaled one would be ~1000x larger
    assert scaler.get_scale() == 2.0**10  # finite grads: the scale stays


def test_step_losses_stay_on_device_until_epoch_end():
    t = _trainer()
    ctx = StepContext(t.task.optimizers(t.model, t.recipe), [None], None, t.device, "fp32")
    x = t.bundle.train.images[:8]
    y = t.bundle.train.labels[:8]
    stats = t.task.train_step(ctx, t.train_model, (x, y))
    assert isinstance(stats["loss"], torch.Tensor) and not stats["loss"].requires_grad
    means = _epoch_means([stats, {"loss": stats["loss"] + 2}])
    assert isinstance(means["loss"], torch.Tensor)
    assert means["loss"].item() == pytest.approx(stats["loss"].item() + 1)


def test_channels_last_model_and_batches():
    t = _trainer(channels_last=True)
    c5 = t.model.net.features[8]  # 16 -> 120 channels, so the layout is not ambiguous
    assert c5.weight.is_contiguous(memory_format=torch.channels_last)
    assert not c5.weight.is_contiguous()
    rgb = TensorSet(torch.rand(32, 3, 8, 8), torch.arange(32))
    batches = TrainBatches(rgb, 16, device=t.device, channels_last=True)
    x, _ = next(iter(batches.epoch(torch.Generator().manual_seed(0))))
    assert x.stride()[1] == 1  # channels innermost
    plain = _trainer().fit().history[-1]
    last = t.fit().history[-1]
    assert abs(plain["val_accuracy"] - last["val_accuracy"]) <= 0.02
    assert abs(plain["train_loss"] - last["train_loss"]) < 1e-3


def test_compile_wraps_training_and_eval_models_and_unwraps_for_checkpoints():
    t = _trainer(compile=True)
    assert t.eval_model is not t.model and hasattr(t.eval_model, "_orig_mod")
    assert unwrap(t.train_model) is t.model and unwrap(t.eval_model) is t.model


class _Plain(Dataset):
    """A dataset that is not a TensorSet, so batches go through a DataLoader."""

    def __init__(self, ts: TensorSet):
        self.ts = ts

    def __len__(self):
        return len(self.ts)

    def __getitem__(self, i):
        return self.ts[i]


def test_dataloader_path_gives_the_tensor_path_batches_with_persistent_workers():
    g = torch.Generator().manual_seed(0)
    ts = TensorSet(torch.rand(40, 3, 8, 8, generator=g), torch.arange(40))
    cpu = torch.device("cpu")
    fast = TrainBatches(ts, 8, device=cpu)
    slow = TrainBatches(_Plain(ts), 8, device=cpu, workers=1)
    assert slow.loader.persistent_workers and len(fast) == len(slow) == 5
    for epoch in range(2):  # the same seeded order, epoch after epoch, workers kept
        a = list(fast.epoch(torch.Generator().manual_seed(epoch)))
        b = list(slow.epoch(torch.Generator().manual_seed(epoch)))
        assert [y.tolist() for _, y in a] == [y.tolist() for _, y in b]
    assert a[0][1].tolist() != list(range(8))  # shuffled


def test_shards_split_one_order_into_equal_disjoint_parts():
    ts = TensorSet(torch.zeros(21, 1, 2, 2), torch.arange(21))
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    parts = [
        torch.cat([y for _, y in iterate(ts, 4, shuffle=True, generator=g(), shard=(r, 2))])
        for r in range(2)
    ]
    assert len(parts[0]) == len(parts[1]) == 10
    assert not set(parts[0].tolist()) & set(parts[1].tolist())


def test_sequential_eval_batches_are_views_that_keep_channels_last():
    x = torch.rand(10, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    ts = TensorSet(x, torch.arange(10))
    first, _ = next(iter(iterate(ts, 4)))
    assert first.is_contiguous(memory_format=torch.channels_last)
    assert first.data_ptr() == x.data_ptr()  # a view, not a copy


def test_devices_flag_is_stripped_before_torchrun():
    argv = ["train", "classification", "--devices", "2", "--model", "lenet5"]
    assert distributed.strip_devices(argv) == (["train", "classification", "--model", "lenet5"], 2)
    assert distributed.strip_devices(["train", "--devices=4"]) == (["train"], 4)
    with pytest.raises(VisionbenchError, match="whole number"):
        distributed.strip_devices(["train", "--devices", "two"])


def test_speedrun_flip_tta_averages_the_image_and_its_mirror():
    from visionbench.models.registry import create_model

    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32)
    plain = create_model("speedrun", num_classes=10, in_chans=3, img_size=32)
    tta = create_model("speedrun", num_classes=10, in_chans=3, img_size=32, tta="true")
    with torch.no_grad():
        for _ in range(5):  # batch-norm statistics of real inputs, so eval logits are O(0.1)
            plain(torch.rand(16, 3, 32, 32))
        tta.load_state_dict(plain.state_dict())
        plain.eval()
        tta.eval()
        both = 0.5 * (plain(x) + plain(x.flip(-1)))
        assert both.abs().max() > 1e-2
        assert torch.allclose(tta(x), both, rtol=1e-4, atol=1e-7)
        assert not torch.allclose(plain(x), both, rtol=1e-2, atol=1e-7)  # off by default
        assert torch.allclose(tta(x), tta(x.flip(-1)), rtol=1e-4, atol=1e-7)  # mirror-invariant
