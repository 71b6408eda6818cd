"""Shared fixtures: small trained runs reused across tests so the suite stays fast."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Every cache (domain classifiers, measured costs) goes to a temporary folder, never into
    the user's ~/.cache/visionbench; shared by the whole session and by spawned processes."""
    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("VISIONBENCH_CACHE")
    os.environ["VISIONBENCH_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VISIONBENCH_CACHE", None)
    else:
        os.environ["VISIONBENCH_CACHE"] = old


@pytest.fixture(scope="session")
def lenet_run(tmp_path_factory):
    """LeNet-5 on digits with its real recipe: the foundation's accuracy acceptance run."""
    import visionbench as vb

    out = tmp_path_factory.mktemp("runs")
    return vb.train(task="classification", model="lenet5", data="digits", out=str(out), quiet=True)


@pytest.fixture(scope="session")
def dae_run(tmp_path_factory):
    """A short denoising-autoencoder run (a few epochs on few patches)."""
    import visionbench as vb

    out = tmp_path_factory.mktemp("runs")
    return vb.train(
        task="restoration",
        model="dae",
        data="photos",
        out=str(out),
        quiet=True,
        epochs=8,
        batch_size=16,
        data_options={"patches_per_image": 64, "patch_size": 32},
        task_options={"degradation": "noise:25"},
    )
