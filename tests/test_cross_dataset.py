"""Cross-dataset evaluation: evaluation sets load whole as test, label spaces are matched by
WordNet id or name (ImageNet -> ImageNet-R's 200-class subset, CIFAR-10 -> CIFAR-10.1), and a
mismatch is one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visionbench.data.formats.cifar import CIFAR10_CLASSES
from visionbench.data.formats.imagefolder import imagenet_names, imagenet_wnids
from visionbench.data.labelspace import (
    OutputSubset,
    class_key,
    compatible_model,
    label_map,
    load_eval_set,
)
from visionbench.errors import DataError, VisionbenchError


def png(path: Path, seed: int, h: int = 12, w: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(a).save(path)


def test_class_key_prefers_the_wordnet_id():
    assert class_key("tench (n01440764)") == "n01440764"
    assert class_key("n01443537") == "n01443537"
    assert class_key(" Airplane ") == "airplane"


def test_imagenet_r_subset_maps_by_wordnet_id_and_narrows_outputs(tmp_path):
    wnids = imagenet_wnids()
    picked = [wnids[1], wnids[94], wnids[999]]  # ImageNet-R folders, any subset of the 1000
    for i, w in enumerate(picked):
        for j in range(2):
            png(tmp_path / "imagenet-r" / w / f"{j}.jpg", 10 * i + j)
    bundle = load_eval_set(f"imagenet-r:{tmp_path / 'imagenet-r'}", "classification", img_size=8)
    assert bundle.info.sizes == {"train": 0, "val": 0, "test": 6}
    assert "evaluation set" in bundle.info.split
    source = imagenet_names(wnids)
    assert label_map(source, bundle.info.class_names, "imagenet-r") == [1, 94, 999]

    logits = torch.zeros(2, 1000)
    logits[0, 999], logits[0, 5] = 2.0, 9.0  # class 5 is outside the subset: ignored
    logits[1, 94] = 1.0
    model = compatible_model(torch.nn.Identity(), source, bundle.info.class_names, "imagenet-r")
    assert isinstance(model, OutputSubset)
    assert model(logits).argmax(1).tolist() == [2, 1]  # target labels: wnids[999], wnids[94]


def write_cifar101(root: Path, n: int = 20, version: str = "v6") -> np.ndarray:
    root.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    y = np.arange(n) % 10
    np.save(root / f"cifar10.1_{version}_data.npy", x)
    np.save(root / f"cifar10.1_{version}_labels.npy", y)
    return x


def test_cifar101_arrays_load_as_test_with_cifar10_classes(tmp_path):
    x = write_cifar101(tmp_path / "c101")
    b = load_eval_set(f"cifar10.1:{tmp_path / 'c101'}", "classification")
    assert b.info.class_names == CIFAR10_CLASSES and b.info.sizes["test"] == 20
    img, label = b.test[3]
    assert torch.equal((img * 255).round().byte(), torch.from_numpy(x[3]).permute(2, 0, 1))
    assert int(label) == 3
    model = torch.nn.Identity()
    assert compatible_model(model, list(CIFAR10_CLASSES), b.info.class_names, "c101") is model


def test_cifar101_broken_arrays_name_the_file(tmp_path):
    root = tmp_path / "c101"
    write_cifar101(root)
    np.save(root / "cifar10.1_v6_labels.npy", np.arange(3))
    with pytest.raises(DataError, match=r"cifar10.1_v6_labels.npy: expected 20 labels"):
        load_eval_set(f"cifar10.1:{root}", "classification")
    with pytest.raises(DataError, match="no cifar10.1_v<N>_data.npy"):
        load_eval_set(f"cifar10.1:{tmp_path}", "classification")


def test_mismatched_label_spaces_give_one_clear_error():
    digits = [str(i) for i in range(10)]
    with pytest.raises(VisionbenchError, match=r"label spaces do not match: mnist has class '0'"):
        compatible_model(torch.nn.Identity(), list(CIFAR10_CLASSES), digits, "mnist")
    with pytest.raises(VisionbenchError, match="the run has classes, photos has none"):
        compatible_model(torch.nn.Identity(), list(CIFAR10_CLASSES), [], "photos")


def test_sr_pairs_as_evaluation_set_keeps_every_image_and_its_lr(tmp_path):
    for i in range(1, 4):
        png(tmp_path / "Set3" / "image_SRF_2" / f"img_{i:03d}_SRF_2_HR.png", i, 12, 16)
        png(tmp_path / "Set3" / "image_SRF_2" / f"img_{i:03d}_SRF_2_LR.png", i, 6, 8)
    b = load_eval_set(f"sr-pairs:{tmp_path / 'Set3'}", "restoration", scale=2)
    assert len(b.test) == 3 and len(b.train) == 0
    assert b.test.lr_image(0).shape[-2:] == (6, 8) and b.test.is_gray(0) is False


def test_eval_on_another_dataset_end_to_end(tmp_path, capsys):
    """A digits run scores on a class-folder copy of some digits (classes matched by name, the
    images resized to the run's input), and refuses CIFAR-10.1 with one clear line."""
    from sklearn.datasets import load_digits

    from visionbench import api
    from visionbench.cli import main

    run = api.train(
        api.TrainConfig(
            task="classification",
            model="lenet5",
            data="digits",
            epochs=1,
            threads=1,
            quiet=True,
            run_dir=str(tmp_path / "run"),
        )
    )
    d = load_digits()
    for i in range(30):  # 8x8 digits written as 8-bit PNGs in class folders '0'..'9'
        a = (d.images[i] / 16 * 255).astype(np.uint8)
        p = tmp_path / "digits_copy" / str(d.target[i]) / f"{i}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(p)
    m = api.evaluate(run.run_dir, data=f"class-folders:{tmp_path / 'digits_copy'}")
    assert 0.0 <= m["accuracy"] <= 1.0 and "chance_accuracy" in m
    write_cifar101(tmp_path / "c101")
    code = main(["eval", str(run.run_dir), "--data", f"cifar10.1:{tmp_path / 'c101'}"])
    err = capsys.readouterr().err
    assert code != 0 and "label spaces do not match" in err and "'airplane'" in err
