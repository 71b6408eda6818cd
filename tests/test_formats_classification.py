"""Classification formats, each written as a tiny fixture in its true on-disk layout."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visionbench.data.formats import detect
from visionbench.data.registry import load_dataset
from visionbench.errors import DataError


def png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def rgb(seed: int, h: int = 8, w: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# -- IDX ---------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray, gz: bool = True, cut: int = 0) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(">" + "i" * array.ndim, *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    data = data[: len(data) - cut]
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def idx_tree(root: Path, gz: bool = True) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "train": (rng.integers(0, 256, (30, 28, 28)), np.arange(30) % 10),
        "t10k": (rng.integers(0, 256, (10, 28, 28)), np.arange(10)[::-1] % 10),
    }
    for stem, (x, y) in arrays.items():
        write_idx(root / f"{stem}-images-idx3-ubyte", x, gz)
        write_idx(root / f"{stem}-labels-idx1-ubyte", y, gz)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_gzipped_and_raw(tmp_path, gz):
    arrays = idx_tree(tmp_path / "mnist", gz)
    b = load_dataset(f"mnist:{tmp_path / 'mnist'}", "classification")
    assert b.info.sizes == {"train": 27, "val": 3, "test": 10}
    assert b.info.in_chans == 1 and b.info.img_size == 28 and b.info.num_classes == 10
    x, y = b.test[0]
    assert torch.allclose(x[0], torch.from_numpy(arrays["t10k"][0][0] / 255.0).float())
    assert b.test.labels.tolist() == arrays["t10k"][1].tolist()
    assert sorted(torch.cat([b.train.labels, b.val.labels]).tolist()) == sorted(arrays["train"][1])


def test_idx_detect_fashion_and_truncated(tmp_path):
    idx_tree(tmp_path / "fashion")
    assert detect(tmp_path / "fashion") == "fashion-mnist"
    b = load_dataset(str(tmp_path / "fashion"), "classification")
    assert b.info.name == "fashion-mnist" and b.info.class_names[9] == "Ankle boot"
    x = np.zeros((10, 28, 28))
    write_idx(tmp_path / "fashion" / "t10k-images-idx3-ubyte", x, cut=100)
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz.*truncated"):
        load_dataset(f"fashion-mnist:{tmp_path / 'fashion'}", "classification")


# -- CIFAR pickles -----------------------------------------------------------------------------
def cifar_tree(root: Path) -> dict:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    rng = np.random.default_rng(1)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, 4))
        batches[name] = (data, labels)
        # python-2 style: bytes keys, protocol 2, like the official files
        with (d / name).open("wb") as f:
            pickle.dump({b"data": data, b"labels": [int(v) for v in labels]}, f, protocol=2)
    meta = {
        b"label_names": [n.encode() for n in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]]
    }
    (d / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


def test_cifar_pickles(tmp_path):
    batches = cifar_tree(tmp_path)
    assert detect(tmp_path) == "cifar10"
    b = load_dataset(f"cifar10:{tmp_path}", "classification")
    assert b.info.sizes == {"train": 18, "val": 2, "test": 4}
    assert b.info.class_names[:3] == ["a", "b", "c"]
    data, labels = batches["test_batch"]
    x, y = b.test[1]
    assert x.shape == (3, 32, 32)
    assert torch.allclose(x, torch.from_numpy(data[1].reshape(3, 32, 32) / 255.0).float())
    assert int(y) == labels[1]


class Evil:
    """A pickle payload that writes a file when unpickled by a plain pickle.load."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_cifar_code_running_pickle_is_refused(tmp_path):
    cifar_tree(tmp_path)
    marker = tmp_path / "pwned.txt"
    payload = pickle.dumps({b"data": Evil(marker), b"labels": []}, protocol=2)
    # the fixture is real: a plain unpickler would run it
    pickle.loads(payload)
    assert marker.exists()
    marker.unlink()
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(payload)
    with pytest.raises(
        DataError, match=r"data_batch_3: unsafe or corrupt pickle.*refused to load global '.*exec'"
    ):
        load_dataset(f"cifar10:{tmp_path}", "classification")
    assert not marker.exists()


# -- class folders -----------------------------------------------------------------------------
def folders(root: Path, classes: list[str], n: dict[str, int], size=(8, 8)) -> None:
    for split, count in n.items():
        for ci, c in enumerate(classes):
            for i in range(count):
                png(root / split / c / f"{i:03d}.png", rgb(ci * 100 + i, *size))


