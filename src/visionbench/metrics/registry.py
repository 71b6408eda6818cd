"""MetricSpec: each metric's definition, settings and the reference implementation it matches."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..registry import Registry


@dataclass(frozen=True)
class MetricSpec:
    name: str
    task: str
    definition: str
    settings: str
    reference: str
    higher_is_better: bool = True
    equation: int | None = None  # the review's equation number (1..7) where it gives one

    def to_dict(self) -> dict:
        return asdict(self)


def _load_metrics() -> None:
    from . import anomaly, classification, detection, generation, image, segmentation  # noqa: F401


METRICS: Registry[MetricSpec] = Registry("metric", loader=_load_metrics)


def register_metric(**kw) -> MetricSpec:
    return METRICS.add(kw["name"], MetricSpec(**kw))
