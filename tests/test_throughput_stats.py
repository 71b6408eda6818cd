"""The statistics of benchmarks/throughput.py: the paired-ratio interval and the cost split.

The benchmark's verdict (is the harness within 3% of a hand-written loop?) is only as good as
these two functions, so they are checked on cases computed by hand.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
_spec = importlib.util.spec_from_file_location("throughput_bench", _PATH)
throughput = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = throughput  # dataclasses look their module up there
_spec.loader.exec_module(throughput)


def test_interval_of_identical_ratios_has_zero_width():
    ratio, lo, hi, half = throughput.interval([0.98] * 5)
    assert ratio == pytest.approx(0.98) and lo == pytest.approx(0.98) and hi == pytest.approx(0.98)
    assert half == pytest.approx(0.0, abs=1e-12)


def test_interval_is_a_t_interval_on_the_log_scale():
    # logs: ln 0.9, ln 1.0, ln 1.1 -> mean m, sd s; t(0.975, 2) = 4.302652729911275
    ratios = [0.9, 1.0, 1.1]
    logs = [math.log(r) for r in ratios]
    m = sum(logs) / 3
    s = math.sqrt(sum((v - m) ** 2 for v in logs) / 2)
    half = 4.302652729911275 * s / math.sqrt(3)
    ratio, lo, hi, rel = throughput.interval(ratios)
    assert ratio == pytest.approx(math.exp(m))  # the geometric mean, not 1.0
    assert ratio < 1.0
    assert lo == pytest.approx(math.exp(m - half)) and hi == pytest.approx(math.exp(m + half))
    assert rel == pytest.approx((hi - lo) / 2 / ratio)


def test_interval_narrows_with_more_rounds_of_the_same_spread():
    few = throughput.interval([0.97, 1.01] * 3)[3]
    many = throughput.interval([0.97, 1.01] * 30)[3]
    assert many < few / 3


def test_one_round_gives_an_infinite_interval():
    assert math.isinf(throughput.interval([1.0])[3])


def test_split_costs_recovers_per_step_and_per_epoch_parts():
    # visionbench: 12 ms a step + 40 ms an epoch; hand-written: 10 ms a step + 5 ms an epoch
    steps = 20
    times = {
        "vb_train": [0.040 + steps * 0.012] * 3,
        "vb_train2": [0.040 + 2 * steps * 0.012] * 3,
        "hw_train": [0.005 + steps * 0.010] * 3,
        "hw_train2": [0.005 + 2 * steps * 0.010] * 3,
    }
    out = throughput.split_costs(times, steps, epoch_steps=1000)
    assert out["vb_step_ms"] == pytest.approx(12.0) and out["hw_step_ms"] == pytest.approx(10.0)
    assert out["vb_epoch_fixed_ms"] == pytest.approx(40.0)
    assert out["hw_epoch_fixed_ms"] == pytest.approx(5.0)
    assert out["step_overhead"] == pytest.approx(0.2)
    assert out["epoch_overhead_ms"] == pytest.approx(35.0)
    assert out["train_ratio_at_epoch"] == pytest.approx((1000 * 10 + 5) / (1000 * 12 + 40))
