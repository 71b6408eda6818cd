"""Training work (issue 20): a run's steps, samples and FLOPs are counted from a real training
step, without touching the run."""

from __future__ import annotations

import torch

from visionbench.config import TrainConfig
from visionbench.engine.work import flops_per_sample, training_work
from visionbench.tasks.workflow import prepare_run


def _classification_run():
    cfg = TrainConfig(task="classification", model="lenet5", data="digits", epochs=1, quiet=True)
    return prepare_run(cfg)


def test_training_flops_are_three_forward_passes_and_leave_the_run_untouched():
    from visionbench.models.flops import count_flops

    spec, task, bundle, recipe, model, device = _classification_run()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    work = training_work(task, model, bundle.train, recipe, device, steps=10)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())  # the run's random stream is unchanged
    bs = recipe.batch_size
    assert work["steps"] == 10 and work["train_samples"] == 10 * bs
    forward = count_flops(model, torch.rand(1, *bundle.train[0][0].shape))
    # backward costs about twice the forward: a training step is about 3 forward passes
    assert 2.5 * forward < work["train_flops_per_sample"] < 3.5 * forward
    assert work["train_flops"] == round(work["train_flops_per_sample"] * 10 * bs)


def test_a_gan_step_counts_both_networks():
    from visionbench.models.flops import count_flops

    cfg = TrainConfig(task="generation", model="dcgan", data="digits", epochs=1, quiet=True)
    spec, task, bundle, recipe, model, device = prepare_run(cfg)
    per_sample, _ = flops_per_sample(task, model, bundle.train, recipe, device)
    generator = count_flops(model.generator, torch.randn(1, model.z_dim, 1, 1))
    # the generator's forward and backward alone are ~3 passes; the discriminator adds more
    assert per_sample > 3.2 * generator > 0
