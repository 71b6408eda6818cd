"""Per-group metrics of a classifier's predictions, with fairlearn's definitions.

Given true labels, predictions and one group id per image (CelebA's second attribute, the
bias-aligned / bias-conflicting split of the coloured digits):
- per-group accuracy, the worst group's accuracy and the gap best - worst;
- demographic-parity difference: max - min over groups of the selection rate P(y_hat = pos | g)
  (fairlearn.metrics.demographic_parity_difference, method "between_groups");
- equalised-odds difference: the larger of the between-group differences of the true-positive
  rate and of the false-positive rate (fairlearn.metrics.equalized_odds_difference,
  agg "worst_case").
Both fairlearn measures are defined for a binary outcome. With more than two classes each class
is taken one-vs-rest and the largest difference over classes is reported, with that class named.
Groups where a rate is undefined (no positives for a TPR) are left out of that rate's difference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import VisionbenchError


def _rates(y: np.ndarray, p: np.ndarray, groups: np.ndarray, pos) -> dict[str, list[float]]:
    sel, tpr, fpr = [], [], []
    for g in np.unique(groups):
        m = groups == g
        yt, yp = y[m] == pos, p[m] == pos
        sel.append(float(yp.mean()))
        if yt.any():
            tpr.append(float(yp[yt].mean()))
        if (~yt).any():
            fpr.append(float(yp[~yt].mean()))
    return {"selection": sel, "tpr": tpr, "fpr": fpr}


def _spread(values: list[float]) -> float:
    return max(values) - min(values) if len(values) >= 2 else 0.0


def demographic_parity_difference(y_true, y_pred, groups, pos=1) -> float:
    return _spread(_rates(*_arrays(y_true, y_pred, groups), pos)["selection"])


def equalized_odds_difference(y_true, y_pred, groups, pos=1) -> float:
    r = _rates(*_arrays(y_true, y_pred, groups), pos)
    return max(_spread(r["tpr"]), _spread(r["fpr"]))


def _arrays(y_true, y_pred, groups):
    y, p, g = (np.asarray(a).reshape(-1) for a in (y_true, y_pred, groups))
    if not len(y) == len(p) == len(g):
        raise VisionbenchError(
            f"labels, predictions and groups differ in length: {len(y)}, {len(p)}, {len(g)}"
        )
    if len(y) == 0:
        raise VisionbenchError("group metrics need at least one image")
    return y, p, g


def group_report(
    y_true,
    y_pred,
    groups,
    group_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
) -> dict:
    """Per-group accuracy and support, worst group, gap, DP and EO differences (see module)."""
    y, p, g = _arrays(y_true, y_pred, groups)
    ids = np.unique(g)

    def gname(i) -> str:
        return str(group_names[int(i)]) if group_names is not None else str(int(i))

    per = {
        gname(i): {
            "images": int((g == i).sum()),
            "accuracy": float((y[g == i] == p[g == i]).mean()),
        }
        for i in ids
    }
    accs = {k: v["accuracy"] for k, v in per.items()}
    worst = min(accs, key=accs.get)
    best = max(accs, key=accs.get)
    classes = np.union1d(np.unique(y), np.unique(p))
    if len(classes) <= 2:
        pos = classes.max() if len(classes) else 1
        dpd = demographic_parity_difference(y, p, g, pos)
        eod = equalized_odds_difference(y, p, g, pos)
        dp_class = eo_class = pos
    else:  # one-vs-rest, the largest difference over classes
        dps = {c: demographic_parity_difference(y, p, g, c) for c in classes}
        eos = {c: equalized_odds_difference(y, p, g, c) for c in classes}
        dp_class, eo_class = max(dps, key=dps.get), max(eos, key=eos.get)
        dpd, eod = dps[dp_class], eos[eo_class]

    def cname(c) -> str:
        return str(class_names[int(c)]) if class_names is not None else str(int(c))

    return {
        "groups": per,
        "accuracy": float((y == p).mean()),
        "worst_group": worst,
        "worst_group_accuracy": accs[worst],
        "best_group": best,
        "accuracy_gap": accs[best] - accs[worst],
        "demographic_parity_difference": dpd,
        "demographic_parity_class": cname(dp_class),
        "equalized_odds_difference": eod,
        "equalized_odds_class": cname(eo_class),
        "multiclass": "one-vs-rest, largest over classes" if len(classes) > 2 else "binary",
    }
