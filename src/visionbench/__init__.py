"""visionbench: the review 'Neural Networks in Image Processing', runnable.

The public names below come from `visionbench.api`, imported on first use: `import visionbench`
(and so `visionbench --version`, `--help`) does not pay for torch, timm and the model zoo.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

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

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on demand
    from .api import (
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


def __getattr__(name: str):
    if name in __all__:
        value = getattr(importlib.import_module(".api", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'visionbench' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
