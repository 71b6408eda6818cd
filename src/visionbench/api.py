"""The Python API; every CLI command calls one of these, so both stay the same."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import TrainConfig, load_yaml, save_yaml
from .data.registry import DATASETS, DataInfo, load_dataset, subsample_train
from .engine import distributed
from .engine.checkpoint import load_weights
from .engine.trainer import Trainer, seed_everything
from .environment import describe, resolve_device
from .errors import VisionbenchError, require_file
from .families import FAMILIES
from .metrics.registry import METRICS
from .models.registry import MODELS, ModelSpec, Recipe, create_model
from .runs import RunDir, default_run_dir
from .tasks.base import TASKS, Task

__all__ = [
    "TrainConfig",
    "RunResult",
    "create_model",
    "load_dataset",
    "train",
    "evaluate",
    "predict",
    "load_run",
    "list_entries",
    "FAMILIES",
    "MODELS",
    "DATASETS",
    "METRICS",
    "TASKS",
]


@dataclass
class RunResult:
    run_dir: Path
    metrics: dict
    status: dict


def resolve_recipe(spec: ModelSpec, task: Task, info: DataInfo, cfg: TrainConfig) -> Recipe:
    """The model's recipe for this task and data scale, with any CLI/YAML overrides on top."""
    recipe = spec.recipe(task.name, info.scale)
    overrides = {
        f.name: getattr(cfg, f.name)
        for f in dataclasses.fields(Recipe)
        if hasattr(cfg, f.name) and getattr(cfg, f.name) is not None
    }
    return dataclasses.replace(recipe, **overrides)


def _check_names(cfg: TrainConfig) -> ModelSpec:
    if not cfg.task:
        raise VisionbenchError(
            "no task given; e.g. visionbench train classification --model lenet5"
        )
    TASKS.get(cfg.task)
    if not cfg.model:
        raise VisionbenchError("no model given (--model); see: visionbench list models")
    spec = MODELS.get(cfg.model)
    if cfg.task not in spec.tasks:
        raise VisionbenchError(
            f"model '{cfg.model}' does not support task '{cfg.task}'; it supports: "
            f"{', '.join(spec.tasks)}"
        )
    if not cfg.data:
        raise VisionbenchError(
            "no dataset given (--data NAME or NAME:PATH); see: visionbench list datasets"
        )
    return spec


def _setup_torch(cfg: TrainConfig, device: torch.device) -> None:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)


def prepare_run(cfg: TrainConfig):
    """Everything a run needs before the loop: spec, task, data, recipe and the model."""
    spec = _check_names(cfg)
    device = distributed.setup(resolve_device(cfg.device))  # under torchrun: this rank's device
    _setup_torch(cfg, device)
    seed_everything(cfg.seed)
    bundle = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
    if cfg.train_fraction is not None:  # the same subset for every training seed of a split
        bundle = subsample_train(bundle, cfg.train_fraction, seed=cfg.split_seed)
    task = TASKS.get(cfg.task)(cfg)
    bundle = task.prepare(bundle, spec)
    recipe = resolve_recipe(spec, task, bundle.info, cfg)
    task.set_recipe(recipe)
    torch.manual_seed(cfg.seed)
    model = task.build_model(spec, bundle.info).to(device)
    return spec, task, bundle, recipe, model, device


