"""visionbench profile: what a model costs (params, FLOPs, latency, throughput, memory)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import at_least, console, print_json


def rows(p: dict) -> list[tuple[str, str]]:
    """A profile as (quantity, value) pairs for a two-column table."""
    env = p.get("environment", {})
    lat, tput = p.get("latency_ms", {}), p.get("throughput", {})
    out = [
        ("model", f"{p.get('model')} ({p.get('task')})"),
        ("input", "x".join(map(str, p.get("input_shape", [])))),
        ("measured per image", p.get("measures", "one forward pass")),
        ("parameters", f"{p['params'] / 1e6:.3f} M"),
        ("FLOPs / image", f"{p['flops'] / 1e9:.4g} GFLOPs (multiply-add = 2, attention counted)"),
        ("weights file", f"{p['weights_mb']:.2f} MiB (safetensors)"),
        (
            "latency, batch 1",
            f"median {lat['median']:.3g} ms, p90 {lat['p90']:.3g} ms ({lat['repeats']} runs)",
        ),
        ("throughput", f"{tput['images_per_s']:.4g} images/s at batch {tput['batch']}"),
    ]
    if "peak_memory_mb" in p:
        out.append(("peak memory", f"{p['peak_memory_mb']:.1f} MiB ({p['memory_kind']})"))
    energy = p.get("energy")
    out.append(
        (
            "energy",
            f"{energy['joules_per_image']:.4g} J/image ({energy['source']})"
            if energy
            else "not measured (no NVML or readable RAPL counter here)",
        )
    )
    out.append(
        (
            "environment",
            f"{env.get('device')} · {env.get('threads')} threads · torch {env.get('torch')} · "
            f"{env.get('precision')} · {env.get('processor')}",
        )
    )
    return out


def cmd_profile(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ..analysis.profile import profile_named, profile_run
    from ..environment import resolve_device

    device = str(resolve_device(args.device))
    if args.run:
        p = profile_run(args.run, device=device, precision=args.precision, quick=not args.full)
        console.print(f"written: {Path(args.run) / 'profile.json'}")
    elif args.model:
        p = profile_named(
            args.model,
            task=args.task,
            img_size=args.img_size,
            in_chans=args.in_chans,
            batch=args.batch,
            device=device,
            precision=args.precision,
            quick=not args.full,
        )
    else:
        from ..errors import VisionbenchError

        raise VisionbenchError("give --model NAME or --run RUN_DIR")
    if args.json:
        print_json(p)
        return 0
    table = Table(title=f"profile: {p.get('model')}", header_style="bold", show_header=False)
    table.add_column("quantity", style="bold")
    table.add_column("value")
    for k, v in rows(p):
        table.add_row(k, v)
    console.print(table)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "profile",
        help="params, FLOPs, latency, throughput and memory of a model or a run",
        description="Profile a registered model (random weights, any input size) or a finished "
        "run's model. FLOPs are counted with torch's FlopCounterMode under the math attention "
        "backend, so attention is counted on CPU too; they are FLOPs, not MACs.",
        epilog="Example: visionbench profile --model resnet18 --img-size 224",
    )
    p.add_argument("--model", help="registered model name (see: visionbench list models)")
    p.add_argument("--run", help="profile a run directory instead (writes its profile.json)")
    p.add_argument("--task", help="task to build the model for (default: its first task)")
    p.add_argument("--img-size", type=at_least(1), help="input side length (default: the model's)")
    p.add_argument("--in-chans", type=at_least(1), default=3, help="input channels (default 3)")
    p.add_argument(
        "--batch", type=at_least(1), help="batch size for throughput (default 32 CPU, 256 GPU)"
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--full", action="store_true", help="more repetitions (slower, steadier)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_profile)
