"""A run from start to end: check the names, load and prepare the data, build the model, train,
evaluate, write the run folder; and rebuild a finished run for eval, predict, profile and export.

Task-agnostic glue over the Task contract, at the tasks layer so the suite runner (bench), the
analyses and the API all train and reload runs the same way; `visionbench.api` re-exports it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import TrainConfig, load_yaml, save_yaml
from ..data.io import read_image
from ..data.registry import DataInfo, load_dataset, subsample_train
from ..engine import distributed
from ..engine.callbacks import make_loggers
from ..engine.checkpoint import load_weights
from ..engine.evaluation import evaluate as run_evaluation
from ..engine.pretrained import init_from_weights
from ..engine.trainer import Trainer, seed_everything
from ..environment import describe, resolve_device
from ..errors import VisionbenchError
from ..models.registry import MODELS, ModelSpec, Recipe, build_with, check_model_kwargs
from ..runs import RunDir, default_run_dir
from ..weights import check_weight_options, read_state_dict, sha256_of
from .base import TASKS, Task


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


def check_inputs(cfg: TrainConfig) -> ModelSpec:
    """Everything that can be checked before data loads: options (config.check_options), names,
    model options against the builder, and every weights file the run will read (`*_weights`
    task options); one line naming the value at fault."""
    cfg.validate()
    spec = _check_names(cfg)
    known = TASKS.get(cfg.task).augmentations
    if cfg.augment is not None and cfg.augment not in known:
        raise VisionbenchError(
            f"{cfg.task} augmentation must be one of {', '.join(known)}, got '{cfg.augment}'"
        )
    check_model_kwargs(spec, cfg.model_kwargs)
    check_weight_options(cfg.task_options)
    if cfg.pretrain_epochs and not _pretrains(spec):
        have = ", ".join(s.name for s in MODELS if _pretrains(s)) or "none"
        raise VisionbenchError(
            f"--pretrain-epochs {cfg.pretrain_epochs}: model '{spec.name}' has no "
            f"self-supervised pre-training (models with one: {have})"
        )
    return spec


def _pretrains(spec: ModelSpec) -> bool:
    """A model whose recipes pre-train (its network has a pre-training loss)."""
    return any(r.pretrain_epochs for r in spec.recipes.values())


def prepare_run(cfg: TrainConfig):
    """Everything a run needs before the loop: spec, task, data, recipe and the model
    (`train` runs the full `check_inputs` first)."""
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
    model = build_with(spec, lambda: task.build_model(spec, bundle.info), cfg.model_kwargs)
    return spec, task, bundle, recipe, model.to(device), device


def train(cfg: TrainConfig | None = None, **overrides) -> RunResult:
    """Train one model on one dataset for one task; write and return its run directory.

    Everything checkable is checked before a folder is made or data loaded; one process writes
    a run folder at a time (runs.FolderLock); a finished run is only replaced with `force=True`
    or continued with `resume=True`."""
    cfg = dataclasses.replace(cfg or TrainConfig(), **overrides)
    check_inputs(cfg)
    run = RunDir(
        Path(cfg.run_dir)
        if cfg.run_dir
        else default_run_dir(cfg.out, cfg.task, cfg.model, cfg.data, cfg.seed)
    )
    if distributed.env_world() > 1 and os.environ.get("RANK", "0") != "0":
        spec, task, bundle, recipe, model, device = prepare_run(cfg)
        start_from_weights(model, cfg)
        if not _resuming(cfg, run):
            task.pretrain(model, bundle, recipe, device)  # every rank: DDP all-reduces in it
        Trainer(task, model, bundle, recipe, cfg, run, device).fit()  # other DDP ranks only train
        return RunResult(run.path, {}, {})
    with run.lock():  # rank 0 writes and evaluates
        run.check_can_train(resume=cfg.resume, force=cfg.force)
        if cfg.resume and (run.checkpoint / "state.pt").exists():
            read_state_dict(run.checkpoint / "state.pt", "checkpoint state")  # before the data
        spec, task, bundle, recipe, model, device = prepare_run(cfg)
        init = start_from_weights(model, cfg)
        return _train_in(run, cfg, spec, task, bundle, recipe, model, device, init)


def _train_in(run: RunDir, cfg: TrainConfig, spec, task, bundle, recipe, model, device, init):
    """The rank-0 part of `train`, with the run folder's lock held."""
    if not cfg.resume and run.path.exists():
        shutil.rmtree(run.checkpoint, ignore_errors=True)  # a fresh run never continues an old one
    run.create()
    saved = cfg.to_dict() | {
        f: getattr(recipe, f)
        for f in ("epochs", "batch_size", "lr", "optimizer", "schedule", "weight_decay", "augment")
    }
    if recipe.pretrain_epochs:  # replayed as it ran (0 is every model's default)
        saved["pretrain_epochs"] = recipe.pretrain_epochs
    saved["resume"] = saved["force"] = False
    save_yaml(saved, run.config)
    task.save_state(run.task_state)
    meta = {
        "task": cfg.task,
        "model": cfg.model,
        "family": spec.family,
        "source": spec.source,
        "dataset": bundle.info.name,
        # the leaderboard group (a suite's dataset plus variant): stored, never parsed back
        "setting": cfg.setting or bundle.info.name,
        "data": bundle.info.to_dict(),
        "recipe": recipe.to_dict(),
        "seed": cfg.seed,
        "world_size": distributed.world(),
        "ranking_metric": task.ranking_metric,
        "higher_is_better": task.higher_is_better,
        # what a report shows beside the ranking metric, and each metric's baseline key
        "also_shown": list(task.also_shown),
        "baselines": dict(task.baselines),
        # the command line when run from the CLI; otherwise the exact replay of config.yaml
        "command": " ".join(["visionbench", *sys.argv[1:]])
        if sys.argv and "visionbench" in sys.argv[0]
        else f"visionbench train -c {run.config}",
        "environment": describe(device),
        "init_weights": init.to_dict() if init else None,
    }
    run.write_json(run.meta_file, meta)
    started = time.time()
    run.set_status("running", started=time.strftime("%Y-%m-%dT%H:%M:%S"), error=None)
    loggers = make_loggers(cfg.loggers, run, saved)
    try:
        if not _resuming(cfg, run):  # a checkpoint's weights already hold the pre-training
            pretrained = task.pretrain(model, bundle, recipe, device)
            if pretrained or "pretraining" in run.status():  # never an earlier run's record
                run.set_status("running", pretraining=pretrained or None)
        trainer = Trainer(task, model, bundle, recipe, cfg, run, device, callbacks=loggers)
        fit = trainer.fit()
        metrics = trainer.evaluate(bundle.test)  # compiled, autocast, data on the device
        model.eval()
        run.write_json(run.metrics, _clean(metrics))
        task.pictures(model, bundle, run.samples, device)
        loggers.train_end(_clean(metrics), sorted(run.samples.glob("*.png")))
        # pins the weights to the run: load_run refuses a file changed afterwards
        run.write_json(run.meta_file, meta | {"weights_sha256": sha256_of(run.weights)})
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (cli.main raises errors.Terminated)
        run.set_status("interrupted", error=str(e) or "interrupted")
        raise
    except BaseException as e:
        run.set_status("failed", error=f"{type(e).__name__}: {e}")
        raise
    finally:
        loggers.close()
    run.set_status(
        "done",
        epochs=fit.epochs_done,
        **_work(task, model, bundle, recipe, device, fit.steps),
        train_seconds=round(fit.train_seconds, 3),
        compile_seconds=round(fit.compile_seconds, 3),
        wall_seconds=round(time.time() - started, 3),
        stopped=fit.stopped,
        resumed_from=fit.resumed_from,
    )
    return RunResult(run.path, _clean(metrics), run.status())


