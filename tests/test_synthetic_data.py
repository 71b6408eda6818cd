"""The embedded smoke sets: `shapes` (detection, segmentation) and `textures` (anomaly)."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader
from torchvision.ops import box_iou

from visionbench.data.formats.common import collate_detection
from visionbench.data.registry import load_dataset
from visionbench.data.synthetic import make_scenes, shape_mask


def test_shapes_detection_targets_match_masks():
    b = load_dataset("shapes", "detection")
    assert b.info.class_names == ["circle", "square", "triangle"]
    assert b.info.sizes == {"train": 1000, "val": 100, "test": 200}
    counts, overlapping = torch.zeros(7, dtype=torch.long), 0
    for x, t in list(b.train)[:200]:
        assert x.shape == (3, 64, 64) and x.min() >= 0 and x.max() <= 1
        n = len(t["labels"])
        counts[n] += 1
        assert 1 <= n <= 6 and t["masks"].shape == (n, 64, 64)
        assert set(t["labels"].tolist()) <= {1, 2, 3}
        for box, m in zip(t["boxes"], t["masks"]):  # the box of the visible part
            ys, xs = torch.nonzero(m, as_tuple=True)
            assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert t["masks"].sum(0).max() == 1  # visible parts never share a pixel
        iou = box_iou(t["boxes"], t["boxes"]).fill_diagonal_(0)
        overlapping += int((iou > 0).any())
    assert counts[1:].min() >= 15  # every object count from 1 to 6 occurs
    assert overlapping >= 40  # and objects do overlap
    images, targets = collate_detection([b.train[0], b.train[1]])
    assert images.shape == (2, 3, 64, 64) and len(targets) == 2
    loader = DataLoader(b.train, batch_size=4, collate_fn=b.train.collate_fn)
    images, targets = next(iter(loader))
    assert images.shape == (4, 3, 64, 64) and torch.equal(
        targets[3]["boxes"], b.train[3][1]["boxes"]
    )
    again = load_dataset("shapes", "instance_segmentation")
    assert torch.equal(again.test.images, b.test.images)  # seeded: the same scenes every time
    assert torch.equal(again.test.targets[5]["masks"], b.test.targets[5]["masks"])


def test_shapes_segmentation_and_determinism():
    s1 = load_dataset("shapes", "segmentation")
    s2 = load_dataset("shapes", "segmentation")
    assert s1.info.num_classes == 4 and s1.info.class_names[0] == "background"
    assert s1.info.sizes == {"train": 240, "val": 40, "test": 80}
    assert torch.equal(s1.train.images, s2.train.images) and torch.equal(
        s1.test.labels, s2.test.labels
    )
    x, mask = s1.test[0]
    assert mask.dtype == torch.int64 and mask.shape == (64, 64)
    images, semantic, targets = make_scenes(360, 64, seed=0)  # segmentation's scenes, unchanged
    i = int(torch.nonzero((images == x).flatten(1).all(1))[0])
    painted = torch.zeros(64, 64, dtype=torch.long)
    for m, lab in zip(targets[i]["masks"], targets[i]["labels"]):
        painted[m.bool()] = lab
    assert torch.equal(painted, mask) and torch.equal(semantic[i], mask)
    other = load_dataset("shapes", "segmentation", split_seed=1)
    assert not torch.equal(other.test.images, s1.test.images)


def test_shape_mask_kinds_differ():
    c, s, t = (shape_mask(k, 32, 32, 10, 64).sum() for k in (1, 2, 3))
    assert t < c < s  # triangle < circle < square of the same radius


def test_textures_anomaly():
    b = load_dataset("textures", "anomaly")
    assert b.info.sizes == {"train": 200, "val": 40, "test": 120} and b.info.in_chans == 1
    x, y, m = b.train[0]
    assert x.shape == (1, 64, 64) and int(y) == 0 and m.sum() == 0
    assert b.train.others[0].sum() == 0 and b.val.others[0].sum() == 0
    labels, masks = b.test.others
    assert labels.sum() == 60
    assert (masks[labels == 1].flatten(1).sum(1) > 0).all()
    assert masks[labels == 0].sum() == 0
    x, y, m = b.test[119]
    changed = (x[0] - b.test.images[119][0]).abs().sum()
    assert int(y) == 1 and changed == 0  # sample equals the stored damaged patch
    g = load_dataset("textures", "anomaly", texture="gravel", channels=3)
    assert g.train[0][0].shape == (3, 64, 64) and not torch.equal(
        g.train.images[:, :1], b.train.images
    )