def test_class_folders_cifar_layout(tmp_path):
    from visionbench.data.formats.cifar import CIFAR10_CLASSES

    folders(tmp_path, CIFAR10_CLASSES, {"train": 3, "test": 1})
    assert detect(tmp_path) == "cifar10"
    b = load_dataset(str(tmp_path), "classification")
    assert b.info.sizes == {"train": 27, "val": 3, "test": 10}
    assert b.info.class_names == CIFAR10_CLASSES
    assert b.test.labels.tolist() == list(range(10))
    x, _ = b.test[0]
    expect = torch.from_numpy(rgb(0).transpose(2, 0, 1) / 255.0).float()
    assert torch.allclose(x, expect, atol=1e-6)


def test_class_folders_resize_and_generic(tmp_path):
    folders(tmp_path, ["cat", "dog"], {"train": 5, "val": 2}, size=(10, 14))
    assert detect(tmp_path) == "class-folders"
    b = load_dataset(f"class-folders:{tmp_path}", "classification", img_size=12, preload=False)
    x, y = b.train[0]
    assert x.shape == (3, 12, 12) and y.dtype == torch.int64
    assert b.info.sizes == {"train": 9, "val": 1, "test": 4}  # official val -> test
    assert "official val used as test" in b.info.split


def test_empty_class_folder_is_an_error(tmp_path):
    folders(tmp_path, ["cat", "dog"], {"train": 3})
    (tmp_path / "train" / "emu").mkdir()
    with pytest.raises(DataError, match=r"emu: class folder holds no images"):
        load_dataset(f"class-folders:{tmp_path}", "classification")