def _resuming(cfg: TrainConfig, run: RunDir) -> bool:
    return bool(cfg.resume and (run.checkpoint / "state.pt").exists())


def start_from_weights(model, cfg: TrainConfig):
    """`--weights`: initialise the model from a local file and say what fitted (or None)."""
    if not cfg.weights:
        return None
    report = init_from_weights(model, cfg.weights)
    if distributed.is_main() and not cfg.quiet:
        print(report.summary(), file=sys.stderr)
    return report


def _work(task, model, bundle, recipe, device, steps: int) -> dict:
    """Steps, samples and training FLOPs for status.json; a counting failure loses no run."""
    from ..engine.work import training_work

    try:
        return training_work(task, model, bundle.train, recipe, device, steps, distributed.world())
    except Exception as e:
        return {"steps": steps, "train_flops": None, "work_error": f"{type(e).__name__}: {e}"}


def _clean(metrics: dict) -> dict:
    return {
        k: (round(float(v), 10) if isinstance(v, (float, np.floating)) else v)
        for k, v in metrics.items()
    }


def evaluate(
    run_dir: str | Path,
    device: str = "cpu",
    bootstrap: int = 0,
    data: str | None = None,
    data_options: dict | None = None,
    save_predictions: str | Path | None = None,
) -> dict:
    """Reload a run's weights and recompute its test metrics on the same split, or, with
    `data='NAME:PATH'`, on another data set with a compatible label space (cross-dataset
    evaluation: every image of an evaluation set, outputs narrowed to its classes).

    With `bootstrap=N`, each metric that is a mean over test samples (accuracy, per-image PSNR
    and SSIM, ...) also gets a seeded 95% percentile-bootstrap interval from N resamples, under
    `intervals`. With `save_predictions=FILE` the task writes its test predictions there (a
    detector: COCO results JSON).
    """
    run, cfg, task, model, info = load_run(run_dir)
    dev = resolve_device(device)
    if data:
        from ..data.labelspace import compatible_model, load_eval_set

        defaults = task.eval_data_options(info)
        bundle = load_eval_set(data, cfg.task, defaults, **(data_options or {}))
        model = compatible_model(model, info.class_names, bundle.info.class_names, data)
    else:
        bundle = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
    bundle = task.prepare(bundle, MODELS.get(cfg.model))  # the loaded state is kept
    model = model.to(dev)
    with torch.no_grad():
        ev = task.evaluator("test")  # one pass: its per-sample values feed the bootstrap too
        metrics = _clean(run_evaluation(model, task.eval_batches(bundle.test, dev), ev))
        if bootstrap:
            from ..metrics.intervals import bootstrap_ci

            values = ev.per_sample()
            metrics["intervals"] = {
                k: bootstrap_ci(v, n_resamples=bootstrap) for k, v in values.items()
            }
        if save_predictions:
            task.save_predictions(model, bundle.test, dev, Path(save_predictions))
    return metrics


def predict(run_dir: str | Path, input: str | Path, output: str | Path | None = None, top: int = 5):
    """What the run's task predicts for one image file: the top-k classes with probabilities
    (classification), or the path of the file it wrote (restored image, class mask, map, ...)."""
    run, cfg, task, model, info = load_run(run_dir)
    x = read_image(input, info.in_chans)
    out = task.predict(model, x)
    return task.write_prediction(
        out,
        Path(input),
        Path(output) if output else None,
        info=info,
        metrics=run.read_json(run.metrics),
        top=top,
    )


def load_run(run_dir: str | Path):
    """(run, cfg, task, model, info) of a finished run, weights loaded, model in eval mode."""
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
    task.info = info
    task.set_recipe(Recipe(**meta["recipe"]))
    if run.task_state.exists():
        task.load_state(run.read_json(run.task_state), str(run.task_state))
    else:  # a run written before task_state.json kept its state among the task options
        task.load_state(dict(cfg.task_options), f"{run.config} (task_options)")
    model = build_with(spec, lambda: task.build_model(spec, info), cfg.model_kwargs)
    load_weights(model, run.weights, sha256=meta.get("weights_sha256"))
    model.eval()
    return run, cfg, task, model, info
