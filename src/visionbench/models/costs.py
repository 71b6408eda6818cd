"""Parameters and forward FLOPs of every registered model, cached so listing stays instant.

Counted once per (model, model file version, input size, torch and timm versions) at the
model's default input size with 3 channels and 10 classes, batch 1, by the profiler's
FlopCounterMode counter (attention included); the cache is a small JSON file under
~/.cache/visionbench (or $VISIONBENCH_CACHE).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import VisionbenchError
from ..files import read_json_dict, write_json
from .registry import MODELS, ModelSpec, create_model


def cache_file() -> Path:
    root = os.environ.get("VISIONBENCH_CACHE") or Path.home() / ".cache" / "visionbench"
    return Path(root) / "model_costs.json"


def _versions() -> str:
    import timm

    return f"torch {torch.__version__.split('+')[0]}, timm {timm.__version__}"


def _source_stamp(spec: ModelSpec) -> str:
    """Changes when the file defining the model changes, so an edited model is re-measured."""
    import inspect

    try:
        st = Path(inspect.getfile(spec.builder)).stat()
        return f"{st.st_size}-{int(st.st_mtime)}"
    except (OSError, TypeError):
        return ""


def measure(spec: ModelSpec, img_size: int | None = None) -> dict:
    """{'params', 'gflops', 'img_size'} of `spec` on a [1, 3, S, S] input."""
    from .flops import count_flops

    size = img_size or spec.default_img_size
    model = create_model(spec.name, num_classes=10, in_chans=3, img_size=size)
    params = sum(p.numel() for p in model.parameters())
    flops = count_flops(model, torch.zeros(1, 3, size, size))
    return {"params": params, "gflops": round(flops / 1e9, 4), "img_size": size}


def model_costs(names: list[str]) -> dict[str, dict]:
    """Costs for `names`, measuring (and caching) only those not measured before."""
    path, versions = cache_file(), _versions()
    try:
        cache = read_json_dict(path)
    except VisionbenchError:  # a damaged cache is measured again
        cache = {}
    if cache.get("versions") != versions:
        cache = {"versions": versions, "models": {}}
    out, changed = {}, False
    for name in names:
        spec = MODELS.get(name)
        key = f"{name}@{spec.default_img_size}@{_source_stamp(spec)}"
        if key not in cache["models"]:
            try:
                with torch.random.fork_rng():
                    cache["models"][key] = measure(spec)
            except Exception:  # a model that cannot run a 3-channel image shows no costs
                cache["models"][key] = {}
            changed = True
        out[name] = cache["models"][key]
    if changed:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, cache)
        except (OSError, VisionbenchError):
            pass  # a read-only home only costs speed
    return out
