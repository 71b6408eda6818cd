"""Every classification model trains: forward/backward at 1 and 3 channels, overfits a batch.

Also checks CapsNet's routing, squash and margin loss against numbers worked out by hand.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from visionbench.models.capsnet import dynamic_routing, margin_loss, squash
from visionbench.models.registry import MODELS, create_model
from visionbench.tasks.classification import Classifier, resize_images

CLASSIFIERS = sorted(m.name for m in MODELS if "classification" in m.tasks)
# The quick-suite members: one small model per family, cheap enough to overfit a batch here.
QUICK = [
    n
    for n in CLASSIFIERS
    if n in ("lenet5", "mobilenetv4_conv_small_050") or n.endswith(("_tiny", "_nano"))
]


def _sizes(name: str) -> list[int]:
    """Two input sizes the task could hand the model (one, if its size is fixed)."""
    spec = MODELS.get(name)
    small = spec.input_size(8)
    return sorted({small, spec.input_size(small + 8)})


def test_every_family_of_table_1_that_classifies_has_a_quick_model():
    families = {MODELS.get(n).family for n in QUICK}
    assert {"classic_cnn", "modern_cnn", "mobile_cnn", "capsule", "vit", "hybrid"} <= families


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("in_chans", [1, 3])
def test_forward_backward(name: str, in_chans: int):
    torch.manual_seed(0)
    for size in _sizes(name):
        model = create_model(
            name, task="classification", num_classes=7, in_chans=in_chans, img_size=size
        )
        x = torch.rand(2, in_chans, size, size)
        logits = model(x)
        assert logits.shape == (2, 7)
        assert torch.isfinite(logits).all()
        # the training loss through the task's wrapper (CapsNet adds its reconstruction loss)
        loss = Classifier(model, [0.5] * in_chans, [0.25] * in_chans)(x, torch.tensor([0, 6]))
        assert torch.isfinite(loss)
        loss.backward()
        if hasattr(model, "pretraining_loss"):  # an MAE's decoder learns in pre-training only
            model.pretraining_loss(x).backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None for g in grads), f"{name}: a parameter got no gradient"
        assert any(g.abs().sum() > 0 for g in grads)


def _digit_batch(n: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()  # the first 20 digits are 0-9 twice: all ten classes
    x = torch.tensor(d.images[:n], dtype=torch.float32)[:, None] / 16.0
    return x, torch.as_tensor(d.target[:n])


@torch.no_grad()
def _train_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy as the training step sees the batch (batch-norm on batch statistics), without
    dropout's noise: after a few dozen steps batch-norm running averages still lag behind."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.eval()
    return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("name", QUICK)
def test_overfits_one_batch(name: str):
    """Through the Classifier wrapper (so CapsNet's margin + reconstruction loss is used)."""
    torch.manual_seed(0)
    x, y = _digit_batch()
    size = MODELS.get(name).input_size(8)
    x = resize_images(x, size)
    net = create_model(name, task="classification", num_classes=10, in_chans=1, img_size=size)
    model = Classifier(net, mean=[float(x.mean())], std=[float(x.std())])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    acc = 0.0
    for step in range(150):
        model.train()
        loss = model(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 9:
            acc = _train_accuracy(model, x, y)
            if acc == 1.0:
                break
    assert acc == 1.0, f"{name} reached {acc:.2f} training accuracy after {step + 1} steps"


def test_squash_keeps_direction_and_maps_length():
    v = squash(torch.tensor([[3.0, 4.0]]))
    assert torch.allclose(v.norm(dim=-1), torch.tensor([25.0 / 26.0]))
    assert torch.allclose(v / v.norm(), torch.tensor([[0.6, 0.8]]))


def test_routing_two_capsules_by_hand():
    """Two input capsules agree on output 0 and contradict each other on output 1.

    u_hat[i=0] = ((1,0), (0,1)); u_hat[i=1] = ((1,0), (0,-1)).
    Iteration 1: c = 1/2 everywhere, s_0 = (1,0), s_1 = 0, so v_0 = (1/2, 0), v_1 = 0.
    Agreement raises b_i0 by u_hat . v_0 = 1/2 and leaves b_i1 at 0.
    Iteration 2: c_i0 = sigmoid(1/2), s_0 = (2 sigmoid(1/2), 0), v_0 = squash(s_0).
    Iteration 3: b_i0 = 1/2 + |v_0|, c_i0 = sigmoid(b_i0), s_0 = (2 c_i0, 0).
    """
    u_hat = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, -1.0]]]])

    def sig(t: float) -> float:
        return 1.0 / (1.0 + math.exp(-t))

    def squashed_length(s: float) -> float:
        return s * s / (1.0 + s * s)

    len2 = squashed_length(2 * sig(0.5))
    len3 = squashed_length(2 * sig(0.5 + len2))
    for iters, expected in ((1, 0.5), (2, len2), (3, len3)):
        v = dynamic_routing(u_hat, iters)
        assert v.shape == (1, 2, 2)
        assert torch.allclose(v[0, 0], torch.tensor([expected, 0.0]), atol=1e-6), iters
        assert torch.allclose(v[0, 1], torch.zeros(2), atol=1e-6)
    assert abs(len3 - 0.693278) < 1e-5  # worked out on paper: routing sharpens agreement


def test_margin_loss_by_hand():
    lengths = torch.tensor([[0.95, 0.3, 0.05], [0.5, 0.2, 0.0]])
    target = torch.tensor([0, 0])
    # sample 1: present 0.95 >= 0.9 -> 0; absent 0.3 -> 0.5 * 0.2^2 = 0.02; absent 0.05 -> 0
    # sample 2: present 0.5 -> 0.4^2 = 0.16; absent 0.2 -> 0.5 * 0.1^2 = 0.005
    assert torch.allclose(margin_loss(lengths, target), torch.tensor((0.02 + 0.165) / 2))


def test_capsnet_predicts_from_capsule_lengths():
    torch.manual_seed(0)
    net = create_model("capsnet_tiny", num_classes=10, in_chans=1, img_size=8)
    x = torch.rand(3, 1, 8, 8)
    lengths = net.capsules(x).norm(dim=-1)
    assert (lengths < 1).all()
    assert torch.equal(net(x).argmax(1), lengths.argmax(1))
    assert torch.allclose(F.softmax(net(x), 1), lengths / lengths.sum(1, keepdim=True), atol=1e-5)


def test_list_models_shows_params_and_flops(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VISIONBENCH_CACHE", str(tmp_path))
    from visionbench.cli import main

    assert main(["list", "models", "--family", "capsule", "--json"]) == 0
    import json

    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {n for n in CLASSIFIERS if MODELS.get(n).family == "capsule"}
    tiny = rows["capsnet_tiny"]
    net = create_model("capsnet_tiny", num_classes=10, in_chans=3, img_size=32)
    assert tiny["params"] == sum(p.numel() for p in net.parameters())
    # the routing's einsum alone: 2 * primary caps * classes * 16 * 8 multiply-adds
    n_primary = net.W.shape[0]
    assert tiny["gflops"] * 1e9 > 2 * n_primary * 10 * 16 * 8
    # the cache holds what was shown, so the next listing measures nothing
    cached = json.loads((tmp_path / "model_costs.json").read_text())["models"]
    by_name = {key.split("@")[0]: v for key, v in cached.items()}
    assert by_name["capsnet_tiny"]["params"] == tiny["params"]
    assert by_name["capsnet_tiny"]["gflops"] == tiny["gflops"]
