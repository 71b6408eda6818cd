"""The optimizer factory is timm's, and our recipe names still build exactly the optimizers the
recipes were measured with; the schedules are ours (why: engine/optim.py)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from visionbench.engine.optim import make_optimizer, make_scheduler
from visionbench.errors import VisionbenchError
from visionbench.models.registry import Recipe

EXPECTED = {  # name -> (class, settings that must hold)
    "adamw": (torch.optim.AdamW, {"betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.05}),
    "adam": (torch.optim.Adam, {"betas": (0.5, 0.999), "weight_decay": 0.05}),
    "sgd": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_recipe_names_build_the_same_torch_optimizers(name):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    recipe = dataclasses.replace(Recipe(), optimizer=name, lr=0.1, weight_decay=0.05, momentum=0.9)
    opt = make_optimizer(model.parameters(), recipe)
    cls, settings = EXPECTED[name]
    assert type(opt) is cls and len(opt.param_groups) == 1  # decay on every parameter, as before
    group = opt.param_groups[0]
    assert group["lr"] == 0.1 and len(group["params"]) == 4
    for k, v in settings.items():
        assert group[k] == v, k


def test_other_timm_optimizers_pass_through_and_unknown_names_fail():
    params = list(torch.nn.Linear(3, 4).parameters())
    lamb = make_optimizer(params, dataclasses.replace(Recipe(), optimizer="lamb", lr=0.01))
    assert type(lamb).__name__ == "Lamb"
    with pytest.raises(VisionbenchError, match="unknown optimizer 'adamm'"):
        make_optimizer(params, dataclasses.replace(Recipe(), optimizer="adamm"))


def test_onecycle_and_cosine_schedules_keep_their_closed_forms():
    params = [torch.nn.Parameter(torch.zeros(1))]
    recipe = dataclasses.replace(Recipe(), optimizer="sgd", lr=1.0, epochs=10, warmup_epochs=0)
    opt = make_optimizer(params, dataclasses.replace(recipe, schedule="onecycle"))
    sched = make_scheduler(opt, dataclasses.replace(recipe, schedule="onecycle"), 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.04) and max(lrs) == pytest.approx(1.0)
    assert lrs.index(max(lrs)) == 30 and lrs[-1] == pytest.approx(1 / 70)
    opt = make_optimizer(params, dataclasses.replace(recipe, schedule="cosine"))
    sched = make_scheduler(opt, dataclasses.replace(recipe, schedule="cosine"), 100)
    for _ in range(50):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)
