"""Harness overhead: images/s through visionbench's Trainer and evaluator vs a hand-written loop.

Both sides train the same architecture (separate copies with the same initial weights), on the
same in-memory batches, with the same batch size, optimizer, precision and memory format, in one
process, interleaved round by round (the order alternates) so that load from other processes
hits both alike. The ratio visionbench / hand-written is what the harness costs: 1.00 means
nothing. Each round gives one paired ratio; the table shows their geometric mean with a 95%
t-interval on the log scale, and rounds are added (up to --max-rounds) until every interval of the
model is within +-1% (--halfwidth), so a ratio the noise cannot resolve is shown as such.
With --decompose, training is also timed at twice the steps, which splits the harness's cost
into a part per step and a part per epoch (time = fixed + steps x per-step, solved per side) and
projects the ratio onto an epoch of realistic length (--epoch-images).

    PYTHONPATH=src python benchmarks/throughput.py --device cpu
    PYTHONPATH=src python benchmarks/throughput.py --device cuda --precision bf16 --channels-last

Training through visionbench is a whole `Trainer.fit()` (its batches, augmentation hook,
`task.train_step` via StepContext, the epoch's loss read once, a validation pass on 2 images);
inference is `Trainer.evaluate()` (the classification task's evaluator, metrics included).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from visionbench.config import TrainConfig
from visionbench.data.registry import DataBundle, DataInfo
from visionbench.data.tensors import TensorSet
from visionbench.engine.trainer import Trainer
from visionbench.models.registry import MODELS, Recipe, create_model
from visionbench.tasks.classification import Classification, Classifier

# (model, input size, batch): the list on a GPU; small inputs on a CPU.
GPU_MODELS = [
    ("resnet50", 224, 256),
    ("efficientnet_b0", 224, 256),
    ("mobilenetv4_conv_medium", 224, 256),
    ("vit_base_patch16_224", 224, 256),
    ("mobilevit_s", 256, 128),  # hybrid CNN-ViT
    ("capsnet", 28, 256),  # written here
]
CPU_MODELS = [
    ("resnet18", 32, 32),
    ("efficientnet_b0", 32, 32),
    ("mobilenetv4_conv_medium", 32, 32),
    ("vit_nano", 32, 32),
    ("hybrid_nano", 32, 32),  # hybrid CNN-ViT
    ("capsnet_tiny", 32, 8),  # written here; dynamic routing is slow on a CPU
    ("lenet5", 32, 32),  # written here
]
NUM_CLASSES = 10


def build(name: str, size: int) -> Classifier:
    """The task's model (normalisation inside), from the registry or, failing that, timm."""
    in_chans = 1 if name.startswith(("capsnet", "lenet")) else 3
    if name in MODELS:
        net = create_model(
            name, task="classification", num_classes=NUM_CLASSES, in_chans=in_chans, img_size=size
        )
    else:
        import timm

        net = timm.create_model(name, pretrained=False, num_classes=NUM_CLASSES, img_size=size)
    return Classifier(net, [0.5] * in_chans, [0.25] * in_chans)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Setup:
    device: torch.device
    precision: str
    channels_last: bool
    compile: bool
    batch: int
    steps: int | None

    def autocast(self):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        if dtype is None:  # what a user writes in fp32: nothing
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)


RECIPE = dict(optimizer="sgd", lr=1e-3, weight_decay=0.0, schedule="constant", augment="none")


def visionbench_train(model, train: TensorSet, val: TensorSet, s: Setup) -> float:
    """Seconds for one epoch of `s.steps` steps through Trainer.fit()."""
    cfg = TrainConfig(
        task="classification",
        model="bench",
        device=str(s.device),
        precision=s.precision,
        channels_last=s.channels_last,
        compile=s.compile,
        quiet=True,
    )
    recipe = Recipe(**RECIPE, epochs=1, batch_size=s.batch)
    task = Classification(cfg)
    task.set_recipe(recipe)
    info = DataInfo(
        "synthetic", "classification", train.images.shape[1], train.images.shape[-1], 10
    )
    bundle = DataBundle(info, train, val, val)
    sync(s.device)
    t0 = time.perf_counter()
    Trainer(task, model, bundle, recipe, cfg, None, s.device).fit()
    sync(s.device)
    return time.perf_counter() - t0


