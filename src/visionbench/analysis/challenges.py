"""`visionbench challenges RUN`: the review's Sec. VI challenges measured on one finished run,
for every task, through the task's own evaluator.

- Corruption robustness: the 15 ImageNet-C corruptions x 5 severities (quick: 1, 3, 5) on the
  test images the model is evaluated on; the task's ranking metric per cell, error = 1 - metric
  where the metric lies in [0,1] (accuracy, mIoU, mAP, AUROC), mean error, and mCE / relative mCE
  against a reference run's table (the suite's AlexNet). `--data cifar10-c:PATH` scores the run
  on a published corrupted set instead of generating one.
- Adversarial robustness: FGSM and PGD (L-inf; L2 in the full form) on an epsilon grid, through
  the task's own training loss.
- For tasks whose model returns class scores [N, K] (classification): saliency (input gradient,
  Grad-CAM, attention rollout as the family admits) with deletion / insertion AUC against a
  random map, and per-group metrics where the test set carries groups (CelebA, colored_digits).
- Energy of the clean test pass: NVML / RAPL when readable, else a FLOPs estimate, labelled.

Corruptions use the published table nearest to the model's input size, spatial parameters scaled
by side / 32 (CIFAR-10-C) or side / 224 (ImageNet-C), so a digit upsampled to 32 px for LeNet-5
and the same digit at 8 px for vit_nano get the same relative blur.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import VisionbenchError
from . import robustness
from .corruptions import CORRUPTIONS, SEVERITIES, corrupt

MAX_IMAGES = 500
SEED = 0


@dataclass(frozen=True)
class Form:
    """How much of each challenge to run."""

    name: str
    severities: tuple[int, ...]
    eps: dict
    pgd_steps: int
    saliency_images: int
    saliency_steps: int
    max_images: int


FULL = Form(
    "full",
    SEVERITIES,
    {"linf": (0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255), "l2": (0.0, 0.25, 0.5, 1.0)},
    pgd_steps=10,
    saliency_images=200,
    saliency_steps=16,
    max_images=MAX_IMAGES,
)
QUICK = Form(
    "quick",
    (1, 3, 5),
    {"linf": (0.0, 2 / 255, 8 / 255)},
    pgd_steps=3,
    saliency_images=32,
    saliency_steps=8,
    max_images=100,
)


class TaskProbe:
    """robustness.Probe for a loaded run: the task's evaluator over fixed test batches."""

    def __init__(self, task, model, batches: list, metric: str, higher_is_better: bool):
        self.task, self.model, self.batches = task, model, batches
        self.metric, self.higher_is_better = metric, higher_is_better
        self.bounded = True  # set from the clean score by `calibrate`
        self.evaluations = 0
        self._clean: dict[str, float] | None = None

    def score(self, transform=None) -> dict[str, float]:
        from ..engine.evaluation import evaluate

        if transform is None and self._clean is not None:
            return self._clean  # the clean pass is deterministic: measured once
        self.evaluations += 1
        if transform is None:
            self._clean = evaluate(self.model, self.batches, self.task.evaluator("test"))
            return self._clean
        else:
            fed = [
                self.task.with_images(b, transform(self.task.images_of(b), b, i))
                for i, b in enumerate(self.batches)
            ]
        return evaluate(self.model, fed, self.task.evaluator("test"))

    def loss(self, batch: Any):
        def fn(x: torch.Tensor) -> torch.Tensor:
            # a loss may draw random numbers (a diffusion model's timestep, a detector's proposal
            # sampling): the same seed for every call, so an attack is the same on every run
            with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []):
                torch.manual_seed(SEED)
                return self.task.attack_loss(self.model, self.task.with_images(batch, x))

        return fn

    def calibrate(self) -> dict[str, float]:
        clean = self.score(None)
        v = clean.get(self.metric)
        if v is None:
            raise VisionbenchError(f"the evaluator gives no '{self.metric}'")
        self.bounded = self.higher_is_better and 0.0 <= v <= 1.0
        return clean


def _subset(test, max_images: int, seed: int):
    """A seeded (stratified where labels are class ids) subset of the test set, with its
    `groups` kept; sets read from files are wrapped in a torch Subset."""
    from torch.utils.data import Subset

    from ..data.tensors import TensorSet

    n = len(test)
    if n <= max_images:
        return test, n
    labels = getattr(test, "labels", None)
    if labels is None:
        labels = getattr(test, "targets", None)
    if isinstance(labels, torch.Tensor) and labels.dim() == 1:
        from ..data.splits import stratified_subset

        idx = stratified_subset(labels.numpy(), max_images / n, seed)
    else:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:max_images]
        idx = idx.sort().values.numpy()
    out = test.subset(idx) if isinstance(test, TensorSet) else Subset(test, list(map(int, idx)))
    if getattr(test, "groups", None) is not None:
        out.groups = test.groups[torch.as_tensor(idx)]
        out.group_names = getattr(test, "group_names", None)
    return out, n