def train(cfg: TrainConfig | None = None, **overrides) -> RunResult:
    """Train one model on one dataset for one task; write and return its run directory."""
    cfg = dataclasses.replace(cfg or TrainConfig(), **overrides)
    spec, task, bundle, recipe, model, device = prepare_run(cfg)
    run = RunDir(
        Path(cfg.run_dir)
        if cfg.run_dir
        else default_run_dir(cfg.out, cfg.task, cfg.model, cfg.data, cfg.seed)
    )
    if not distributed.is_main():  # other DDP ranks only train; rank 0 writes and evaluates
        Trainer(task, model, bundle, recipe, cfg, run, device).fit()
        return RunResult(run.path, {}, {})
    if not cfg.resume and run.path.exists():
        shutil.rmtree(run.checkpoint, ignore_errors=True)  # a fresh run never continues an old one
    run.create()
    saved = cfg.to_dict() | {
        f: getattr(recipe, f)
        for f in ("epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "augment")
    }
    saved["task_options"] = {**cfg.task_options, **task.run_extras()}
    saved["resume"] = False
    save_yaml(saved, run.config)
    run.write_json(
        run.path / "run.json",
        {
            "task": cfg.task,
            "model": cfg.model,
            "family": spec.family,
            "source": spec.source,
            "dataset": bundle.info.name,
            "data": bundle.info.to_dict(),
            "recipe": recipe.to_dict(),
            "seed": cfg.seed,
            "world_size": distributed.world(),
            "ranking_metric": task.ranking_metric,
            "higher_is_better": task.higher_is_better,
            # the command line when run from the CLI; otherwise the exact replay of config.yaml
            "command": " ".join(["visionbench", *sys.argv[1:]])
            if sys.argv and "visionbench" in sys.argv[0]
            else f"visionbench train -c {run.config}",
            "environment": describe(device),
        },
    )
    started = time.time()
    run.set_status("running", started=time.strftime("%Y-%m-%dT%H:%M:%S"), error=None)
    try:
        trainer = Trainer(task, model, bundle, recipe, cfg, run, device)
        fit = trainer.fit()
        metrics = trainer.evaluate(bundle.test)  # compiled, autocast, data on the device
        model.eval()
        run.write_json(run.metrics, _clean(metrics))
        task.pictures(model, bundle, run.samples, device)
    except BaseException as e:
        run.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    run.set_status(
        "done",
        epochs=fit.epochs_done,
        steps=fit.steps,
        train_seconds=round(fit.train_seconds, 3),
        compile_seconds=round(fit.compile_seconds, 3),
        wall_seconds=round(time.time() - started, 3),
        stopped=fit.stopped,
    )
    return RunResult(run.path, _clean(metrics), run.status())


def _clean(metrics: dict) -> dict:
    return {
        k: (round(float(v), 10) if isinstance(v, (float, np.floating)) else v)
        for k, v in metrics.items()
    }


def load_run(run_dir: str | Path):
    """Rebuild a run's task, model (weights loaded) and config, without touching its data."""
    run = RunDir.open(run_dir)
    cfg = TrainConfig.from_dict(load_yaml(run.config), source=str(run.config))
    meta = run.read_json(run.path / "run.json")
    if not run.weights.exists():
        raise VisionbenchError(
            f"run {run.path} has no weights yet (status: {run.status().get('status')})"
        )
    spec = MODELS.get(cfg.model)
    task = TASKS.get(cfg.task)(cfg)
    info = DataInfo(**meta["data"])
    task.set_recipe(Recipe(**meta["recipe"]))
    model = task.build_model(spec, info)
    load_weights(model, run.weights)
    model.eval()
    return run, cfg, task, model, info


def evaluate(run_dir: str | Path, device: str = "cpu", bootstrap: int = 0) -> dict:
    """Reload a run's weights and recompute its test metrics on the same split.

    With `bootstrap=N`, each metric that is a mean over test samples (accuracy, per-image PSNR
    and SSIM, ...) also gets a seeded 95% percentile-bootstrap interval from N resamples, under
    `intervals`.
    """
    run, cfg, task, model, info = load_run(run_dir)
    dev = resolve_device(device)
    bundle = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
    bundle = task.prepare(bundle, MODELS.get(cfg.model))
    model = model.to(dev)
    with torch.no_grad():
        metrics = _clean(task.evaluate(model, bundle.test, dev))
        if bootstrap:
            from .protocols import bootstrap_ci

            values = task.per_sample(model, bundle.test, dev)
            metrics["intervals"] = {
                k: bootstrap_ci(v, n_resamples=bootstrap) for k, v in values.items()
            }
    return metrics


def read_image(path: str | Path, channels: int) -> torch.Tensor:
    """An image file as [1,C,H,W] float in [0,1], converted to the model's channel count."""
    from PIL import Image, UnidentifiedImageError

    p = require_file(path, "input image")
    try:
        with Image.open(p) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as e:
        raise VisionbenchError(f"cannot read image {p}: {e}") from None
    t = torch.from_numpy(a)
    t = t[None] if t.ndim == 2 else t.permute(2, 0, 1)
    return t[None].contiguous()


def write_image(img: torch.Tensor, path: str | Path) -> Path:
    from PIL import Image

    a = (img.detach().float().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    a = a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return Path(path)


def predict(run_dir: str | Path, input: str | Path, output: str | Path | None = None, top: int = 5):
    """Top-k classes with probabilities (classification), or the path of the restored image or
    (segmentation) of the class mask."""
    run, cfg, task, model, info = load_run(run_dir)
    x = read_image(input, info.in_chans)
    out = task.predict(model, x)
    if cfg.task == "classification":
        probs = out[0]
        k = min(top, probs.numel())
        vals, idx = probs.topk(k)
        names = info.class_names or [str(i) for i in range(probs.numel())]
        return [(names[i], float(v)) for v, i in zip(vals.tolist(), idx.tolist())]
    if cfg.task == "segmentation":  # an indexed PNG: class ids as pixel values, colour palette
        from .tasks.segmentation import save_mask

        dest = Path(output) if output else Path(input).with_name(Path(input).stem + "_mask.png")
        return save_mask(out[0], dest)
    if cfg.task == "anomaly":  # a grey-level map; the run's F1-best pixel threshold is mid-grey
        dest = Path(output) if output else Path(input).with_name(Path(input).stem + "_anomaly.png")
        return write_image(task.map_image(out[0], run.read_json(run.metrics)), dest)
    dest = Path(output) if output else Path(input).with_name(Path(input).stem + "_restored.png")
    return write_image(out[0], dest)


def list_entries(kind: str) -> list[dict]:
    """Registry contents as plain dicts: families, models, datasets, metrics, tasks, suites."""
    if kind == "families":
        return [f.to_dict() for f in FAMILIES]
    if kind == "models":
        return [m.to_dict() for m in MODELS]
    if kind == "datasets":
        return [d.to_dict() for d in DATASETS]
    if kind == "metrics":
        return [m.to_dict() for m in METRICS]
    if kind == "tasks":
        return [
            {
                "name": t.name,
                "description": t.description,
                "ranking_metric": t.ranking_metric,
                "higher_is_better": t.higher_is_better,
                "models": [m.name for m in MODELS if t.name in m.tasks],
                "datasets": [d.name for d in DATASETS if t.name in d.tasks],
            }
            for t in TASKS
        ]
    if kind == "suites":
        from .bench.suites import SUITES

        return [s.to_dict() for s in SUITES]
    raise VisionbenchError(
        f"unknown list '{kind}'; use families, models, datasets, metrics, tasks or suites"
    )


def metrics_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
