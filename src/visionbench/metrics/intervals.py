"""Confidence intervals of the review's protocols (Sec. IV): Student-t over seeds or folds, and
the percentile bootstrap over per-sample values. Pure statistics, so any layer may use them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import VisionbenchError


def t_interval(values: Sequence[float], confidence: float = 0.95) -> dict:
    """Mean, sample std (N-1) and the Student-t interval of the mean; None where N < 2."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    n = x.size
    mean = float(x.mean()) if n else float("nan")
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci_low": None, "ci_high": None}
    std = float(x.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "confidence": confidence,
    }


def bootstrap_ci(
    values: Sequence[float],
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict:
    """Percentile bootstrap interval of the mean of per-sample values.

    Per-sample correctness (0/1) gives an accuracy interval; per-image PSNR, SSIM or scores give
    theirs. Seeded, so a report is reproducible. The percentile method stays defined when every
    value is equal (BCa does not).
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if x.size == 0:
        raise VisionbenchError("bootstrap needs at least one value")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (n_resamples, x.size))].mean(1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return {
        "n": int(x.size),
        "mean": float(x.mean()),
        "ci_low": float(low),
        "ci_high": float(high),
        "confidence": confidence,
        "n_resamples": n_resamples,
        "method": "percentile bootstrap",
    }
