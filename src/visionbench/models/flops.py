"""FLOPs of a model's forward pass, counted by torch.utils.flop_counter.FlopCounterMode.

Counted under the MATH attention backend: the fused CPU/GPU attention kernels are invisible to the
counter, so without it a ViT's attention would silently go missing. Numbers are FLOPs (a
multiply-add counts as two), never MACs. It lives with the models so their cost table and the
profiler count the same way.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode


def _math_attention():
    """A context that forces scaled_dot_product_attention onto its countable MATH kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


@torch.no_grad()
def count_flops(model: nn.Module, example_input: torch.Tensor | tuple) -> int:
    """Forward-pass FLOPs of `model` on `example_input` (the whole batch), attention included."""
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False)
        with _math_attention(), counter:
            model(*args)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())
