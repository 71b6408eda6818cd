"""Classification table: many models on one dataset, each trained by visionbench's own `train`.

Not a test: the real datasets need ../shared/data and minutes to hours of CPU. Every model
uses the recipe its ModelSpec carries for the data's scale (digits and faces: `small`;
Fashion-MNIST, CIFAR-10: `medium`) unless --epochs / --time-budget override it; the last
epoch's weights are scored once on the test split (validation is carved out of the training
data by the loader, so nothing is chosen on the test set). Prints one Markdown row per model
and, with --results, appends one JSON line per model (safe for parallel invocations).

    python benchmarks/classification.py --data digits --models tiny
    python benchmarks/classification.py --data fashion-mnist:../shared/data/fashion-mnist \\
        --models lenet5,resnet_tiny --device cuda --precision bf16
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

import visionbench as vb
from visionbench.models.registry import MODELS

# One model per family of the review's Table 1 that classifies: the quick-suite variants.
TINY = (
    "lenet5",
    "alexnet_tiny",
    "resnet_tiny",
    "densenet_tiny",
    "efficientnet_tiny",
    "mobilenetv4_conv_small_050",
    "capsnet_tiny",
    "vit_nano",
    "hybrid_nano",
)
# Bars of issue 3 per family and dataset (best model of the family on Fashion-MNIST).
TARGETS = {
    "digits": {
        "classic_cnn": 0.97,
        "modern_cnn": 0.97,
        "mobile_cnn": 0.97,
        "capsule": 0.97,
        "vit": 0.93,
        "hybrid": 0.93,
    },
    "fashion-mnist": {"classic_cnn": 0.89, "modern_cnn": 0.93, "capsule": 0.90, "vit": 0.88},
}


def model_names(arg: str) -> list[str]:
    """`tiny`, `all` (every classification model but the CIFAR speedrun net) or a list."""
    if arg == "tiny":
        return list(TINY)
    if arg == "all":
        return [
            name
            for name in MODELS.names()
            if "classification" in MODELS.get(name).tasks and name != "speedrun"
        ]
    return [m for m in arg.split(",") if m]


def machine(args: argparse.Namespace) -> str:
    accel = (
        torch.cuda.get_device_name()
        if args.device != "cpu" and torch.cuda.is_available()
        else "CPU only"
    )
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"threads {args.threads or torch.get_num_threads()}, {accel}, {args.precision}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="digits", help="dataset spec: digits, faces, NAME:PATH")
    p.add_argument("--models", default="tiny", help="tiny | all | comma-separated names")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs")
    p.add_argument("--time-budget", type=float, help="seconds of training per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--precision", default="fp32", help="fp32 | bf16 | fp16")
    p.add_argument("--out", default="runs/benchmarks", help="folder for the run directories")
    p.add_argument("--results", default=None, help="append one JSON line per model here")
    args = p.parse_args(argv)

    names = model_names(args.models)
    for name in names:
        MODELS.get(name)  # unknown names fail here, before any training, with a close match
    dataset = args.data.split(":", 1)[0]
    targets = TARGETS.get(dataset, {})
    where = machine(args)
    print(f"machine: {where}")
    print("| model | family | epochs | test acc | bar | train s | wall s | stopped |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        spec = MODELS.get(name)
        overrides = {"epochs": args.epochs, "time_budget": args.time_budget}
        start = time.time()
        try:
            result = vb.train(
                task="classification",
                model=name,
                data=args.data,
                seed=args.seed,
                out=args.out,
                threads=args.threads,
                device=args.device,
                precision=args.precision,
                quiet=True,
                **{k: v for k, v in overrides.items() if v is not None},
            )
        except Exception as e:  # one failing model must not hide the others' rows
            print(f"| {name} | {spec.family} | failed: {type(e).__name__}: {e} |||||| ", flush=True)
            row = {"model": name, "data": dataset, "error": f"{type(e).__name__}: {e}"}
        else:
            wall = time.time() - start
            acc, st = result.metrics["accuracy"], result.status
            bar = targets.get(spec.family)
            row = {
                "model": name,
                "family": spec.family,
                "data": dataset,
                "epochs": st.get("epochs"),
                "accuracy": round(acc, 4),
                "bar": bar,
                "train_seconds": st.get("train_seconds"),
                "wall_seconds": round(wall, 1),
                "stopped": st.get("stopped"),
                "machine": where,
                "run_dir": str(result.run_dir),
            }
            print(
                f"| {name} | {spec.family} | {row['epochs']} | {acc:.2%} | "
                f"{'' if bar is None else f'{bar:.0%}'} | {row['train_seconds']} | "
                f"{row['wall_seconds']} | {row['stopped']} |",
                flush=True,
            )
        if args.results:
            with open(args.results, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
