"""The Python API; every CLI command calls one of these, so both stay the same.

Training and reloading runs live in `tasks/workflow.py` (below the suite runner, which uses them
too); this module gathers them with the registries under one import: `import visionbench as vb`.
"""

from __future__ import annotations

from .config import TrainConfig
from .data.io import read_image, write_image
from .data.registry import DATASETS, load_dataset
from .errors import VisionbenchError
from .families import FAMILIES
from .metrics.registry import METRICS
from .models.registry import MODELS, create_model
from .tasks.base import TASKS
from .tasks.workflow import RunResult, evaluate, load_run, predict, prepare_run, train

__all__ = [
    "TrainConfig",
    "RunResult",
    "create_model",
    "load_dataset",
    "train",
    "evaluate",
    "predict",
    "prepare_run",
    "load_run",
    "read_image",
    "write_image",
    "list_entries",
    "FAMILIES",
    "MODELS",
    "DATASETS",
    "METRICS",
    "TASKS",
]


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
