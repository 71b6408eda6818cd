"""Corruption and adversarial robustness of any run, through its task's own evaluator.

A `Probe` hides the task: `score(transform)` evaluates the model on the test batches with each
batch's images replaced by `transform(images, batch, index)` (None: the clean images), and
`loss(batch)` gives the per-image training loss of the model on that batch as a function of its
images, which is what the attacks differentiate. So accuracy, mIoU, mAP, PSNR or AUROC under
corruption, and any of them against epsilon, come from one code path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import torch

from . import mce
from .adversarial import attack
from .corruptions import CORRUPTIONS, REFERENCE, SEVERITIES, corrupt

Transform = Callable[[torch.Tensor, Any, int], torch.Tensor]


class Probe(Protocol):
    metric: str  # the headline metric the tables report
    higher_is_better: bool
    bounded: bool  # the metric lies in [0,1], so error = 1 - metric (mCE is defined)

    def score(self, transform: Transform | None = None) -> dict[str, float]: ...

    def loss(self, batch: Any) -> Callable[[torch.Tensor], torch.Tensor]: ...


def corruption_study(
    probe: Probe,
    corruptions: Sequence[str] = CORRUPTIONS,
    severities: Sequence[int] = SEVERITIES,
    seed: int = 0,
    reference: dict | None = None,
    relative: bool = False,
) -> dict:
    """{clean, table {corruption: {severity: metric}}, errors, mean error, CE/mCE vs reference}.

    `reference` is another study's result on the same data (the suite's AlexNet: the paper's
    normalisation); without one, only the mean error is given. Each (corruption, severity,
    batch) has its own seed, so a rerun reproduces every pixel. `relative` scales the
    corruptions' spatial parameters to the image size (corruptions.corrupt).
    """
    t0 = time.perf_counter()
    clean = probe.score(None)[probe.metric]
    table: dict[str, dict[int, float]] = {}
    for ci, name in enumerate(corruptions):
        table[name] = {}
        for sev in severities:

            def tf(images, batch, i, name=name, sev=sev, ci=ci):
                return corrupt(
                    images, name, sev, seed=seed + 1000 * ci + 100 * sev + i, relative=relative
                )

            table[name][sev] = probe.score(tf)[probe.metric]
    out = {
        "metric": probe.metric,
        "higher_is_better": probe.higher_is_better,
        "clean": clean,
        "table": table,
        "severities": list(severities),
        "relative": relative,
        "reference_paper": REFERENCE,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if probe.bounded and probe.higher_is_better:
        errors = errors_of(table)
        out["errors"] = mce.summary(errors, 1 - clean)
        if reference is not None:
            out["errors"] = with_reference(errors, 1 - clean, reference)
    else:  # unbounded metrics (PSNR): the drop from clean, per corruption
        sign = 1 if probe.higher_is_better else -1
        out["drop"] = {
            c: sum(sign * (clean - v) for v in row.values()) / len(row) for c, row in table.items()
        }
    return out


def errors_of(table: dict[str, dict[int, float]]) -> dict[str, dict[int, float]]:
    return {c: {s: 1 - v for s, v in row.items()} for c, row in table.items()}


def with_reference(errors: dict, clean_error: float, reference: dict) -> dict:
    """mce.summary against a reference study (its `table` and `clean`), on shared corruptions."""
    # severities come back from JSON as strings
    ref = errors_of(
        {c: {int(s): v for s, v in row.items()} for c, row in reference["table"].items()}
    )
    shared = {c: errors[c] for c in errors if c in ref}
    return mce.summary(
        shared,
        clean_error,
        {c: ref[c] for c in shared},
        1 - reference["clean"],
        ref_name=reference.get("name", "reference"),
    )


def adversarial_study(
    probe: Probe,
    eps: dict[str, Sequence[float]],
    attacks: Sequence[str] = ("fgsm", "pgd"),
    steps: int = 10,
    seed: int = 0,
) -> dict:
    """The metric against epsilon per attack and norm: eps = {"linf": [...], "l2": [...]}."""
    t0 = time.perf_counter()
    clean = probe.score(None)[probe.metric]
    rows = []
    for norm, grid in eps.items():
        for name in attacks:
            for e in grid:
                if e == 0:
                    rows.append({"attack": name, "norm": norm, "eps": 0.0, "score": clean})
                    continue

                def tf(images, batch, i, name=name, norm=norm, e=e):
                    kw = {"steps": steps, "seed": seed + i} if name == "pgd" else {}
                    return attack(name, images, probe.loss(batch), float(e), norm, **kw)

                rows.append(
                    {
                        "attack": name,
                        "norm": norm,
                        "eps": float(e),
                        "score": probe.score(tf)[probe.metric],
                    }
                )
    return {
        "metric": probe.metric,
        "clean": clean,
        "rows": rows,
        "steps": steps,
        "step_size": "2.5 eps / steps (Madry et al.)",
        "random_start": True,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def worst_attack(rows: Sequence[dict], higher_is_better: bool, norm: str = "linf") -> list[dict]:
    """Per epsilon of `norm`, the attack that hurt most: {"eps", "score", "attack"}, by epsilon.
    The robust metric is the worst case over the attacks run, not PGD's alone: on a near-linear
    model (a super-resolution net under a squared error) one full FGSM step to the corner of the
    ball can beat a few PGD steps from a random start."""
    worst: dict[float, dict] = {}
    for r in rows:
        if r["norm"] != norm or r["score"] is None:
            continue
        w = worst.get(r["eps"])
        if w is None or (r["score"] < w["score"]) == higher_is_better and r["score"] != w["score"]:
            worst[r["eps"]] = {"eps": r["eps"], "score": r["score"], "attack": r["attack"]}
    return [worst[e] for e in sorted(worst)]
