"""Suites: named lists of jobs (task, model, dataset, protocol). `review` is the default."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..registry import Registry


@dataclass(frozen=True)
class Job:
    task: str
    model: str
    data: str
    seed: int = 0
    quick: dict = field(default_factory=dict)  # overrides for --quick (2 CPU cores)
    full: dict = field(default_factory=dict)  # overrides for --full (one GPU)

    @property
    def key(self) -> str:
        return f"{self.task}/{self.model}__{self.data}__s{self.seed}"

    def overrides(self, quick: bool) -> dict:
        return dict(self.quick if quick else self.full)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    jobs: tuple[Job, ...]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "jobs": [j.key for j in self.jobs],
        }


SUITES: Registry[Suite] = Registry("suite")

SUITES.add(
    "review",
    Suite(
        "review",
        "every family on every task it suits, on embedded data",
        (
            Job("classification", "lenet5", "digits"),
            Job("classification", "resnet18", "digits", quick={"epochs": 8}),
            Job(
                "restoration",
                "dae",
                "photos",
                quick={"task_options": {"degradation": "noise:25"}},
                full={"task_options": {"degradation": "noise:25"}},
            ),
        ),
    ),
)
SUITES.add(
    "smoke",
    Suite(
        "smoke",
        "two tiny jobs that check the whole pipeline in seconds",
        (
            Job("classification", "lenet5", "digits", quick={"epochs": 2}),
            Job(
                "restoration",
                "dae",
                "photos",
                quick={"epochs": 1, "data_options": {"patches_per_image": 16}},
            ),
        ),
    ),
)


def job_dict(job: Job) -> dict:
    return asdict(job)
