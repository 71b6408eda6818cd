"""The standard suite: the review's data sets found under a data root by their usual folder
names, jobs for every model on every task a found set suits, absent sets skipped (not failed),
and the report's Table 2 saying which were used."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionbench.bench.runner import run_suite, select
from visionbench.bench.standard import STANDARD_SETS, find_sets
from visionbench.bench.suites import SUITES, standard_jobs
from visionbench.errors import VisionbenchError


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(str(path) + ".gz", "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def fashion_tree(root: Path) -> None:
    rng = np.random.default_rng(0)
    for stem, n in (("train", 40), ("t10k", 20)):
        write_idx(root / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / f"{stem}-labels-idx1-ubyte", np.arange(n) % 10)


def sr_tree(root: Path) -> None:
    for s in (2, 4):
        for i in range(1, 6):
            hr = np.random.default_rng(i).integers(0, 256, (24, 32, 3), dtype=np.uint8)
            lr = np.asarray(Image.fromarray(hr).resize((32 // s, 24 // s), Image.BICUBIC))
            for kind, a in (("HR", hr), ("LR", lr)):
                p = root / f"image_SRF_{s}" / f"img_{i:03d}_SRF_{s}_{kind}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(a).save(p)


@pytest.fixture
def data_root(tmp_path) -> Path:
    root = tmp_path / "data"
    fashion_tree(root / "fashion-mnist")  # lower case: names match case-insensitively
    sr_tree(root / "sr" / "Set5")  # one level down
    (root / "sr" / "notes").mkdir()
    return root


def test_find_sets_by_usual_names_at_two_depths(data_root):
    found = find_sets(data_root)
    assert found.paths["Fashion-MNIST"] == data_root / "fashion-mnist"
    assert found.paths["Set5"] == data_root / "sr" / "Set5"
    assert {k for k, v in found.paths.items() if v} == {"Fashion-MNIST", "Set5"}
    rows = {r["name"]: r["status"] for r in found.rows()}
    assert rows["Set5"] == f"used: {data_root / 'sr' / 'Set5'}"
    assert rows["CIFAR-10"] == f"skipped: not found under {data_root}"
    assert len(rows) == len(STANDARD_SETS)
    with pytest.raises(VisionbenchError, match="not a folder"):
        find_sets(data_root / "nowhere")


def test_jobs_follow_what_each_set_suits(data_root):
    jobs, notes = standard_jobs(find_sets(data_root))
    by_set: dict[str, set] = {}
    for j in jobs:
        by_set.setdefault(j.dataset, set()).add((j.task, j.model, j.variant))
    assert set(by_set) == {"Fashion-MNIST", "Set5"}
    sr = by_set["Set5"]
    # every SR-capable model at both scales, no denoiser-only model, nothing but restoration
    for model in ("srcnn", "edsr", "srgan", "unet_attention", "sr3"):
        assert {("restoration", model, "sr2"), ("restoration", model, "sr4")} <= sr
    assert not any(m == "dae" for _, m, _ in sr)
    fm = by_set["Fashion-MNIST"]
    assert ("classification", "lenet5", "") in fm and ("generation", "dcgan", "") in fm
    assert all(t in ("classification", "generation") for t, _, _ in fm)
    edsr4 = next(j for j in jobs if j.model == "edsr" and j.variant == "sr4")
    assert edsr4.data == f"sr-pairs:{data_root / 'sr' / 'Set5'}"
    assert edsr4.full["task_options"]["degradation"] == "sr:4"
    assert edsr4.full["data_options"]["scale"] == 4
    assert edsr4.run_name(0) == "edsr__Set5-sr4__s0"
    assert f"CIFAR-10: skipped: not found under {data_root}" in notes
    assert [j.model for j in select(jobs, {"data": "Set5", "model": "edsr"})] == ["edsr"] * 2


def test_standard_needs_a_data_root():
    with pytest.raises(VisionbenchError, match="needs --data-root DIR"):
        SUITES.get("standard").expand()


def test_standard_suite_runs_and_table2_lists_used_and_skipped(data_root, tmp_path):
    out = tmp_path / "runs"
    only = {"model": "lenet5", "data": "Fashion-MNIST"}
    report = run_suite(
        "standard",
        out,
        quick=True,
        only=only,
        cap=20,
        workers=1,
        profile=False,
        data_root=data_root,
    )
    suite_dir = out / "standard"
    status = json.loads(
        (suite_dir / "classification" / "lenet5__Fashion-MNIST__s0" / "status.json").read_text()
    )
    assert status["status"] == "done"
    md = report.with_suffix(".md").read_text()
    assert f"| Fashion-MNIST | fashion-mnist | used: {data_root / 'fashion-mnist'} |" in md
    assert f"| COCO | coco | skipped: not found under {data_root} |" in md
    assert "skipped: not found under" in report.read_text()
