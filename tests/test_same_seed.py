"""Same seed, same bytes: one tiny run of one model per task, trained twice, writes the same
metrics.json (detection and instance segmentation included: yolo_nano, mask_rcnn_tiny). resnet_tiny and fcn_resnet_tiny carry BatchNorm (running statistics are state a
rerun must reproduce too); classification trains with flip_crop and segmentation with hflip, so
the augmentation draws come from the seeded generator, not from the global RNG."""

from __future__ import annotations

import pytest

import visionbench as vb

TINY_SHAPES = {"n_train": 16, "n_val": 8, "n_test": 8}
RUNS = {
    "classification": dict(model="resnet_tiny", data="digits", augment="flip_crop", batch_size=64),
    "restoration": dict(
        model="srcnn",
        data="photos",
        batch_size=8,
        data_options={"patches_per_image": 4, "patch_size": 32},
        task_options={"degradation": "sr:2"},
    ),
    "segmentation": dict(
        model="fcn_resnet_tiny", data="shapes", augment="hflip", data_options={"n": 60}
    ),
    "anomaly": dict(
        model="dae",
        data="textures",
        data_options={"patch_size": 32, "n_train": 32, "n_val": 8, "n_test": 16},
    ),
    "detection": dict(model="yolo_nano", data="shapes", batch_size=8, data_options=TINY_SHAPES),
    "instance_segmentation": dict(
        model="mask_rcnn_tiny", data="shapes", batch_size=8, data_options=TINY_SHAPES
    ),
    "generation": dict(
        model="dcgan",
        data="digits",
        batch_size=64,
        task_options={"val_samples": 50, "n_samples": 50, "inpaint": "none"},
    ),
}


def test_every_task_is_covered():
    assert set(RUNS) == set(vb.TASKS.names()), "add a same-seed run for the new task"


@pytest.mark.parametrize("task", sorted(RUNS))
def test_same_seed_writes_identical_metrics_json(task, tmp_path):
    args = dict(task=task, epochs=1, quiet=True, threads=1, **RUNS[task])
    a = vb.train(run_dir=str(tmp_path / "a"), **args)
    b = vb.train(run_dir=str(tmp_path / "b"), **args)
    first = (a.run_dir / "metrics.json").read_bytes()
    assert first == (b.run_dir / "metrics.json").read_bytes()
    assert len(a.metrics) > 0
