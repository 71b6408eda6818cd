"""DeepLabV3+, SegFormer and the plain U-Net: hand-checked pieces and a one-batch overfit.

Forward/backward at two sizes and any-size padding for every segmenter are in
test_segmentation.py (parametrized over the registry, so these models are included there).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from visionbench.config import TrainConfig
from visionbench.data.registry import DataBundle, load_dataset
from visionbench.data.tensors import TensorSet
from visionbench.models.deeplab import ASPP, aspp_rates
from visionbench.models.registry import MODELS, create_model
from visionbench.models.segformer import NANO, EfficientSelfAttention, MixTransformer
from visionbench.tasks.segmentation import Segmentation

NEW = ("deeplabv3p_resnet_tiny", "segformer_nano", "unet_tiny")


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def test_registered_with_their_families_and_full_size_variants():
    fams = {n: MODELS.get(n).family for n in MODELS.names()}
    assert fams["deeplabv3p_resnet_tiny"] == fams["deeplabv3p_resnet18"] == "modern_cnn"
    assert fams["unet"] == fams["unet_tiny"] == "modern_cnn"
    assert fams["segformer_nano"] == fams["segformer_b0"] == "hybrid"


def test_aspp_rates_scale_the_papers_from_its_33_pixel_map():
    assert aspp_rates(33) == (6, 12, 18)
    assert aspp_rates(8) == (1, 3, 4)  # 64 px scene at output stride 8
    assert aspp_rates(14) == (3, 5, 8)  # 224 px at output stride 16
    assert aspp_rates(1) == (1, 1, 1)  # never below 1


def test_aspp_output_shape_and_each_branch_sees_exactly_its_dilated_taps():
    torch.manual_seed(0)
    aspp = ASPP(4, 6, (2, 5)).eval()
    x = torch.rand(2, 4, 17, 19)
    assert aspp(x).shape == (2, 6, 17, 19)  # same size, projected width
    # 1x1, two 3x3 (rates 2 and 5), image pooling -> 4 branches of 6 concatenated
    assert aspp.project[0][0].in_channels == 4 * 6
    for branch, r in zip(aspp.branches[1:], (2, 5)):
        conv = branch[0]
        assert conv.dilation == (r, r) and conv.kernel_size == (3, 3) and conv.padding == (r, r)
        x = torch.zeros(1, 4, 17, 17, requires_grad=True)
        conv(x)[0, 0, 8, 8].backward()  # which input pixels reach the centre output?
        hit = x.grad[0].abs().sum(0).nonzero().tolist()
        assert sorted(hit) == sorted([8 + i * r, 8 + j * r] for i in (-1, 0, 1) for j in (-1, 0, 1))


def test_deeplab_tiny_reads_stride_4_and_dilated_stride_8_maps():
    net = create_model("deeplabv3p_resnet_tiny", task="segmentation", num_classes=3, img_size=64)
    low, deep = net.trunk(torch.rand(1, 3, 64, 64))
    assert low.shape[-2:] == (16, 16) and deep.shape[-2:] == (8, 8)
    assert net.aspp.rates == (1, 3, 4)
    dilated = [m.dilation for m in net.trunk.deep.modules() if isinstance(m, nn.Conv2d)]
    assert (2, 2) in dilated  # layer4 dilated instead of strided
    net18 = create_model("deeplabv3p_resnet18", task="segmentation", num_classes=3, img_size=224)
    assert net18.aspp.rates == (3, 5, 8)
    assert [m.out_channels for m in net18.aspp.branches[0] if isinstance(m, nn.Conv2d)] == [256]


def test_mix_transformer_stages_and_spatial_reduction():
    enc = MixTransformer(3, NANO)
    feats = enc(torch.rand(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]  # strides 4, 8, 16, 32
    assert [f.shape[1] for f in feats] == list(NANO.dims)
    attn = EfficientSelfAttention(dim=8, heads=2, reduction=4)
    seen = {}
    attn.kv.register_forward_hook(lambda m, i, o: seen.update(kv=o.shape))
    out = attn(torch.rand(1, 16 * 16, 8), 16, 16)
    assert out.shape == (1, 256, 8)
    assert seen["kv"] == (1, 16, 16)  # 256 queries attend to 256 / 4^2 keys


def test_unet_is_the_papers_layout():
    net = create_model("unet", task="segmentation", num_classes=2, img_size=64)
    assert net.size_divisor == 16
    assert [b[0].out_channels for b in net.down] == [64, 128, 256, 512, 1024]
    assert 30e6 < sum(p.numel() for p in net.parameters()) < 32e6  # the paper's ~31 M
    tiny = create_model("unet_tiny", task="segmentation", num_classes=2, img_size=64)
    assert [b[0].out_channels for b in tiny.down] == [8, 16, 32, 64, 128]


@pytest.mark.parametrize("name", NEW)
def test_overfits_a_batch_of_shapes_scenes(name):
    torch.manual_seed(0)
    data = load_dataset("shapes", "segmentation", n=20)
    crop = (..., slice(16, 48), slice(16, 48))  # 32x32 centres: cheap, and objects sit there
    x, y = data.test.images[:4][crop], data.test.labels[:4][crop]
    task = Segmentation(TrainConfig(task="segmentation", model=name, data="shapes"))
    bundle = task.prepare(DataBundle(data.info, TensorSet(x, y), data.val, data.test), None)
    model = task.build_model(MODELS.get(name), bundle.info)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.0)
    for _ in range(40):
        loss = task.loss(model, (x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    metrics = task.evaluate(model, TensorSet(x, y), torch.device("cpu"))
    assert metrics["miou"] > 0.6 > metrics["majority_miou"], metrics
