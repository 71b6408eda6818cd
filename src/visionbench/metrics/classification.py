"""Classification metrics from one confusion matrix (scikit-learn's definitions, zero_division=0)."""

from __future__ import annotations

import torch

from .registry import register_metric


def confusion_matrix(target: torch.Tensor, pred: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Rows are true classes, columns predicted classes (scikit-learn's orientation)."""
    idx = target.long().reshape(-1) * num_classes + pred.long().reshape(-1)
    return torch.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def _safe_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp(min=1e-300), torch.zeros_like(a))


def scores_from_confusion(cm: torch.Tensor) -> dict[str, float | list[float]]:
    """Accuracy and precision/recall/F1 (micro, macro, weighted, per class) from one matrix.

    Every class of the matrix counts in the macro mean, including classes never predicted
    (precision 0) or absent from the targets (recall 0): scikit-learn with `labels=range(K)`.
    Micro averages equal accuracy for single-label problems; they are listed for completeness.
    """
    cm = cm.double()
    tp = cm.diag()
    support, predicted = cm.sum(1), cm.sum(0)
    precision = _safe_div(tp, predicted)
    recall = _safe_div(tp, support)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    weights = support / support.sum()
    total = cm.sum()
    return {
        "accuracy": float(tp.sum() / total),
        "precision_macro": float(precision.mean()),
        "recall_macro": float(recall.mean()),
        "f1_macro": float(f1.mean()),
        "precision_weighted": float((precision * weights).sum()),
        "recall_weighted": float((recall * weights).sum()),
        "f1_weighted": float((f1 * weights).sum()),
        "precision_micro": float(tp.sum() / total),
        "recall_micro": float(tp.sum() / total),
        "f1_micro": float(tp.sum() / total),
        "per_class_precision": precision.tolist(),
        "per_class_recall": recall.tolist(),
        "per_class_f1": f1.tolist(),
        "support": support.long().tolist(),
    }


def topk_accuracy(logits: torch.Tensor, target: torch.Tensor, k: int) -> float:
    """Share of samples whose class is among the k highest scores.

    Ties at the k-th score are broken by torch.topk, whereas scikit-learn's top_k_accuracy_score
    uses a stable argsort; the two differ only when scores tie exactly.
    """
    k = min(k, logits.shape[1])
    top = logits.topk(k, dim=1).indices
    return float((top == target[:, None]).any(1).double().mean())


register_metric(
    name="accuracy",
    task="classification",
    definition="correct predictions / all predictions",
    settings="top-1; micro average",
    reference="sklearn.metrics.accuracy_score",
    equation=1,
)
register_metric(
    name="top5_accuracy",
    task="classification",
    definition="share of samples whose true class is among the 5 highest scores",
    settings="k=5 (k = number of classes when fewer)",
    reference="sklearn.metrics.top_k_accuracy_score",
)
for _avg in ("micro", "macro", "weighted"):
    register_metric(
        name=f"precision_{_avg}",
        task="classification",
        definition="TP / (TP + FP), per class then averaged",
        settings=f"{_avg} average, zero_division=0",
        reference=f"sklearn.metrics.precision_score(average='{_avg}')",
        equation=2,
    )
    register_metric(
        name=f"recall_{_avg}",
        task="classification",
        definition="TP / (TP + FN), per class then averaged",
        settings=f"{_avg} average, zero_division=0",
        reference=f"sklearn.metrics.recall_score(average='{_avg}')",
        equation=3,
    )
    register_metric(
        name=f"f1_{_avg}",
        task="classification",
        definition="harmonic mean of precision and recall, per class then averaged",
        settings=f"{_avg} average, zero_division=0",
        reference=f"sklearn.metrics.f1_score(average='{_avg}')",
        equation=4,
    )
register_metric(
    name="per_class_precision",
    task="classification",
    definition="TP / (TP + FP) of each class",
    settings="zero_division=0 (a class never predicted scores 0)",
    reference="sklearn.metrics.precision_score(average=None)",
    equation=2,
)
register_metric(
    name="per_class_recall",
    task="classification",
    definition="TP / (TP + FN) of each class",
    settings="zero_division=0",
    reference="sklearn.metrics.recall_score(average=None)",
    equation=3,
)
register_metric(
    name="per_class_f1",
    task="classification",
    definition="F1 of each class",
    settings="zero_division=0",
    reference="sklearn.metrics.f1_score(average=None)",
    equation=4,
)
register_metric(
    name="confusion_matrix",
    task="classification",
    definition="counts of (true class, predicted class) pairs; also drawn as a PNG",
    settings="rows true, columns predicted; one bincount",
    reference="sklearn.metrics.confusion_matrix",
)
