"""Format detection, restoration folders, and `visionbench datasets inspect` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visionbench.cli import main
from visionbench.data.formats import detect
from visionbench.data.registry import load_dataset
from visionbench.errors import DataError


def save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def rgb(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def sr_tree(root: Path, n: int = 5) -> None:
    for s in (2, 4):
        for i in range(1, n + 1):
            hr = rgb(i, 24, 32)
            lr = np.asarray(Image.fromarray(hr).resize((32 // s, 24 // s), Image.BICUBIC))
            save(root / f"image_SRF_{s}" / f"img_{i:03d}_SRF_{s}_HR.png", hr)
            save(root / f"image_SRF_{s}" / f"img_{i:03d}_SRF_{s}_LR.png", lr)


def test_sr_pairs(tmp_path):
    sr_tree(tmp_path / "Set5")
    assert detect(tmp_path / "Set5") == "sr-pairs"
    b = load_dataset(str(tmp_path / "Set5"), "restoration", patch_size=8, patches_per_image=4)
    assert b.info.sizes == {"train": 12, "val": 1, "test": 1}  # 3 train images x 4 patches
    assert b.train[0].shape == (3, 8, 8)
    clean = b.test[0]
    name = b.test.names[0]
    assert clean.shape == (3, 24, 32)
    i = int(name.split("_")[1])
    assert torch.allclose(clean, torch.from_numpy(rgb(i, 24, 32).transpose(2, 0, 1) / 255).float())
    assert b.test.lr_paths[0].name == f"img_{i:03d}_SRF_2_LR.png"
    b4 = load_dataset(f"sr-pairs:{tmp_path / 'Set5'}", "restoration", scale=4, patch_size=8)
    assert b4.test.lr_paths[0].name.endswith("_SRF_4_LR.png")
    with pytest.raises(DataError, match=r"no image_SRF_3 folder; scales present: \[2, 4\]"):
        load_dataset(f"sr-pairs:{tmp_path / 'Set5'}", "restoration", scale=3)


def test_denoise_folder_and_official_subfolders(tmp_path):
    for i in range(6):
        save(tmp_path / "CBSD" / f"{i:06d}.png", rgb(i, 20, 20))
    assert detect(tmp_path / "CBSD") == "image-folder"
    b = load_dataset(str(tmp_path / "CBSD"), "restoration", patch_size=8, patches_per_image=2)
    assert b.info.sizes == {"train": 8, "val": 1, "test": 1}
    for split, n in (("train", 3), ("test", 2)):
        for i in range(n):
            save(tmp_path / "BSD" / split / f"{i}.png", rgb(i, 16, 16))
    assert detect(tmp_path / "BSD") == "image-folder"  # split folders, not classes
    b = load_dataset(f"image-folder:{tmp_path / 'BSD'}", "restoration", patch_size=8)
    assert b.info.sizes["test"] == 2 and "official" in b.info.split


def test_detect_unknown_layout(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="cannot recognise the dataset layout"):
        detect(tmp_path)


def run_inspect(capsys, *args) -> tuple[int, str, str]:
    code = main(["datasets", "inspect", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_inspect_ok_counts_and_json(tmp_path, capsys):
    sr_tree(tmp_path)
    code, out, _ = run_inspect(capsys, tmp_path)
    assert code == 0 and "sr-pairs" in out and "no problems found" in out
    code, out, _ = run_inspect(capsys, tmp_path, "--json")
    rep = json.loads(out)
    assert code == 0 and rep["splits"] == {"x2": 5, "x4": 5} and rep["image_sizes"] == {"32x24": 10}


def test_inspect_broken_data_exits_nonzero_naming_the_file(tmp_path, capsys):
    sr_tree(tmp_path)
    save(tmp_path / "image_SRF_4" / "img_002_SRF_4_LR.png", rgb(0, 5, 5))
    bad = tmp_path / "image_SRF_2" / "img_003_SRF_2_HR.png"
    bad.write_bytes(bad.read_bytes()[:80])
    code, out, err = run_inspect(capsys, tmp_path)
    assert code != 0
    assert "img_003_SRF_2_HR.png: unreadable image" in err and "1 more problems" in err
    assert "img_002_SRF_4_LR.png: LR image is 5x5 but should be 8x6" in out
    code, _, err = run_inspect(capsys, tmp_path / "missing")
    assert code != 0 and "missing" in err


def test_inspect_headers_only_skips_decoding(tmp_path, capsys):
    for i in range(3):
        save(tmp_path / "train" / "a" / f"{i}.png", rgb(i, 40, 40))
        save(tmp_path / "train" / "b" / f"{i}.png", rgb(i, 40, 40))
    bad = tmp_path / "train" / "a" / "1.png"
    bad.write_bytes(bad.read_bytes()[:200])
    assert run_inspect(capsys, tmp_path, "--headers-only")[0] == 0
    code, _, err = run_inspect(capsys, tmp_path)
    assert code != 0 and "a/1.png: unreadable image" in err
