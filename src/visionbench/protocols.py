"""Evaluation protocols of the review's Sec. IV: holdout, stratified k-fold CV, repeated seeds,
bootstrap confidence intervals.

The fixed-seed holdout split lives with the data (data/splits.py; the test split is never used
for selection). Cross-validation and repeated seeds call `api.train` once per fold or seed, each
into its own run directory (`<run>__cv5f0`, `<run>__s1`), and write a summary JSON next to them:
mean, sample standard deviation and a 95% Student-t interval of every scalar test metric.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from .config import TrainConfig
from .errors import VisionbenchError
from .files import write_json
from .metrics.intervals import bootstrap_ci, t_interval  # noqa: F401  (the protocols' intervals)
from .runs import default_run_dir


def _base_run_dir(cfg: TrainConfig) -> Path:
    if cfg.run_dir:
        return Path(cfg.run_dir)
    return default_run_dir(cfg.out, cfg.task, cfg.model, cfg.data, cfg.seed)


def summarize_runs(results: list, protocol: dict, path: Path) -> dict:
    """Aggregate the scalar metrics of several RunResults and write the summary JSON."""
    names = [
        k
        for k, v in results[0].metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    metrics = {}
    for name in names:
        values = [float(r.metrics[name]) for r in results if name in r.metrics]
        metrics[name] = {**t_interval(values), "values": values}
    summary = {
        **protocol,
        "runs": [str(r.run_dir) for r in results],
        "metrics": metrics,
        "interval": "95% Student-t interval of the mean over runs (std with N-1)",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, summary, sort_keys=False)
    summary["summary_path"] = str(path)
    return summary


def _check_folds_supported(cfg: TrainConfig, k: int) -> None:
    from .data.registry import load_dataset

    if k < 2:
        raise VisionbenchError(f"--cv needs at least 2 folds, got {k}")
    options = {**cfg.data_options, "fold": [k, 0]}
    info = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **options).info
    if "fold" not in (info.split or ""):
        raise VisionbenchError(
            f"dataset '{info.name}' has a fixed split and does not support --cv; "
            "use --seeds N for repeated runs instead"
        )


def cross_validate(
    cfg: TrainConfig,
    k: int,
    on_run: Callable[[int, object], None] | None = None,
    train: Callable | None = None,
) -> dict:
    """Stratified k-fold CV: one run per fold (`<run>__cv{k}f{i}`), summary `<run>__cv{k}.json`."""
    from . import api

    train = train or api.train
    _check_folds_supported(cfg, k)
    base = _base_run_dir(cfg)
    results = []
    for i in range(k):
        fold_cfg = dataclasses.replace(
            cfg,
            run_dir=str(base.with_name(f"{base.name}__cv{k}f{i}")),
            data_options={**cfg.data_options, "fold": [k, i]},
        )
        results.append(train(fold_cfg))
        if on_run:
            on_run(i, results[-1])
    protocol = {
        "protocol": f"stratified {k}-fold cross-validation",
        "folds": k,
        "split_seed": cfg.split_seed,
        "seed": cfg.seed,
    }
    return summarize_runs(results, protocol, base.with_name(f"{base.name}__cv{k}.json"))


def repeated_seeds(
    cfg: TrainConfig,
    n: int,
    on_run: Callable[[int, object], None] | None = None,
    train: Callable | None = None,
) -> dict:
    """N runs with training seeds seed..seed+N-1 on the same split; summary `<run>__seeds{N}.json`."""
    from . import api

    if n < 2:
        raise VisionbenchError(f"--seeds needs at least 2 runs, got {n}")
    train = train or api.train
    results = []
    for i in range(n):
        seed = cfg.seed + i
        run_dir = f"{cfg.run_dir}__s{seed}" if cfg.run_dir else ""
        results.append(train(dataclasses.replace(cfg, seed=seed, run_dir=run_dir)))
        if on_run:
            on_run(i, results[-1])
    base = _base_run_dir(cfg)
    protocol = {
        "protocol": f"{n} training seeds on one split",
        "seeds": list(range(cfg.seed, cfg.seed + n)),
        "split_seed": cfg.split_seed,
    }
    return summarize_runs(results, protocol, base.with_name(f"{base.name}__seeds{n}.json"))