def test_flat_val_folder_is_reported_not_dropped(tmp_path):
    folders(tmp_path, ["n01440764", "n01443537"], {"train": 2})
    png(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", rgb(0))
    with pytest.raises(DataError, match=r"/val: holds images but no class folders"):
        load_dataset(f"imagenet:{tmp_path}", "classification")


def test_imagenet_wnids_named_and_v2_numeric_order(tmp_path):
    folders(tmp_path / "inet", ["n01440764", "n01443537"], {"train": 2, "val": 1})
    assert detect(tmp_path / "inet") == "imagenet"
    b = load_dataset(str(tmp_path / "inet"), "classification")
    assert b.info.class_names[0].startswith("tench") and "n01440764" in b.info.class_names[0]
    v2 = tmp_path / "v2"
    for c in ["0", "1", "2", "10", "11", "12", "13", "14", "15", "16", "17"]:
        for i in range(2):
            png(v2 / c / f"{i}.jpeg", rgb(int(c) * 10 + i))
    assert detect(v2) == "imagenet-v2"
    b = load_dataset(str(v2), "classification")
    labels = set(torch.cat([b.train.labels, b.val.labels, b.test.labels]).tolist())
    assert labels == {0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 17}  # folder "10" is class 10
    assert b.info.num_classes == 1000


def test_truncated_image_names_the_file(tmp_path):
    folders(tmp_path, ["cat", "dog"], {"train": 3, "test": 1}, size=(40, 40))
    bad = tmp_path / "train" / "cat" / "001.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DataError, match=r"train/cat/001\.png: unreadable image"):
        load_dataset(f"class-folders:{tmp_path}", "classification")


# -- Tiny ImageNet -----------------------------------------------------------------------------
def test_tiny_imagenet(tmp_path):
    wnids = ["n01443537", "n01629819"]
    (tmp_path / "wnids.txt").write_text("\n".join(wnids) + "\n")
    (tmp_path / "words.txt").write_text(
        "n01443537\tgoldfish, Carassius auratus\nn01629819\tsalamander\n"
    )
    for k, w in enumerate(wnids):
        for i in range(5):
            png(tmp_path / "train" / w / "images" / f"{w}_{i}.JPEG", rgb(k * 10 + i, 64, 64))
    lines = []
    for i in range(4):
        png(tmp_path / "val" / "images" / f"val_{i}.JPEG", rgb(50 + i, 64, 64))
        lines.append(f"val_{i}.JPEG\t{wnids[i % 2]}\t0\t0\t63\t63")
    (tmp_path / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    assert detect(tmp_path) == "tiny-imagenet"
    b = load_dataset(str(tmp_path), "classification")
    assert b.info.sizes == {"train": 9, "val": 1, "test": 4}
    assert b.info.class_names[0] == "goldfish (n01443537)" and b.info.img_size == 64
    assert b.test.labels.tolist() == [0, 1, 0, 1]
    (tmp_path / "val" / "val_annotations.txt").write_text("val_0.JPEG\tn99999999\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=r"val_annotations\.txt:1: unknown WordNet id 'n99999999'"):
        load_dataset(str(tmp_path), "classification")


# -- CelebA ------------------------------------------------------------------------------------
def test_celeba_attribute_and_group(tmp_path):
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    attrs = {
        "Smiling": [1, -1, 1, -1, 1, 1],
        "Male": [1, 1, -1, -1, 1, -1],
        "Young": [-1, 1, 1, 1, -1, 1],
    }
    for i, n in enumerate(names):
        png(tmp_path / "img_align_celeba" / n, rgb(i, 20, 16))
    rows = [f"{n} " + " ".join(f"{attrs[a][i]:2d}" for a in attrs) for i, n in enumerate(names)]
    (tmp_path / "list_attr_celeba.txt").write_text(
        f"6\n{' '.join(attrs)}\n" + "\n".join(rows) + "\n"
    )
    parts = [0, 0, 0, 0, 1, 2]
    (tmp_path / "list_eval_partition.txt").write_text(
        "\n".join(f"{n} {p}" for n, p in zip(names, parts)) + "\n"
    )
    assert detect(tmp_path) == "celeba"
    b = load_dataset(str(tmp_path), "classification", attribute="Young", group="Male", img_size=8)
    assert b.info.sizes == {"train": 4, "val": 1, "test": 1}
    assert b.info.class_names == ["not Young", "Young"]
    assert b.train.labels.tolist() == [0, 1, 1, 1]
    assert b.train.groups.tolist() == [1, 1, 0, 0]
    with pytest.raises(DataError, match="unknown CelebA attribute 'Bald'"):
        load_dataset(str(tmp_path), "classification", attribute="Bald")


# -- LSUN --------------------------------------------------------------------------------------
def test_lsun_lmdb(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    import io

    for cat in ("bedroom", "church_outdoor"):
        for split, n in (("train", 10), ("val", 2)):
            env = lmdb.open(str(tmp_path / f"{cat}_{split}_lmdb"), map_size=1 << 22)
            with env.begin(write=True) as txn:
                for i in range(n):
                    buf = io.BytesIO()
                    Image.fromarray(rgb(i, 12, 16)).save(buf, format="JPEG")
                    txn.put(f"{cat}{i:04d}".encode(), buf.getvalue())
            env.close()
    assert detect(tmp_path) == "lsun"
    b = load_dataset(str(tmp_path), "classification", img_size=8)
    assert b.info.class_names == ["bedroom", "church_outdoor"]
    assert b.info.sizes == {"train": 18, "val": 2, "test": 4}
    x, y = b.test[3]
    assert x.shape == (3, 8, 8) and int(y) == 1


# -- inspect on array formats ------------------------------------------------------------------
def test_inspect_idx_and_cifar_pickles(tmp_path):
    from visionbench.data.validate import inspect

    idx_tree(tmp_path / "mnist")
    rep = inspect(tmp_path / "mnist")
    assert rep["format"] == "mnist" and rep["splits"] == {"train": 30, "test": 10}
    assert rep["classes"]["train"] == {str(k): 3 for k in range(10)} and rep["problems"] == []
    cifar_tree(tmp_path / "cifar")
    rep = inspect(tmp_path / "cifar")
    assert rep["splits"] == {"train": 20, "test": 4} and rep["image_sizes"] == {"32x32": 24}
    marker = tmp_path / "pwned.txt"
    batch = tmp_path / "cifar" / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({b"data": Evil(marker)}, protocol=2))
    rep = inspect(tmp_path / "cifar")
    assert (
        len(rep["problems"]) == 1 and "test_batch: unsafe or corrupt pickle" in rep["problems"][0]
    )
    assert not marker.exists()


def test_inspect_lsun(tmp_path):
    lmdb = pytest.importorskip("lmdb")
    import io

    from visionbench.data.validate import inspect

    env = lmdb.open(str(tmp_path / "tower_train_lmdb"), map_size=1 << 22)
    with env.begin(write=True) as txn:
        for i in range(3):
            buf = io.BytesIO()
            Image.fromarray(rgb(i)).save(buf, format="WEBP")
            txn.put(f"k{i}".encode(), buf.getvalue())
        txn.put(b"broken", b"not an image")
    env.close()
    rep = inspect(tmp_path)
    assert rep["format"] == "lsun" and rep["splits"] == {"train": 4}
    assert len(rep["problems"]) == 1 and "(key broken): unreadable image" in rep["problems"][0]


def test_cifar100_pickles_fine_labels(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    rng = np.random.default_rng(2)
    for name, n in (("train", 30), ("test", 6)):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = [int(v) for v in np.arange(n) % 3]
        batch = {"data": data, "fine_labels": fine, "coarse_labels": [0] * n}  # python-3 str keys
        (d / name).write_bytes(pickle.dumps(batch, protocol=4))
    (d / "meta").write_bytes(pickle.dumps({"fine_label_names": ["apple", "bee", "cup"]}))
    assert detect(tmp_path) == "cifar100"
    b = load_dataset(str(tmp_path), "classification")
    assert b.info.class_names == ["apple", "bee", "cup"]
    assert b.info.sizes == {"train": 27, "val": 3, "test": 6}
    assert b.test.labels.tolist() == [0, 1, 2, 0, 1, 2]
