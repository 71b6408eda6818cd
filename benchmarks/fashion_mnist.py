"""Fashion-MNIST: one model per classification family, trained by visionbench's own `train`.

Not a test: it needs the real data (the four IDX files) and minutes to hours of CPU. Each model
uses its "medium" recipe unless --epochs / --time-budget cap it, on the official 60k/10k split
(validation carved out of the training set by the loader, so no choice is made on the test set).
Prints one row per model with test accuracy, epochs, training and wall seconds, and the machine.

    python benchmarks/fashion_mnist.py --data ../shared/data/fashion-mnist --models lenet5 \\
        --epochs 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

import visionbench as vb
from visionbench.models.registry import MODELS

# One model per family of the review's Table 1 that classifies.
DEFAULT_MODELS = (
    "lenet5",
    "alexnet_tiny",
    "resnet_tiny",
    "mobilenetv4_conv_small_050",
    "capsnet_tiny",
    "vit_nano",
    "hybrid_nano",
)
TARGETS = {"classic_cnn": 0.89, "modern_cnn": 0.93, "capsule": 0.90, "vit": 0.88}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/fashion-mnist", help="folder of IDX files")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated names")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--time-budget", type=float, help="seconds of training per model")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--precision", default="fp32", help="fp32 | bf16 | fp16")
    p.add_argument("--out", default="runs/fashion_mnist", help="folder for the runs")
    p.add_argument("--results", default=None, help="append one JSON line per model here")
    args = p.parse_args(argv)

    root = Path(args.data)
    if not root.is_dir():
        raise SystemExit(f"error: {root}: no such folder (pass --data DIR with the IDX files)")
    machine = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, threads {args.threads or torch.get_num_threads()}, "
        + (
            torch.cuda.get_device_name()
            if args.device != "cpu" and torch.cuda.is_available()
            else "CPU only"
        )
        + f", {args.precision}"
    )
    print(f"machine: {machine}")
    print("| model | family | epochs | test acc | target | train s | wall s | stopped |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        spec = MODELS.get(name)
        overrides = {"epochs": args.epochs, "time_budget": args.time_budget}
        start = time.time()
        result = vb.train(
            task="classification",
            model=name,
            data=f"fashion-mnist:{root}",
            out=args.out,
            threads=args.threads,
            device=args.device,
            precision=args.precision,
            quiet=True,
            **{k: v for k, v in overrides.items() if v is not None},
        )
        wall = time.time() - start
        acc, st = result.metrics["accuracy"], result.status
        target = TARGETS.get(spec.family)
        row = {
            "model": name,
            "family": spec.family,
            "epochs": st.get("epochs"),
            "accuracy": round(acc, 4),
            "target": target,
            "train_seconds": st.get("train_seconds"),
            "wall_seconds": round(wall, 1),
            "stopped": st.get("stopped"),
            "machine": machine,
            "run_dir": str(result.run_dir),
        }
        print(
            f"| {name} | {spec.family} | {row['epochs']} | {acc:.2%} | "
            f"{'' if target is None else f'{target:.0%}'} | {row['train_seconds']} | "
            f"{row['wall_seconds']} | {row['stopped']} |",
            flush=True,
        )
        if args.results:
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
