"""The review's Section IV metrics; each module registers what it computes."""

from .registry import METRICS, MetricSpec

__all__ = ["METRICS", "MetricSpec"]
