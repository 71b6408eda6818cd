"""Cross-dataset evaluation: is another data set's label space compatible with a run's, and how
do the run's outputs map onto it (the review's 4.5 ImageNet robustness benchmarks and 6.1.2
generalisation).

Classes are matched by WordNet id when both sides have one (ImageNet '... (n01440764)' names,
ImageNet-R's 200 wnid folders, ImageNet-V2's class indices named through timm's ImageNet list),
else by name, case-insensitively (CIFAR-10 -> CIFAR-10.1). A target whose classes are all among
the run's is scored on the run's outputs for those classes only, in the target's order: ImageNet-R
takes the argmax over its 200 classes, as Hendrycks et al. do. A target with a class the run never
learnt is refused with one line naming it.
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn

from ..errors import VisionbenchError
from .registry import DATASETS, DataBundle, load_dataset, parse_data_arg

WNID = re.compile(r"\b(n\d{8})\b")


def class_key(name: str) -> str:
    """The identity of a class: its WordNet id when the name carries one, else the name."""
    m = WNID.search(name)
    return m.group(1) if m else name.strip().lower()


def label_map(source: list[str], target: list[str], target_name: str = "the data") -> list[int]:
    """For each target class, the index of the same class among the run's (`source`) classes."""
    index = {class_key(n): i for i, n in enumerate(source)}
    missing = [n for n in target if class_key(n) not in index]
    if missing:
        more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
        raise VisionbenchError(
            f"label spaces do not match: {target_name} has class '{missing[0]}'{more} that the "
            f"run's {len(source)} classes ({', '.join(source[:3])}, ...) do not include"
        )
    return [index[class_key(n)] for n in target]


class OutputSubset(nn.Module):
    """A model whose class outputs (dim 1) are narrowed and reordered to a target label space."""

    def __init__(self, model: nn.Module, index: list[int]):
        super().__init__()
        self.model = model
        self.register_buffer("index", torch.tensor(index, dtype=torch.long), persistent=False)

    def forward(self, *args, **kwargs):
        out = self.model(*args, **kwargs)
        if not torch.is_tensor(out):
            raise VisionbenchError(
                f"cannot map {type(self.model).__name__}'s outputs onto another label space "
                "(they are not class scores)"
            )
        return out.index_select(1, self.index.to(out.device))


def load_eval_set(data: str, task: str, defaults: dict | None = None, **options) -> DataBundle:
    """Another data set for a trained run: all its images as test when its reader can (evaluation
    sets: ImageNet-V2/-R, CIFAR-10.1, SR pairs, image folders), else its own test split.

    `defaults` are what the run needs (its input size, its SR scale): every reader takes extra
    options and ignores those it has no use for. `options` (the user's) win over them."""
    name, root = parse_data_arg(data)
    if not name and root is not None:
        from .registry import detect_format

        name = detect_format(root)
        data = f"{name}:{root}"
    fitting = dict(defaults or {})
    if DATASETS.get(name).all_test:
        fitting["all_test"] = True
    return load_dataset(data, task, **(fitting | options))


def compatible_model(
    model: nn.Module, source: list[str], target: list[str], target_name: str
) -> nn.Module:
    """The run's model as it must be scored on the target: unchanged when the label spaces are
    the same (or neither has classes), narrowed to the target's classes when they are a subset."""
    if not source and not target:
        return model
    if not source or not target:
        have, lack = ("the run", target_name) if source else (target_name, "the run")
        raise VisionbenchError(f"label spaces do not match: {have} has classes, {lack} has none")
    index = label_map(source, target, target_name)
    return model if index == list(range(len(source))) else OutputSubset(model, index)
