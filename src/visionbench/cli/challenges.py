"""visionbench challenges: robustness, per-class bias and saliency of a finished classification run."""

from __future__ import annotations

import argparse

from .common import console, print_json, print_table


def rows(c: dict) -> list[dict]:
    """The measurements as (measure, value) rows for one table."""
    rob, bias = c["robustness"], c["bias"]
    dele = c["interpretability"]["deletion"]
    frac = dele["headline_fraction"]
    out = [
        {"measure": "clean accuracy", "value": f"{rob['clean_accuracy']:.4f}"},
        *(
            {
                "measure": f"{r['name']} (severity {r['severity']}: {r['value']:g})",
                "value": f"{r['accuracy']:.4f}",
            }
            for r in rob["corruptions"]
        ),
        {"measure": "mean corrupted accuracy", "value": f"{rob['mean_corrupted_accuracy']:.4f}"},
        {"measure": "relative robustness", "value": f"{rob['relative_robustness']:.3f}"},
        {
            "measure": "worst / best class (recall)",
            "value": f"{bias['worst_class']} {bias['worst_class_accuracy']:.3f} / "
            f"{bias['best_class']} {bias['best_class_accuracy']:.3f}",
        },
        {"measure": "class gap / std", "value": f"{bias['gap']:.3f} / {bias['std']:.3f}"},
        {
            "measure": f"true-class prob drop, {frac:.0%} pixels removed",
            "value": f"salient {dele['drop_salient']:.3f} vs random {dele['drop_random']:.3f}: "
            + ("faithful" if dele["faithful"] else "NOT faithful"),
        },
    ]
    return out


def cmd_challenges(args: argparse.Namespace) -> int:
    from ..analysis.challenges import challenges_run
    from ..environment import resolve_device

    c = challenges_run(
        args.run_dir, device=str(resolve_device(args.device)), max_images=args.max_images
    )
    if args.json:
        print_json(c)
        return 0
    title = f"challenges: {c['model']} on {c['dataset']} ({c['images']} of {c['test_images']} test images)"
    print_table(rows(c), ["measure", "value"], title=title)
    pic = c["interpretability"].get("picture")
    console.print(
        f"written: {args.run_dir}/challenges.json" + (f", {args.run_dir}/{pic}" if pic else "")
    )
    return 0


def register(sub) -> None:
    from ..analysis.challenges import MAX_IMAGES

    p = sub.add_parser(
        "challenges",
        help="robustness, per-class bias and saliency faithfulness of a classification run",
        description="Measure three challenges the review names on a finished classification run "
        "and write RUN_DIR/challenges.json and RUN_DIR/samples/saliency.png. Robustness: test "
        "accuracy under Gaussian noise, Gaussian blur, contrast reduction and a 1-2 px shift, two "
        "fixed seeded severities each (a small subset of ImageNet-C's corruptions), in [0,1] pixel "
        "space at the dataset's native resolution. Bias: per-class recall, its worst and best "
        "class, gap and standard deviation (disparity between classes; the embedded sets have no "
        "demographic attributes). Interpretability: input-gradient x (input - mean) saliency, "
        "checked by deletion: removing the most salient 10%% of pixels must lower the true-class "
        "probability more than removing 10%% random pixels.",
        epilog="Example: visionbench challenges runs/review/classification/lenet5__digits__s0 "
        "(the bench suite runs this after every classification job)",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished classification run folder")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument(
        "--max-images",
        type=int,
        default=MAX_IMAGES,
        help=f"test images analysed, a stratified seeded subset above this (default {MAX_IMAGES})",
    )
    p.add_argument("--json", action="store_true", help="print challenges.json instead of a table")
    p.set_defaults(func=cmd_challenges)
