"""Corruption error scores of Hendrycks & Dietterich (ICLR 2019), Sec. 3.

Errors are tables {corruption: {severity: error}} with error = 1 - accuracy (or 1 - any
higher-is-better score in [0,1], such as mIoU or mAP, for tasks other than classification).

- CE_c = sum_s E_{s,c}(f) / sum_s E_{s,c}(ref): the model's error summed over severities,
  normalised by a reference model's (AlexNet in the paper), so hard corruptions do not dominate.
- mCE = mean_c CE_c.
- relative CE_c = sum_s (E_{s,c}(f) - E_clean(f)) / sum_s (E_{s,c}(ref) - E_clean(ref)): the
  degradation, not the error; relative mCE = mean_c.
- mean error: the plain mean of E over corruptions and severities (no reference needed).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ..errors import VisionbenchError

Errors = Mapping[str, Mapping[int, float]]

# The paper's AlexNet on ImageNet-C, error averaged over the 5 severities (hendrycks/robustness
# ImageNet-C/test.py); CE only needs the ratio of sums, so averages serve as well as sums.
ALEXNET_IMAGENET_C = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}
# AlexNet's clean ImageNet top-1 error (torchvision's weights: 56.52% accuracy; the paper: 43.5%).
ALEXNET_IMAGENET_CLEAN_ERROR = 0.4348


def _total(errors: Mapping[int, float]) -> float:
    return float(sum(errors.values()))


def _as_table(ref: Errors | Mapping[str, float]) -> dict[str, dict[int, float]]:
    """A reference given as one number per corruption (an average) becomes a 1-severity table."""
    return {c: (dict(v) if isinstance(v, Mapping) else {0: float(v)}) for c, v in ref.items()}


def _check(model: Errors, ref: Mapping) -> None:
    missing = sorted(set(model) - set(ref))
    if missing:
        raise VisionbenchError(
            f"the reference model has no errors for {', '.join(missing)}: "
            "run it on the same corruptions first"
        )


def corruption_errors(model: Errors, ref: Errors | Mapping[str, float]) -> dict[str, float | None]:
    """CE per corruption; severities are averaged, so a reference average works too."""
    _check(model, ref)
    refs = _as_table(ref)
    out: dict[str, float | None] = {}
    for c, errs in model.items():
        mine = _total(errs) / len(errs)
        theirs = _total(refs[c]) / len(refs[c])
        out[c] = mine / theirs if theirs > 0 else None
    return out


def relative_corruption_errors(
    model: Errors, clean: float, ref: Errors | Mapping[str, float], ref_clean: float
) -> dict[str, float | None]:
    """Relative CE per corruption: the model's drop from clean over the reference's drop."""
    _check(model, ref)
    refs = _as_table(ref)
    out: dict[str, float | None] = {}
    for c, errs in model.items():
        mine = _total(errs) / len(errs) - clean
        theirs = _total(refs[c]) / len(refs[c]) - ref_clean
        out[c] = mine / theirs if theirs > 0 else None  # a reference that gained: undefined
    return out


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def summary(
    model: Errors,
    clean: float,
    ref: Errors | Mapping[str, float] | None = None,
    ref_clean: float | None = None,
    ref_name: str = "",
) -> dict:
    """Mean error always; CE, mCE, relative CE and relative mCE when a reference is given."""
    out: dict = {
        "clean_error": clean,
        "mean_error": _mean(e for errs in model.values() for e in errs.values()),
        "per_corruption_error": {c: _total(e) / len(e) for c, e in model.items()},
    }
    if ref is not None:
        ce = corruption_errors(model, ref)
        out |= {"reference": ref_name, "ce": ce, "mce": _mean(ce.values())}
        if ref_clean is not None:
            rce = relative_corruption_errors(model, clean, ref, ref_clean)
            out |= {"relative_ce": rce, "relative_mce": _mean(rce.values())}
    return out
