"""visionbench: the review 'Neural Networks in Image Processing', runnable."""

from ._version import __version__
from .api import (  # noqa: E402
    DATASETS,
    FAMILIES,
    METRICS,
    MODELS,
    TASKS,
    RunResult,
    TrainConfig,
    create_model,
    evaluate,
    list_entries,
    load_dataset,
    load_run,
    predict,
    train,
)

__all__ = [
    "__version__",
    "DATASETS",
    "FAMILIES",
    "METRICS",
    "MODELS",
    "TASKS",
    "RunResult",
    "TrainConfig",
    "create_model",
    "evaluate",
    "list_entries",
    "load_dataset",
    "load_run",
    "predict",
    "train",
]
