"""Per-group metrics on a hand-computed case (and against fairlearn where installed), the
coloured-digits spurious-correlation set, and energy: RAPL from a fake sysfs, or estimated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visionbench.analysis.energy import EnergyMeter, energy, estimate
from visionbench.analysis.fairness import (
    demographic_parity_difference,
    equalized_odds_difference,
    group_report,
)
from visionbench.errors import VisionbenchError

# 10 people, two groups. Group a: 4 images, group b: 6.
Y = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0])
P = np.array([1, 0, 0, 1, 1, 1, 1, 1, 0, 0])
G = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])


def test_group_metrics_on_a_hand_computed_case():
    r = group_report(Y, P, G, group_names=["a", "b"])
    # a: right on images 0 and 2 -> 2/4; b: wrong only on image 7 -> 5/6
    assert r["groups"]["a"] == {"images": 4, "accuracy": 0.5}
    assert r["groups"]["b"]["accuracy"] == pytest.approx(5 / 6)
    assert r["worst_group"] == "a" and r["worst_group_accuracy"] == 0.5
    assert r["accuracy_gap"] == pytest.approx(5 / 6 - 0.5)
    # selection rate P(y_hat=1): a 2/4, b 4/6 -> DP difference 1/6
    assert r["demographic_parity_difference"] == pytest.approx(4 / 6 - 2 / 4)
    # TPR: a 1/2, b 3/3 -> 0.5; FPR: a 1/2, b 1/3 -> 1/6; EO = max = 0.5
    assert r["equalized_odds_difference"] == pytest.approx(0.5)
    assert r["multiclass"] == "binary"


def test_group_metrics_agree_with_fairlearn():
    fm = pytest.importorskip("fairlearn.metrics")
    rng = np.random.default_rng(0)
    y, p, g = rng.integers(0, 2, 200), rng.integers(0, 2, 200), rng.integers(0, 3, 200)
    assert demographic_parity_difference(y, p, g) == pytest.approx(
        fm.demographic_parity_difference(y, p, sensitive_features=g)
    )
    assert equalized_odds_difference(y, p, g) == pytest.approx(
        fm.equalized_odds_difference(y, p, sensitive_features=g)
    )


def test_multiclass_takes_the_worst_class_one_vs_rest():
    y = np.array([0, 1, 2, 0, 1, 2])
    p = np.array([0, 1, 2, 2, 2, 2])  # group 1 is always predicted class 2
    g = np.array([0, 0, 0, 1, 1, 1])
    r = group_report(y, p, g, class_names=["x", "y", "z"])
    assert r["demographic_parity_difference"] == pytest.approx(2 / 3)  # class z: 1/3 vs 3/3
    assert r["demographic_parity_class"] == "z"
    assert r["multiclass"].startswith("one-vs-rest")
    with pytest.raises(VisionbenchError, match="length"):
        group_report(y, p[:3], g)


def test_colored_digits_correlate_colour_and_label_in_training_only():
    from visionbench.data.registry import load_dataset

    b = load_dataset("colored_digits", "classification")
    assert b.info.in_chans == 3 and b.train.images.shape[1] == 3
    for part, lo, hi in ((b.train, 0.9, 1.0), (b.test, 0.0, 0.25)):
        share = part.groups.float().mean().item()  # bias-aligned share
        assert lo <= share <= hi, share
    # the colour is recoverable from the pixels: the brightest pixel's hue names the group
    from visionbench.data.embedded import DIGIT_COLOURS

    palette = torch.tensor([c for _, c in DIGIT_COLOURS])
    x = b.test.images
    flat = x.flatten(2)
    idx = flat.sum(1).argmax(1)
    rgb = flat[torch.arange(len(x)), :, idx]
    rgb = rgb / rgb.norm(dim=1, keepdim=True)
    pal = palette / palette.norm(dim=1, keepdim=True)
    colour = (rgb @ pal.T).argmax(1)
    torch.testing.assert_close((colour == b.test.labels).long(), b.test.groups)
    again = load_dataset("colored_digits", "classification")
    assert torch.equal(again.test.images, b.test.images)


def test_a_colour_reader_fails_on_conflicting_images():
    """A 'model' that reads only the colour is right on aligned and wrong on conflicting test
    images: worst-group accuracy 0, the gap 1. This is the bias the set exists to expose."""
    from visionbench.data.registry import load_dataset

    b = load_dataset("colored_digits", "classification")
    pred = torch.where(b.test.groups.bool(), b.test.labels, (b.test.labels + 1) % 10)
    r = group_report(b.test.labels, pred, b.test.groups, b.test.group_names)
    assert r["worst_group"] == "bias-conflicting" and r["worst_group_accuracy"] == 0.0
    assert r["accuracy_gap"] == 1.0


# energy ----------------------------------------------------------------------------------------
def test_rapl_energy_from_a_fake_counter_with_wraparound(tmp_path):
    pkg = tmp_path / "intel-rapl:0"
    pkg.mkdir()
    (pkg / "max_energy_range_uj").write_text("1000000\n")
    (pkg / "energy_uj").write_text("900000\n")
    (tmp_path / "intel-rapl:0:0").mkdir()  # a sub-domain: not counted twice
    m = EnergyMeter("cpu", rapl_root=tmp_path)
    assert m.readable and "RAPL" in m.source
    with m:
        (pkg / "energy_uj").write_text("100000\n")  # wrapped: 0.1 J to the top, 0.1 J after
    r = m.result(images=4)
    assert r["kind"] == "measured" and r["joules"] == pytest.approx(0.2)
    assert r["joules_per_image"] == pytest.approx(0.05)


def test_without_a_counter_energy_is_an_estimate_and_says_so(tmp_path):
    m = EnergyMeter("cpu", rapl_root=tmp_path / "none")
    with m:
        pass
    assert not m.readable and m.result() is None
    e = energy(m, flops_per_image=2e9, images=10, training=True)
    assert e["kind"] == "estimated"
    assert e["joules"] == pytest.approx(2e9 * 10 * 3 / 10e9)
    assert "GFLOP per joule" in e["assumption"] and "training" in e["assumption"]
    assert estimate(1e9, 1, "cuda")["joules"] < estimate(1e9, 1, "cpu")["joules"]
    assert energy(m, None, 10) is None


def test_nvml_energy_from_a_fake_driver_in_millijoules(monkeypatch):
    """No GPU here: a stand-in pynvml with the calls the meter makes (the counter is the board's
    total energy in mJ since the driver loaded); a GPU without the counter is not readable."""
    import sys
    import types

    counter = {"mj": 5_000_000}
    calls = []
    fake = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: calls.append("init")
    fake.nvmlDeviceGetHandleByIndex = lambda i: calls.append(("handle", i)) or f"gpu{i}"
    fake.nvmlDeviceGetTotalEnergyConsumption = lambda h: counter["mj"]
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    m = EnergyMeter("cuda:1")
    assert m.readable and "NVML" in m.source and ("handle", 1) in calls
    with m:
        counter["mj"] += 2_500  # 2.5 J
    r = m.result(images=5)
    assert r["kind"] == "measured" and r["joules"] == pytest.approx(2.5)
    assert r["joules_per_image"] == pytest.approx(0.5)

    def unsupported(h):
        raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")

    fake.nvmlDeviceGetTotalEnergyConsumption = unsupported
    assert not EnergyMeter("cuda").readable  # then the estimate, labelled, is what is reported