def _class_scores(task, model, batches) -> bool:
    """True when the model returns one score per class per image ([N, K] logits)."""
    b = batches[0]
    if not isinstance(b, (tuple, list)) or len(b) < 2 or not isinstance(b[1], torch.Tensor):
        return False
    with torch.no_grad():
        out = task.evaluator("test").infer(model, b)
    n = task.images_of(b).shape[0]
    return (
        isinstance(out, torch.Tensor)
        and out.dim() == 2
        and out.shape[0] == n
        and b[1].dim() == 1
        and b[1].shape[0] == n
    )


def scored_size(challenges: dict) -> str:
    """'HxW px input' when every image the model saw in a challenges.json had one size (the quick
    form's restoration crops, a classifier's resize), '' where sizes differed."""
    size = challenges.get("input_size")
    return f"{size[0]}x{size[1]} px input" if size else ""


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def challenges_run(
    run_dir: str | Path,
    device: str = "cpu",
    max_images: int | None = None,
    form: Form = FULL,
    data: str | None = None,
    reference: str | Path | None = None,
    seed: int = SEED,
) -> dict:
    """Measure a finished run; writes RUN/challenges.json and RUN/samples/challenges-*.png."""
    from ..data.registry import load_dataset
    from ..environment import resolve_device
    from ..models.registry import MODELS
    from ..tasks.workflow import load_run

    path = Path(run_dir)
    if not path.is_dir():
        raise VisionbenchError(f"no such run directory: {path}")
    t0 = time.perf_counter()
    run, cfg, task, net, info = load_run(path)
    if not task.challenges:
        raise VisionbenchError(
            f"{path}: a {cfg.task} run has no input image to corrupt or attack; the challenges "
            "measure models that map an image to a prediction"
        )
    dev = resolve_device(device)
    net = net.to(dev).eval()
    cap = max_images or form.max_images
    if form.name == QUICK.name and not max_images and task.quick_challenge_images:
        cap = min(cap, task.quick_challenge_images)
    raw = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
    groups = getattr(raw.test, "groups", None)
    group_names = getattr(raw.test, "group_names", None)
    bundle = task.prepare(raw, MODELS.get(cfg.model))
    test = bundle.test
    if groups is not None and getattr(test, "groups", None) is None:
        test.groups, test.group_names = groups, group_names  # prepare() rebuilt the set
    test, total = _subset(test, cap, seed)
    # the quick form evaluates the task's "challenge" batches (restoration: centre crops of its
    # photos); `input_size` in challenges.json says what the model saw (None: sizes differ)
    purpose = "challenge" if form.name == QUICK.name else "test"
    batches = list(task.eval_batches(test, dev, purpose))
    if not batches:
        raise VisionbenchError(f"{cfg.data}: the test split is empty")
    sizes = {tuple(task.images_of(b).shape[-2:]) for b in batches}
    probe = TaskProbe(task, net, batches, task.ranking_metric, task.higher_is_better)

    from .energy import EnergyMeter, energy

    meter = EnergyMeter(str(dev))
    with meter:
        clean = probe.calibrate()
    n_images = sum(task.images_of(b).shape[0] for b in batches)
    out: dict = {
        "model": cfg.model,
        "dataset": info.name,
        "task": cfg.task,
        "form": form.name,
        "metric": probe.metric,
        "higher_is_better": probe.higher_is_better,
        "clean": clean,
        "images": n_images,
        "test_images": total,
        "image_cap": cap,
        "seed": seed,
        "input_size": list(sizes.pop()) if len(sizes) == 1 else None,
        "batches": purpose,
    }
    ref = _reference(reference)
    if data:
        out["corruptions"] = published_corruptions(
            task, net, bundle, data, probe, cap, seed, MODELS.get(cfg.model), ref
        )
        out["corruptions"]["source"] = data
    else:
        out["corruptions"] = robustness.corruption_study(
            probe, CORRUPTIONS, form.severities, seed=seed, reference=ref, relative=True
        )
        out["corruptions"]["space"] = (
            "the images the model is evaluated on (after the task's resize), spatial "
            "parameters scaled by side / published side"
        )
    out["adversarial"] = robustness.adversarial_study(
        probe, dict(form.eps), steps=form.pgd_steps, seed=seed
    )
    flops = _flops(task, net, info)
    out["energy"] = {
        "inference": energy(meter, flops, n_images),
        "training": _training_energy(run, flops, str(dev)),
    }
    if _class_scores(task, net, batches):
        out |= _class_challenges(task, net, test, batches, info, run, form, seed)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["evaluations"] = probe.evaluations
    out = _json_safe(out)
    run.write_json(run.path / "challenges.json", out)
    return out


def _reference(reference) -> dict | None:
    if reference is None:
        return None
    import json

    p = Path(reference)
    p = p / "challenges.json" if p.is_dir() else p
    if not p.is_file():
        raise VisionbenchError(f"reference {reference}: no challenges.json (run challenges on it)")
    c = json.loads(p.read_text())
    if "corruptions" not in c:
        raise VisionbenchError(f"{p}: no corruption table to normalise by")
    return {**c["corruptions"], "name": f"{c.get('model')} ({p.parent.name})"}


