"""MAE (masked-patch ViT autoencoder): masking, the masked-only loss on hand-made cases,
patch bookkeeping, learning on one batch, and a short run whose pre-training sees the whole
training split while fine-tuning sees its labelled share."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from visionbench.models.mae import masked_patch_loss, random_masking, sincos_2d
from visionbench.models.registry import MODELS, create_model

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _net(img_size=8, **kw):
    torch.manual_seed(0)
    return create_model(
        "mae_vit_nano", task="classification", num_classes=10, in_chans=1, img_size=img_size, **kw
    )


def test_registered_with_its_family_and_listed(tmp_path, monkeypatch, capsys):
    spec = MODELS.get("mae_vit_nano")
    assert spec.family == "modern_autoencoder" and spec.tasks == ("classification",)
    assert spec.recipe("classification").pretrain_epochs > 0
    # the supervised part of the recipe is vit_nano's: the curves compare pre-training only
    vit = MODELS.get("vit_nano").recipe("classification").to_dict()
    mae = spec.recipe("classification").to_dict()
    assert {k: v for k, v in mae.items() if k != "pretrain_epochs"} == {
        k: v for k, v in vit.items() if k != "pretrain_epochs"
    }
    monkeypatch.setenv("VISIONBENCH_CACHE", str(tmp_path))
    from visionbench.cli import main

    assert main(["list", "models", "--family", "modern_autoencoder", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "mae_vit_nano" in rows and rows["mae_vit_nano"]["params"] > 0


def test_forward_backward_shapes_and_which_parts_learn_in_each_phase():
    net = _net()
    x = torch.rand(4, 1, 8, 8)
    logits = net(x)
    assert logits.shape == (4, 10)
    logits.sum().backward()
    assert net.encoder.head.weight.grad is not None
    assert net.decoder_pred.weight.grad is None  # classification leaves the decoder unused
    net.zero_grad(set_to_none=True)
    loss = net.pretraining_loss(x)
    assert loss.ndim == 0 and loss > 0
    loss.backward()
    assert net.encoder.head.weight.grad is None  # pre-training leaves the head unused
    for p in (net.encoder.patch_embed.proj.weight, net.encoder.pos_embed, net.mask_token):
        assert p.grad is not None and p.grad.abs().sum() > 0
    # the encoder sees the class token and the 4 visible of 16 patches only
    ids_keep, _, _ = random_masking(4, 16, 0.75)
    assert net.encode_visible(x, ids_keep).shape == (4, 1 + 4, 96)
    recon, hidden = net.reconstruct(x, torch.Generator().manual_seed(0))
    assert recon.shape == x.shape and hidden.shape == (4, 1, 8, 8)
    assert torch.allclose(hidden.mean((1, 2, 3)), torch.full((4,), 0.75))


def test_a_size_that_is_not_whole_patches_is_padded():
    net = _net(img_size=10)  # patch 3, grid 4, padded to 12
    assert (net.patch, net.grid, net.pad) == (3, 4, 2)
    x = torch.rand(2, 1, 10, 10)
    assert net(x).shape == (2, 10)
    net.pretraining_loss(x).backward()
    recon, hidden = net.reconstruct(x)
    assert recon.shape == x.shape and hidden.shape == (2, 1, 10, 10)


def test_masking_keeps_exactly_a_quarter_with_different_masks_per_image():
    g = torch.Generator().manual_seed(3)
    ids_keep, mask, ids_restore = random_masking(6, 16, 0.75, generator=g)
    assert ids_keep.shape == (6, 4)
    assert torch.equal(mask.sum(1), torch.full((6,), 12.0))
    assert torch.equal(mask.gather(1, ids_keep), torch.zeros(6, 4))  # kept = not masked
    assert len({tuple(r.tolist()) for r in mask}) == 6  # each image its own mask
    # the decoder's unshuffle (visible tokens first, then mask tokens, gathered by ids_restore)
    # puts every visible token back at its own position and mask tokens everywhere else
    full = torch.cat([ids_keep, torch.full((6, 12), -1)], 1).gather(1, ids_restore)
    assert torch.equal(full, torch.where(mask.bool(), -1, torch.arange(16).expand(6, -1)))
    # the same seed gives the same masks, another seed others
    again = random_masking(6, 16, 0.75, generator=torch.Generator().manual_seed(3))[1]
    other = random_masking(6, 16, 0.75, generator=torch.Generator().manual_seed(4))[1]
    assert torch.equal(again, mask) and not torch.equal(other, mask)
    assert random_masking(1, 3, 0.9)[0].shape == (1, 1)  # always at least one visible patch


def test_the_loss_counts_masked_patches_only_on_hand_made_cases():
    # one image, two patches of two pixels; the first patch masked
    target = torch.tensor([[[0.0, 2.0], [1.0, 1.0]]])
    mask = torch.tensor([[1.0, 0.0]])
    pred = torch.zeros(1, 2, 2)
    # raw pixels: ((0-0)^2 + (2-0)^2) / 2 = 2 on the masked patch; the visible one is ignored
    assert masked_patch_loss(pred, target, mask, norm_pix=False).item() == pytest.approx(2.0)
    # normalised per patch: [0, 2] has mean 1 and variance 1, so the target is [-1, 1]
    assert masked_patch_loss(pred, target, mask).item() == pytest.approx(1.0, rel=1e-5)
    # a perfect masked patch gives 0 however wrong the visible ones are
    perfect = torch.tensor([[[-1.0, 1.0], [50.0, -50.0]]])
    assert masked_patch_loss(perfect, target, mask).item() == pytest.approx(0.0, abs=1e-6)
    # per image: each image's mean over its own masked patches
    two = masked_patch_loss(
        torch.zeros(2, 2, 2),
        target.expand(2, -1, -1),
        torch.tensor([[1.0, 0.0], [1.0, 1.0]]),
        False,
    )
    assert two.tolist() == pytest.approx([2.0, 1.5])


def test_the_full_model_loss_ignores_visible_patches():
    net = _net()
    x = torch.rand(2, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    _, pred, mask = net.masked_forward(x, g)
    target = net.patchify(x)
    mean = target.mean(-1, keepdim=True)
    std = (target.var(-1, keepdim=True, unbiased=False) + 1e-6).sqrt()
    normed = (target - mean) / std
    m = mask[..., None]
    right_where_masked = normed * m + 100.0 * (1 - m)  # visible patches far off
    assert masked_patch_loss(right_where_masked, target, mask).max() < 1e-8


def test_patchify_order_round_trip_and_sincos_by_hand():
    net = _net(img_size=4, patch_size=2)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    p = net.patchify(x)
    assert p.shape == (1, 4, 4)
    assert p[0, 0].tolist() == [0.0, 1.0, 4.0, 5.0]  # top-left patch, row-major pixels
    assert p[0, 1].tolist() == [2.0, 3.0, 6.0, 7.0]  # its right neighbour
    assert torch.equal(net.unpatchify(p), x)
    e = sincos_2d(8, 2)  # rows (r, c) of a 2x2 grid; [sin r, sin r/100 | cos ... | col ...]
    assert e.shape == (4, 8)
    assert e[0].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert e[1, 4:].tolist() == pytest.approx(
        [torch.sin(torch.tensor(1.0)).item(), 0.01, torch.cos(torch.tensor(1.0)).item(), 1.0],
        rel=1e-3,
    )
    assert e[2, :4].tolist() == pytest.approx(e[1, 4:].tolist())  # row 1 = column 1


def test_overfits_one_batch_of_the_pretraining_loss():
    from visionbench.data.registry import load_dataset

    x = load_dataset("digits", "classification").train.images[:8]
    net = _net()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.0)

    def loss_at_fixed_masks():  # the same masks every step: one batch to memorise
        return net.pretraining_loss(x, torch.Generator().manual_seed(0))

    before = loss_at_fixed_masks().item()
    for _ in range(200):
        loss = loss_at_fixed_masks()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = loss_at_fixed_masks().item()
    assert after < 0.25 * before, (before, after)  # measured: 0.86 -> 0.11


def test_a_run_pretrains_on_the_whole_split_and_finetunes_on_its_share(tmp_path):
    import visionbench as vb

    r = vb.train(
        task="classification",
        model="mae_vit_nano",
        data="digits",
        epochs=1,
        pretrain_epochs=2,
        train_fraction=0.1,
        out=str(tmp_path),
        quiet=True,
        threads=1,
    )
    run = Path(r.run_dir)
    meta = json.loads((run / "run.json").read_text())
    status = json.loads((run / "status.json").read_text())
    pre = status["pretraining"]
    assert meta["data"]["sizes"]["train"] == 125  # labelled share
    assert pre["images"] == 1257 and pre["labels_used"] is False  # the whole split, unlabelled
    assert pre["epochs"] == 2 and len(pre["history"]) == 2
    assert pre["val_masked_mse_after"] < pre["val_masked_mse_before"]
    assert pre["train_flops"] > 0 and pre["steps"] == 2 * (1257 // 32)  # whole batches
    assert (run / "samples" / "mae_reconstructions.png").exists()
    assert "pretrain_epochs: 2" in (run / "config.yaml").read_text()
    # reloaded as a plain classifier: the same test accuracy
    again = vb.evaluate(run)
    assert again["accuracy"] == pytest.approx(r.metrics["accuracy"])


def test_the_report_shows_the_pretraining_beside_the_work():
    from visionbench.bench.report import pretraining_summary, work_text
    from visionbench.bench.report_challenges import efficiency_rows, efficiency_statement

    status = {"pretraining": {"epochs": 20, "images": 1257, "train_flops": 2e12, "history": [1]}}
    pre = pretraining_summary(status)
    assert "history" not in pre and pretraining_summary({}) is None
    text = work_text({"epochs": 40, "steps": 120, "pretraining": pre})
    assert text == "40 ep · 120 steps + 20 ep pre-training on 1257 images · 2 TFLOP"
    from visionbench.bench.report import work_fields

    assert not work_fields({"stopped": "completed", **status})["cut"]
    cut = {"stopped": "completed", "pretraining": {"stopped": "time_budget"}}
    assert work_fields(cut)["cut"]  # a pre-training cut by the cap is not comparable either

    def record(model, fraction, acc, pretraining=None):
        return {
            "model": model,
            "family": "f",
            "task": "classification",
            "dataset": "digits",
            "setting": f"digits-frac{fraction}",
            "ranking_metric": "accuracy",
            "metrics": {"accuracy": acc},
            "status": "done",
            "data": {"sizes": {"train": int(1257 * fraction)}},
            "epochs": 40,
            "train_fraction": fraction,
            "pretraining": pretraining,
        }

    rows = efficiency_rows(
        [
            record("vit_nano", 0.1, 0.5),
            record("vit_nano", 0.25, 0.7),
            record("mae_vit_nano", 0.1, 0.6, pre),
            record("mae_vit_nano", 0.25, 0.8, pre),
        ]
    )
    said = efficiency_statement(rows)
    assert "mae_vit_nano was pre-trained without labels (20 epochs on all 1257" in said
    assert said.count("pre-trained without labels") == 1  # vit_nano was not


def test_without_pretraining_it_is_vit_nano(tmp_path):
    """Same seed, no pre-training epochs: the encoder starts from vit_nano's weights and trains
    with vit_nano's recipe to the same accuracy (the decoder gets no gradient)."""
    import visionbench as vb

    common = dict(
        task="classification",
        data="digits",
        epochs=1,
        train_fraction=0.1,
        quiet=True,
        threads=1,
    )
    vit = vb.train(model="vit_nano", out=str(tmp_path / "a"), **common)
    mae = vb.train(model="mae_vit_nano", pretrain_epochs=0, out=str(tmp_path / "b"), **common)
    assert mae.metrics["accuracy"] == vit.metrics["accuracy"]
    assert mae.metrics["loss"] == pytest.approx(vit.metrics["loss"], rel=1e-5)
    assert "pretraining" not in mae.status


def test_pretrain_epochs_on_a_model_without_pretraining_is_one_clear_line():
    from visionbench.config import TrainConfig
    from visionbench.errors import VisionbenchError
    from visionbench.tasks.workflow import check_inputs

    cfg = TrainConfig(task="classification", model="lenet5", data="digits", pretrain_epochs=3)
    with pytest.raises(VisionbenchError, match="no self-supervised pre-training.*mae_vit_nano"):
        check_inputs(cfg)
    check_inputs(
        TrainConfig(task="classification", model="lenet5", data="digits", pretrain_epochs=0)
    )
    with pytest.raises(VisionbenchError, match="pretrain_epochs"):
        TrainConfig.from_dict({"pretrain_epochs": -1})
