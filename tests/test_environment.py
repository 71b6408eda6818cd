"""Where a number was measured: the environment saved beside every result names the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from visionbench import environment


def test_describe_names_the_cpu_model_from_cpuinfo(tmp_path, monkeypatch):
    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nvendor_id\t: X\nmodel name\t: Example CPU 9000 @ 3.00GHz\n")
    real = Path

    monkeypatch.setattr(environment, "Path", lambda p: fake if p == "/proc/cpuinfo" else real(p))
    info = environment.describe("cpu")
    assert info["cpu_model"] == "Example CPU 9000 @ 3.00GHz"
    assert info["device"] == "cpu" and info["cpu_count"] >= 1


def test_a_generic_cpu_name_gets_its_family_and_model_and_the_kernels_are_named(
    tmp_path, monkeypatch
):
    """Two VMs both called "AMD EPYC" gave different quick-suite metrics: the numbers that tell
    CPU generations apart, and the instruction set torch dispatched for, travel with results."""
    fake = tmp_path / "cpuinfo"
    fake.write_text(
        "processor\t: 0\ncpu family\t: 26\nmodel\t\t: 2\nmodel name\t: AMD EPYC\n\n"
        "processor\t: 1\ncpu family\t: 99\nmodel\t\t: 9\nmodel name\t: Other\n"
    )
    real = Path
    monkeypatch.setattr(environment, "Path", lambda p: fake if p == "/proc/cpuinfo" else real(p))
    info = environment.describe("cpu")
    assert info["cpu_model"] == "AMD EPYC (family 26, model 2)"
    assert info["cpu_capability"] == environment.torch.backends.cpu.get_cpu_capability()


def test_cpu_model_is_none_without_cpuinfo(monkeypatch, tmp_path):
    monkeypatch.setattr(environment, "Path", lambda p: tmp_path / "missing")
    assert environment.cpu_model() is None


def test_unknown_device_is_one_clear_error():
    with pytest.raises(environment.VisionbenchError, match="unknown device 'tpu'"):
        environment.resolve_device("tpu")