def handwritten_train(model, train: TensorSet, s: Setup) -> float:
    """The minimal loop a user would write for the same work."""
    x_all, y_all = train.images, train.labels
    if s.channels_last:
        model = model.to(memory_format=torch.channels_last)
    net = torch.compile(model) if s.compile else model
    sync(s.device)
    t0 = time.perf_counter()
    opt = torch.optim.SGD(model.parameters(), lr=RECIPE["lr"], momentum=0.9, nesterov=True)
    scaler = torch.amp.GradScaler(s.device.type) if s.precision == "fp16" else None
    model.train()
    perm = torch.randperm(len(x_all)).to(x_all.device)
    losses = []
    for i in range(s.steps):
        idx = perm[i * s.batch : (i + 1) * s.batch]
        x, y = x_all[idx], y_all[idx]
        if s.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with s.autocast():
            loss = net(x, y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        losses.append(loss.detach())
    torch.stack(losses).mean().item()
    sync(s.device)
    return time.perf_counter() - t0


def visionbench_infer(trainer: Trainer, data: TensorSet) -> float:
    sync(trainer.device)
    t0 = time.perf_counter()
    trainer.evaluate(data)
    sync(trainer.device)
    return time.perf_counter() - t0


@torch.no_grad()
def handwritten_infer(net, data: TensorSet, s: Setup, batch: int) -> float:
    sync(s.device)
    t0 = time.perf_counter()
    net.eval()
    preds = []
    with s.autocast():
        for i in range(0, len(data), batch):
            preds.append(net(data.images[i : i + batch]).argmax(1))
    (torch.cat(preds) == data.labels).float().mean().item()
    sync(s.device)
    return time.perf_counter() - t0


EVAL_BATCH = 256  # the classification evaluator's batch


def calibrate(base, in_chans: int, size: int, s: Setup, target_s: float) -> tuple[int, int]:
    """Training steps and evaluation batches that take about `target_s` each, so fixed costs
    (building the optimizer, one validation) weigh what they weigh in a real epoch."""
    m = copy.deepcopy(base)
    x = torch.rand(s.batch * 3, in_chans, size, size, device=s.device)
    y = torch.randint(0, NUM_CLASSES, (s.batch * 3,), device=s.device)
    probe = Setup(s.device, s.precision, s.channels_last, False, s.batch, 3)
    handwritten_train(m, TensorSet(x, y), probe)  # warm
    step = handwritten_train(m, TensorSet(x, y), probe) / 3
    xe = torch.rand(EVAL_BATCH, in_chans, size, size, device=s.device)
    handwritten_infer(m, TensorSet(xe, y[:1].expand(EVAL_BATCH)), probe, EVAL_BATCH)
    infer = handwritten_infer(m, TensorSet(xe, y[:1].expand(EVAL_BATCH)), probe, EVAL_BATCH)
    steps = s.steps or int(min(400, max(4, target_s / step)))
    batches = int(min(40, max(1, target_s / infer)))
    return steps, batches


def measure(
    name: str,
    size: int,
    s: Setup,
    target_s: float,
    *,
    repeats: int = 9,
    max_rounds: int = 9,
    halfwidth: float = 0.01,
    decompose: bool = False,
    epoch_images: int = 50_000,
) -> dict:
    torch.manual_seed(0)
    base = build(name, size).to(s.device)
    in_chans = base.mean.shape[1]
    steps, eval_batches = calibrate(base, in_chans, size, s, target_s)
    s = Setup(s.device, s.precision, s.channels_last, s.compile, s.batch, steps)
    n = s.batch * s.steps
    test_n = EVAL_BATCH * eval_batches
    g = torch.Generator().manual_seed(0)
    total = max(2 * n if decompose else n, test_n)
    images = torch.rand(total, in_chans, size, size, generator=g)
    labels = torch.randint(0, NUM_CLASSES, (total,), generator=g)
    train = TensorSet(images[:n].to(s.device), labels[:n].to(s.device))  # resident on both sides
    val = TensorSet(train.images[:2], train.labels[:2])
    test = TensorSet(images[:test_n].to(s.device), labels[:test_n].to(s.device))
    if s.channels_last:
        test = TensorSet(test.images.contiguous(memory_format=torch.channels_last), test.labels)
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    if s.channels_last:
        theirs = theirs.to(memory_format=torch.channels_last)
    theirs_net = torch.compile(theirs) if s.compile else theirs
    # an evaluation-only Trainer on the same model object the training side uses
    cfg = TrainConfig(
        task="classification",
        model=name,
        device=str(s.device),
        precision=s.precision,
        channels_last=s.channels_last,
        compile=s.compile,
        quiet=True,
    )
    task = Classification(cfg)
    info = DataInfo("synthetic", "classification", in_chans, size, NUM_CLASSES)
    eval_trainer = Trainer(
        task, ours, DataBundle(info, train, val, test), Recipe(), cfg, None, s.device
    )
    times: dict[str, list[float]] = {
        k: [] for k in ("vb_train", "hw_train", "vb_infer", "hw_infer", "vb_train2", "hw_train2")
    }
    double = Setup(s.device, s.precision, s.channels_last, s.compile, s.batch, 2 * s.steps)
    train2 = TensorSet(images[: 2 * n].to(s.device), labels[: 2 * n].to(s.device))

    def one_round(first_ours: bool) -> None:
        groups = [
            [
                ("vb_train", lambda: visionbench_train(ours, train, val, s)),
                ("hw_train", lambda: handwritten_train(theirs, train, s)),
            ],
            [
                ("vb_infer", lambda: visionbench_infer(eval_trainer, test)),
                ("hw_infer", lambda: handwritten_infer(theirs_net, test, s, EVAL_BATCH)),
            ],
        ]
        if decompose:
            groups.append(
                [
                    ("vb_train2", lambda: visionbench_train(ours, train2, val, double)),
                    ("hw_train2", lambda: handwritten_train(theirs, train2, double)),
                ]
            )
        for group in groups:
            for key, fn in group if first_ours else group[::-1]:
                times[key].append(fn())

    def paired(kind: str) -> list[float]:
        return [hw / vb for vb, hw in zip(times[f"vb_{kind}"], times[f"hw_{kind}"])]

    one_round(True)  # warm-up (allocator, kernels, compilation): not counted
    for k in times:
        times[k].clear()
    rounds = 0
    while True:
        one_round(rounds % 2 == 0)
        rounds += 1
        if rounds < repeats:
            continue
        widths = [interval(paired(kind))[3] for kind in ("train", "infer")]
        if max(widths) <= halfwidth or rounds >= max_rounds:
            break
    med = {k: statistics.median(v) for k, v in times.items() if v}
    row = {
        "model": name,
        "img": size,
        "batch": s.batch,
        "steps": s.steps,
        "eval_images": test_n,
        "rounds": rounds,
        "train_vb_ips": n / med["vb_train"],
        "train_hw_ips": n / med["hw_train"],
        "infer_vb_ips": test_n / med["vb_infer"],
        "infer_hw_ips": test_n / med["hw_infer"],
    }
    for kind in ("train", "infer"):
        ratio, lo, hi, half = interval(paired(kind))
        row |= {f"{kind}_ratio": ratio, f"{kind}_lo": lo, f"{kind}_hi": hi}
        row[f"{kind}_halfwidth"] = half
        row[f"{kind}_pairs"] = paired(kind)
    if decompose:
        row |= split_costs(times, s.steps, epoch_images // s.batch)
    return row


def interval(ratios: list[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """Geometric mean of paired ratios, its t-interval (lo, hi) and the relative half-width.

    Ratios are averaged on the log scale (a ratio and its inverse weigh alike); with fewer than
    two rounds the interval is infinite."""
    from scipy.stats import t

    logs = [math.log(r) for r in ratios]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), 0.0, math.inf, math.inf
    half = t.ppf(0.5 + level / 2, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    lo, hi = math.exp(mean - half), math.exp(mean + half)
    return math.exp(mean), lo, hi, (hi - lo) / 2 / math.exp(mean)


def split_costs(times: dict[str, list[float]], steps: int, epoch_steps: int) -> dict:
    """Per-step and per-epoch cost of each side from epochs of `steps` and `2 * steps` steps
    (medians over rounds): per_step = (t2 - t1) / steps, fixed = t1 - steps * per_step; then the
    training ratio projected onto an epoch of `epoch_steps` steps."""
    out = {}
    for side in ("vb", "hw"):
        t1 = statistics.median(times[f"{side}_train"])
        t2 = statistics.median(times[f"{side}_train2"])
        per_step = (t2 - t1) / steps
        out[f"{side}_step_ms"] = 1e3 * per_step
        out[f"{side}_epoch_fixed_ms"] = 1e3 * (t1 - steps * per_step)
    out["step_overhead"] = out["vb_step_ms"] / out["hw_step_ms"] - 1
    out["epoch_overhead_ms"] = out["vb_epoch_fixed_ms"] - out["hw_epoch_fixed_ms"]
    e = max(1, epoch_steps)
    out["epoch_steps"] = e
    out["train_ratio_at_epoch"] = (e * out["hw_step_ms"] + out["hw_epoch_fixed_ms"]) / (
        e * out["vb_step_ms"] + out["vb_epoch_fixed_ms"]
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--models", nargs="*", help="names (default: the list for the device)")
    p.add_argument("--batch", type=int, help="override every model's batch size")
    p.add_argument("--img-size", type=int, help="override every model's input size")
    p.add_argument("--steps", type=int, help="training steps per measurement (default: --seconds)")
    p.add_argument(
        "--seconds", type=float, default=1.0, help="length of one measurement when --steps unset"
    )
    p.add_argument("--repeats", type=int, default=9, help="paired rounds at least")
    p.add_argument(
        "--max-rounds",
        type=int,
        default=40,
        help="paired rounds at most: rounds are added until every 95%% interval is within "
        "+-HALFWIDTH",
    )
    p.add_argument("--halfwidth", type=float, default=0.01, help="target relative half-width")
    p.add_argument(
        "--decompose",
        action="store_true",
        help="also time training at twice the steps: the harness cost per step and per epoch",
    )
    p.add_argument(
        "--epoch-images",
        type=int,
        default=50_000,
        help="with --decompose, the epoch the training ratio is projected onto (CIFAR-10: 50,000)",
    )
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--json", help="also write the rows to this file")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    table = GPU_MODELS if device.type == "cuda" else CPU_MODELS
    if args.models:
        known = {m: (sz, b) for m, sz, b in GPU_MODELS + CPU_MODELS}
        table = [(m, *known.get(m, (32, 32))) for m in args.models]
    env = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    if device.type == "cuda":
        env += f", {torch.cuda.get_device_name(device)}"
    print(
        f"# device {device} ({env}); precision {args.precision}; channels_last "
        f"{args.channels_last}; compile {args.compile}; ratio = geometric mean of "
        f"{args.repeats}-{args.max_rounds} paired rounds [95% interval]"
    )
    header = "model | img | batch | steps | rounds | train img/s vb | hw | ratio [95%] | "
    header += "infer img/s vb | hw | ratio [95%]"
    if args.decompose:
        header += " | per step vb/hw ms | per epoch extra ms | ratio at epoch"
    print(header)
    rows, ok = [], True
    for name, size, batch in table:
        s = Setup(
            device,
            args.precision,
            args.channels_last,
            args.compile,
            args.batch or batch,
            args.steps,
        )
        row = measure(
            name,
            args.img_size or size,
            s,
            args.seconds,
            repeats=args.repeats,
            max_rounds=max(args.repeats, args.max_rounds),
            halfwidth=args.halfwidth,
            decompose=args.decompose,
            epoch_images=args.epoch_images,
        )
        row.update(device=str(device), precision=args.precision, torch=torch.__version__)
        rows.append(row)
        for kind in ("train", "infer"):
            ok &= row[f"{kind}_ratio"] >= 0.97 and row[f"{kind}_halfwidth"] <= args.halfwidth
        line = (
            f"{name} | {row['img']} | {row['batch']} | {row['steps']} | {row['rounds']} | "
            f"{row['train_vb_ips']:.1f} | {row['train_hw_ips']:.1f} | {_ratio(row, 'train')} | "
            f"{row['infer_vb_ips']:.1f} | {row['infer_hw_ips']:.1f} | {_ratio(row, 'infer')}"
        )
        if args.decompose:
            line += (
                f" | {row['vb_step_ms']:.2f}/{row['hw_step_ms']:.2f} | "
                f"{row['epoch_overhead_ms']:.1f} | {row['train_ratio_at_epoch']:.3f}"
            )
        print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print(
        "every ratio >= 0.97, every interval within the half-width"
        if ok
        else "some ratio < 0.97, or an interval wider than the half-width"
    )
    return 0 if ok else 1


def _ratio(row: dict, kind: str) -> str:
    return f"{row[f'{kind}_ratio']:.3f} [{row[f'{kind}_lo']:.3f}, {row[f'{kind}_hi']:.3f}]"


if __name__ == "__main__":
    sys.exit(main())
