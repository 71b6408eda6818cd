"""visionbench export RUN_DIR --format onnx: export, parity check, latency beside eager."""

from __future__ import annotations

import argparse

from .common import at_least, console, print_json


def cmd_export(args: argparse.Namespace) -> int:
    from ..analysis.export import export_run

    r = export_run(args.run_dir, output=args.output, repeats=args.repeats)
    if args.json:
        print_json(r)
        return 0
    ok = "[green]ok[/green]" if r["parity_ok"] else "[red]MISMATCH[/red]"
    console.print(f"exported: [bold]{r['onnx']}[/bold] ({r['onnx_mb']:.2f} MiB)")
    console.print(
        f"parity (onnxruntime vs eager, batch of 4): max abs difference {r['max_abs_diff']:.3g} {ok}"
    )
    console.print(
        f"latency, batch 1, {r['threads']} threads: eager {r['eager_latency_ms']:.3g} ms · "
        f"onnxruntime {r['onnxruntime_latency_ms']:.3g} ms (median)"
    )
    return 0 if r["parity_ok"] else 1


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a run's model to ONNX, with an onnxruntime parity check and latency",
        epilog="Example: visionbench export runs/classification/lenet5__digits__s0 --format onnx",
    )
    p.add_argument("run_dir", help="a finished run folder")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format (onnx)")
    p.add_argument("--output", help="where to write (default RUN_DIR/model.onnx)")
    p.add_argument("--repeats", type=at_least(1), default=30, help="timed runs for each latency")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)
