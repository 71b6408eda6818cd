"""Training callbacks and the opt-in experiment trackers (`train --logger tensorboard|mlflow`).

The trainer calls three hooks and knows nothing of what listens: the run's config at the start,
each epoch's row (train_* means, lr, val_* metrics) after validation, and the final test metrics
with the run's pictures at the end. Trackers are optional dependencies (the `tracking` extra),
imported only when asked for, and write under the run folder: nothing leaves the machine.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import VisionbenchError


class Callback:
    """Hooks of one training run; each does nothing unless overridden."""

    def train_start(self, config: dict) -> None:
        """The resolved config (every option, the recipe included)."""

    def epoch_end(self, row: dict) -> None:
        """One epoch's history row: epoch, train_*, lr, val_*."""

    def train_end(self, metrics: dict, images: list[Path]) -> None:
        """The final test metrics and the PNG pictures the task wrote for the run."""

    def close(self) -> None:
        """Flush and release whatever the callback holds; called even when training failed."""


class Callbacks(Callback):
    """Several callbacks called in order, as one."""

    def __init__(self, callbacks: list[Callback] | tuple[Callback, ...] = ()):
        self.callbacks = list(callbacks)

    def train_start(self, config: dict) -> None:
        for c in self.callbacks:
            c.train_start(config)

    def epoch_end(self, row: dict) -> None:
        for c in self.callbacks:
            c.epoch_end(row)

    def train_end(self, metrics: dict, images: list[Path]) -> None:
        for c in self.callbacks:
            c.train_end(metrics, images)

    def close(self) -> None:
        for c in self.callbacks:
            c.close()


def scalars(row: dict) -> dict[str, float]:
    """The finite numbers of a row or metrics dict (lists such as per-class values dropped)."""
    out = {}
    for k, v in row.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if math.isfinite(float(v)):
            out[k] = float(v)
    return out


def _flat_config(config: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out |= _flat_config(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = "" if v is None else str(v)
    return out


def _read_png(path: Path):
    from matplotlib.image import imread

    img = imread(str(path))  # float in [0, 1], H x W x C (or H x W for gray)
    if img.ndim == 2:
        img = img[..., None].repeat(3, axis=2)
    return (img[..., :3] * 255).round().astype("uint8")


class TensorBoardLogger(Callback):
    """Event files in RUN/tensorboard (`tensorboard --logdir RUN/tensorboard`)."""

    def __init__(self, log_dir: Path):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise VisionbenchError(
                "--logger tensorboard needs the tensorboard package: "
                "pip install 'visionbench[tracking]'"
            ) from None
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.epoch = 0

    def train_start(self, config: dict) -> None:
        lines = "\n".join(f"    {k}: {v}" for k, v in _flat_config(config).items())
        self.writer.add_text("config", lines, 0)

    def epoch_end(self, row: dict) -> None:
        self.epoch = int(row.get("epoch", self.epoch + 1))
        for k, v in scalars(row).items():
            if k != "epoch":
                self.writer.add_scalar(k, v, self.epoch)

    def train_end(self, metrics: dict, images: list[Path]) -> None:
        for k, v in scalars(metrics).items():
            self.writer.add_scalar(f"test_{k}", v, self.epoch)
        for path in images:
            self.writer.add_image(path.stem, _read_png(path), self.epoch, dataformats="HWC")

    def close(self) -> None:
        self.writer.close()


class MLflowLogger(Callback):
    """One MLflow run in a local file store (RUN/mlruns; `mlflow ui --backend-store-uri ...`)."""

    def __init__(self, store: Path, experiment: str, run_name: str):
        try:
            import mlflow
        except ImportError:
            raise VisionbenchError(
                "--logger mlflow needs the mlflow-skinny package: pip install 'visionbench[tracking]'"
            ) from None
        # MLflow 3 keeps its file store in maintenance mode behind this switch; a file store under
        # the run folder is what we want (no server, no database, copied with the run), so it is
        # allowed here, for this opt-in logger only, unless the user set the switch otherwise.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = mlflow.MlflowClient(tracking_uri=store.resolve().as_uri())
        found = self.client.get_experiment_by_name(experiment)
        exp_id = found.experiment_id if found else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(exp_id, run_name=run_name).info.run_id
        self.epoch, self.status = 0, "FAILED"  # FINISHED once train_end is reached

    def train_start(self, config: dict) -> None:
        for k, v in _flat_config(config).items():
            self.client.log_param(self.run_id, k, v[:6000])

    def epoch_end(self, row: dict) -> None:
        self.epoch = int(row.get("epoch", self.epoch + 1))
        for k, v in scalars(row).items():
            if k != "epoch":
                self.client.log_metric(self.run_id, k, v, step=self.epoch)

    def train_end(self, metrics: dict, images: list[Path]) -> None:
        for k, v in scalars(metrics).items():
            self.client.log_metric(self.run_id, f"test_{k}", v, step=self.epoch)
        for path in images:
            self.client.log_artifact(self.run_id, str(path), artifact_path="samples")
        self.status = "FINISHED"

    def close(self) -> None:
        self.client.set_terminated(self.run_id, status=self.status)


LOGGERS = ("tensorboard", "mlflow")


def make_loggers(names: list[str] | None, run, config: dict) -> Callbacks:
    """The trackers named by `--logger`, writing under the run folder, with the config logged."""
    callbacks: list[Callback] = []
    for name in dict.fromkeys(names or ()):
        if name == "tensorboard":
            callbacks.append(TensorBoardLogger(run.path / "tensorboard"))
        elif name == "mlflow":
            callbacks.append(
                MLflowLogger(run.path / "mlruns", "visionbench", run_name=run.path.name)
            )
        else:
            raise VisionbenchError(f"unknown logger '{name}'; choose from: {', '.join(LOGGERS)}")
    out = Callbacks(callbacks)
    out.train_start(config)
    return out