def published_corruptions(task, net, bundle, data: str, probe, cap, seed, spec, ref) -> dict:
    """The run scored on a published corrupted set (CIFAR-10-C, ImageNet-C, ...)."""
    from ..data.formats.corrupted import open_corrupted
    from ..data.registry import DataBundle
    from ..data.tensors import TensorSet
    from ..engine.evaluation import evaluate

    cs = open_corrupted(data)
    clean = probe.score(None)[probe.metric]
    table: dict[str, dict[int, float]] = {}
    for name in cs.corruptions():
        table[name] = {}
        for sev in cs.severities(name):
            images, labels = cs.load(name, sev, cap, seed)
            if bundle.info.num_classes and int(labels.max()) >= bundle.info.num_classes:
                raise VisionbenchError(
                    f"{data}: label {int(labels.max())} but the run has "
                    f"{bundle.info.num_classes} classes"
                )
            if images.shape[1] != bundle.info.in_chans:
                images = images.mean(1, keepdim=True) if bundle.info.in_chans == 1 else images
            part = TensorSet(images, labels)
            b = task.prepare(DataBundle(bundle.info, part, part, part), spec)
            dev = task.images_of(probe.batches[0]).device
            m = evaluate(net, task.eval_batches(b.test, dev), task.evaluator("test"))
            table[name][sev] = m[probe.metric]
    out = {
        "metric": probe.metric,
        "higher_is_better": probe.higher_is_better,
        "clean": clean,
        "table": table,
        "severities": sorted({s for r in table.values() for s in r}),
    }
    if probe.bounded:
        from . import mce

        errors = robustness.errors_of(table)
        out["errors"] = (
            robustness.with_reference(errors, 1 - clean, ref)
            if ref
            else mce.summary(errors, 1 - clean)
        )
    return out


def _flops(task, net, info) -> float | None:
    try:
        from ..models.flops import count_flops

        x = task.example_input(info, 1).to(next(net.parameters()).device)
        return float(count_flops(net, x))
    except Exception:  # a model the counter cannot trace: no estimate
        return None


def _training_energy(run, flops: float | None, device: str) -> dict | None:
    """Training energy: the trainer's measurement when status.json has one, else the estimate
    3 x forward FLOPs x training images x epochs, labelled estimated."""
    from .energy import estimate

    status = run.status() or {}
    measured = status.get("energy")
    if measured:
        return {**measured, "kind": "measured"}
    meta = run.read_json(run.path / "run.json") if (run.path / "run.json").exists() else {}
    epochs = status.get("epochs")
    train = ((meta.get("data") or {}).get("sizes") or {}).get("train")
    if flops is None or not epochs or not train:
        return None
    e = estimate(flops, int(train) * int(epochs), device, training=True)
    e["images_seen"] = int(train) * int(epochs)
    e["train_seconds"] = status.get("train_seconds")
    return e


def _class_challenges(task, net, test, batches, info, run, form: Form, seed: int) -> dict:
    """Saliency and group metrics for class-score models."""
    from . import challenge_plots as cp
    from .fairness import group_report
    from .saliency_study import grid_indices, saliency_study

    images = torch.cat([task.images_of(b) for b in batches])
    with torch.no_grad():
        logits = torch.cat([task.evaluator("test").infer(net, b).float() for b in batches])
    labels = torch.cat([b[1] for b in batches]).to(logits.device)
    preds = logits.argmax(1)
    names = info.class_names or [str(i) for i in range(logits.shape[1])]
    out: dict = {}
    k = min(form.saliency_images, len(images))
    pick = torch.arange(k)
    scores, maps = saliency_study(
        net, lambda x: x, images[pick], labels[pick], steps=form.saliency_steps, seed=seed
    )
    grid = grid_indices(labels[pick].cpu())
    png = cp.saliency_grid_png(
        images[pick][grid].cpu(),
        {m: v[grid].cpu() for m, v in maps.items()},
        [names[int(i)] for i in labels[pick][grid]],
        f"{run.path.name}: saliency, deletion / insertion AUC (random: "
        f"{scores['random']['deletion_auc']:.3f} / {scores['random']['insertion_auc']:.3f})",
        {
            m: f"{s['deletion_auc']:.3f} / {s['insertion_auc']:.3f}"
            for m, s in scores["methods"].items()
        },
    )
    run.samples.mkdir(parents=True, exist_ok=True)
    (run.samples / "challenges-saliency.png").write_bytes(png)
    scores["picture"] = "samples/challenges-saliency.png"
    out["saliency"] = scores
    groups = getattr(test, "groups", None)
    if groups is not None:
        g = groups[: len(labels)].cpu()
        out["groups"] = group_report(
            labels.cpu(), preds.cpu(), g, getattr(test, "group_names", None), names
        )
    return out


__all__ = ["FULL", "QUICK", "Form", "challenges_run", "corrupt"]
