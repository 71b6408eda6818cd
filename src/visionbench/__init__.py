"""visionbench: the review 'Neural Networks in Image Processing', runnable."""

__version__ = "0.1.0"

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
