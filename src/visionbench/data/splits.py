"""Deterministic splits for sets that ship without an official one."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split


def stratified_holdout(
    labels: np.ndarray, *, test: float = 0.2, val: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays (train, val, test): a stratified `test` share, then `val` of the whole from the rest."""
    idx = np.arange(len(labels))
    rest, test_idx = train_test_split(idx, test_size=test, stratify=labels, random_state=seed)
    val_share = val / (1.0 - test)
    train_idx, val_idx = train_test_split(
        rest, test_size=val_share, stratify=labels[rest], random_state=seed
    )
    return np.sort(train_idx), np.sort(val_idx), np.sort(test_idx)


def stratified_kfold(
    labels: np.ndarray, k: int, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs of stratified k-fold cross-validation."""
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(np.sort(a), np.sort(b)) for a, b in skf.split(np.zeros(len(labels)), labels)]


def stratified_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Sorted indices of a seeded, stratified `fraction` of the samples (data-efficiency runs).

    Class proportions are kept (scikit-learn's stratified split), so a 10% subset of a balanced
    set stays balanced; the size is floor(fraction * n), at least one image per class.
    """
    n = len(labels)
    idx = np.arange(n)
    if fraction >= 1.0:
        return idx
    classes = len(np.unique(labels))
    size = max(int(fraction * n), classes)
    if size >= n:
        return idx
    keep, _ = train_test_split(idx, train_size=size, stratify=labels, random_state=seed)
    return np.sort(keep)
