"""visionbench challenges: corruption and adversarial robustness, saliency, groups and energy of a
finished run, through its task's own evaluator."""

from __future__ import annotations

import argparse

from .common import at_least, console, print_json, print_table


def _f(v, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def rows(c: dict) -> list[dict]:
    """The measurements as (measure, value) rows for one table."""
    m = c["metric"]
    cor = c["corruptions"]
    out = [{"measure": f"clean {m}", "value": _f(c["clean"].get(m))}]
    for name, row in cor["table"].items():
        cells = "  ".join(f"s{s}:{_f(v, 3)}" for s, v in row.items())
        out.append({"measure": f"{name.replace('_', ' ')}", "value": cells})
    err = cor.get("errors")
    if err:
        out.append({"measure": "mean corruption error", "value": _f(err.get("mean_error"))})
        if err.get("mce") is not None:
            out.append(
                {
                    "measure": f"mCE / relative mCE vs {err.get('reference')}",
                    "value": f"{_f(err['mce'], 3)} / {_f(err.get('relative_mce'), 3)}",
                }
            )
    elif cor.get("drop"):
        drop = sum(cor["drop"].values()) / len(cor["drop"])
        out.append({"measure": f"mean drop in {m}", "value": _f(drop, 3)})
    adv = c["adversarial"]
    for r in adv["rows"]:
        if r["eps"]:
            out.append(
                {
                    "measure": f"{r['attack'].upper()} {r['norm']} eps {r['eps']:.4g}",
                    "value": _f(r["score"]),
                }
            )
    sal = c.get("saliency")
    if sal:
        rnd = sal["random"]
        for name, s in sal["methods"].items():
            out.append(
                {
                    "measure": f"{name}: deletion / insertion AUC",
                    "value": f"{s['deletion_auc']:.3f} / {s['insertion_auc']:.3f} (random "
                    f"{rnd['deletion_auc']:.3f} / {rnd['insertion_auc']:.3f})"
                    + ("" if s["beats_random"] else " NOT better than random"),
                }
            )
    g = c.get("groups")
    if g:
        out += [
            {
                "measure": "worst group / gap",
                "value": f"{g['worst_group']} {g['worst_group_accuracy']:.3f} / "
                f"{g['accuracy_gap']:.3f}",
            },
            {
                "measure": "demographic parity / equalised odds difference",
                "value": f"{g['demographic_parity_difference']:.3f} / "
                f"{g['equalized_odds_difference']:.3f}",
            },
        ]
    for phase, e in (c.get("energy") or {}).items():
        if e:
            per = e.get("joules_per_image")
            out.append(
                {
                    "measure": f"energy, {phase} ({e['kind']})",
                    "value": f"{e['joules']:.4g} J"
                    + (f", {per:.3g} J/image" if per else "")
                    + (f" [{e.get('assumption') or e.get('source')}]"),
                }
            )
    return out


def cmd_challenges(args: argparse.Namespace) -> int:
    from ..analysis.challenges import FULL, QUICK, challenges_run, scored_size
    from ..environment import resolve_device

    c = challenges_run(
        args.run_dir,
        device=str(resolve_device(args.device)),
        max_images=args.max_images,
        form=QUICK if args.quick else FULL,
        data=args.data,
        reference=args.reference,
    )
    if args.json:
        print_json(c)
        return 0
    seen = ", ".join(
        filter(None, [f"{c['images']} of {c['test_images']} test images", scored_size(c)])
    )
    title = f"challenges ({c['form']}): {c['model']} on {c['dataset']} ({seen})"
    print_table(rows(c), ["measure", "value"], title=title)
    pic = (c.get("saliency") or {}).get("picture")
    console.print(
        f"written: {args.run_dir}/challenges.json" + (f", {args.run_dir}/{pic}" if pic else "")
    )
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "challenges",
        help="corruption / adversarial robustness, saliency, groups and energy of a run",
        description="Measure the challenges of the review's Sec. VI on a finished run of any "
        "task, through the task's own evaluator, and write RUN_DIR/challenges.json. Robustness: "
        "the 15 ImageNet-C corruptions x 5 severities (Hendrycks & Dietterich 2019; --quick: "
        "severities 1, 3, 5) with the task's metric per cell, mean error, and mCE / relative "
        "mCE against --reference (the paper normalises by AlexNet); FGSM and PGD on an epsilon "
        "grid through the task's loss. For class-score models: saliency maps (input gradient, "
        "Grad-CAM, attention rollout) scored by deletion / insertion AUC against a random map "
        "(RISE), and per-group metrics where the test set has groups. Energy of the test pass: "
        "NVML / RAPL when readable, else estimated from FLOPs (labelled so).",
        epilog="Examples: visionbench challenges runs/lenet5 --quick; visionbench challenges "
        "runs/resnet18_cifar --data cifar10-c:~/data/CIFAR-10-C --reference runs/alexnet_cifar",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto")
    p.add_argument(
        "--max-images",
        type=at_least(1),
        default=None,
        help="test images analysed, a seeded subset above this (default: the FULL and QUICK "
        "forms' max_images in visionbench.analysis.challenges, not imported here so --help "
        "stays fast; with --quick, fewer where the task's evaluation is costly: detection, "
        "instance segmentation, anomaly)",
    )
    p.add_argument("--quick", action="store_true", help="the short form the bench suite runs")
    p.add_argument(
        "--data",
        default=None,
        metavar="KIND:PATH",
        help="score on a published corrupted set instead: cifar10-c:DIR, cifar100-c:DIR, "
        "imagenet-c:DIR or tiny-imagenet-c:DIR",
    )
    p.add_argument(
        "--reference",
        default=None,
        metavar="RUN_DIR",
        help="a run whose challenges.json normalises the corruption errors (mCE), e.g. AlexNet",
    )
    p.add_argument("--json", action="store_true", help="print challenges.json instead of a table")
    p.set_defaults(func=cmd_challenges)
