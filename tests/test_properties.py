"""Property-based tests (hypothesis): any mutation of a valid input ends in a valid dataset or
config, or in one clear error line; never a traceback of another type, never a hang.

Examples are bounded (a few dozen per reader) so the whole file runs in well under a minute, and
each example runs under an alarm, so a reader that loops forever fails instead of hanging.
"""

from __future__ import annotations

import json
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_formats_annotated import coco_tree, voc_tree
from test_formats_classification import cifar_tree, folders, idx_tree

from visionbench.config import TrainConfig, load_yaml
from visionbench.data.registry import load_dataset
from visionbench.errors import VisionbenchError

SETTINGS = settings(
    max_examples=20,
    deadline=None,  # a loaded machine; the alarm below catches a real hang
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: a deterministic suite
)
EDIT = st.tuples(
    st.floats(0, 1), st.sampled_from(["flip", "delete", "insert", "cut"]), st.integers(0, 255)
)


class Hang(Exception):
    pass


@contextmanager
def alarm(seconds: int = 30):
    def ring(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def mutate(data: bytes, edits: list[tuple[float, str, int]]) -> bytes:
    b = bytearray(data)
    for where, op, value in edits:
        i = min(int(where * len(b)), max(0, len(b) - 1))
        if op == "flip" and b:
            b[i] ^= value or 1
        elif op == "delete" and b:
            del b[i]
        elif op == "insert":
            b.insert(i, value)
        elif op == "cut":
            del b[i:]
    return bytes(b)


def one_line_or_valid(load) -> None:
    """`load()` gives a dataset whose every sample decodes, or a one-line VisionbenchError."""
    with alarm():
        try:
            bundle = load()
            for split in (bundle.train, bundle.val, bundle.test):
                for i in range(len(split)):
                    split[i]
        except VisionbenchError as e:
            text = str(e)
            assert text and "\n" not in text.strip() and "Traceback" not in text


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("valid")
    coco_tree(base / "coco")
    idx_tree(base / "mnist", gz=False)
    cifar_tree(base / "cifar")
    folders(base / "folder", ["cat", "dog"], {"train": 3, "test": 2})
    voc = voc_tree(base / "voc")
    return {
        "coco": base / "coco",
        "mnist": base / "mnist",
        "cifar": base / "cifar",
        "folder": base / "folder",
        "voc": voc.parent.parent,
    }


def _copy(tree: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "data"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(tree, dest)
    return dest


READERS = [
    ("coco", "annotations/instances_val2017.json", "coco", "detection"),
    ("mnist", "train-images-idx3-ubyte", "mnist", "classification"),
    ("mnist", "t10k-labels-idx1-ubyte", "mnist", "classification"),
    ("cifar", "cifar-10-batches-py/data_batch_1", "cifar10", "classification"),
    ("cifar", "cifar-10-batches-py/batches.meta", "cifar10", "classification"),
    ("folder", "train/cat/000.png", "image-folder", "classification"),
    ("voc", "VOCdevkit/VOC2012/Annotations/2008_000001.xml", "voc", "detection"),
]


@pytest.mark.parametrize(
    "tree, file, fmt, task", READERS, ids=[r[1].split("/")[-1] for r in READERS]
)
@SETTINGS
@given(edits=st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_file_gives_a_dataset_or_one_line(trees, tmp_path, tree, file, fmt, task, edits):
    root = _copy(trees[tree], tmp_path)
    target = root / file
    target.write_bytes(mutate(target.read_bytes(), edits))
    one_line_or_valid(lambda: load_dataset(f"{fmt}:{root}", task))


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3)
    ),
    max_leaves=6,
)


@SETTINGS
@given(
    section=st.sampled_from(["images", "annotations", "categories"]),
    index=st.integers(0, 2),
    key=st.sampled_from(["id", "image_id", "category_id", "bbox", "width", "height", "file_name", "segmentation", "iscrowd"]),
    value=JSON,
)  # fmt: skip
def test_mutated_coco_values_give_a_dataset_or_one_line(
    trees, tmp_path, section, index, key, value
):
    """Structure-aware: any field of any entry replaced by any JSON value."""
    root = _copy(trees["coco"], tmp_path)
    path = root / "annotations" / "instances_val2017.json"
    data = json.loads(path.read_text())
    data[section][index % len(data[section])][key] = value
    path.write_text(json.dumps(data))
    one_line_or_valid(lambda: load_dataset(f"coco:{root}", "detection"))


# the config loader ------------------------------------------------------------------------------
VALID = (
    "task: classification\nmodel: lenet5\ndata: digits\nepochs: 3\nbatch_size: 16\nlr: 0.01\n"
    "time_budget: 5.5\nprecision: fp32\nmodel_kwargs: {}\ntask_options: {degradation: noise:25}\n"
)


def _config_or_one_line(path: Path) -> None:
    with alarm(10):
        try:
            cfg = TrainConfig.from_dict(load_yaml(path), source=str(path))
        except VisionbenchError as e:
            assert "\n" not in str(e).strip() and str(path) in str(e)
            return
    cfg.validate()  # whatever loads is valid by the same rules
    assert cfg.epochs is None or cfg.epochs >= 1
    assert cfg.batch_size is None or cfg.batch_size >= 1


@SETTINGS
@given(edits=st.lists(EDIT, min_size=1, max_size=4))
def test_mutated_config_text_loads_or_gives_one_line(tmp_path, edits):
    path = tmp_path / "c.yaml"
    path.write_bytes(mutate(VALID.encode(), edits))
    _config_or_one_line(path)


@SETTINGS
@given(key=st.sampled_from(sorted(TrainConfig.field_names()) + ["bogus"]), value=JSON)
def test_any_value_for_any_option_loads_or_gives_one_line(tmp_path, key, value):
    path = tmp_path / "c.yaml"
    data = yaml.safe_load(VALID) | {key: value}
    path.write_text(yaml.safe_dump(data))
    _config_or_one_line(path)
