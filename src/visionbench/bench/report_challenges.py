"""The report's challenges section: robustness, bias, interpretability (from each run's
challenges.json) and data efficiency (from the suite's training-share runs)."""

from __future__ import annotations

from pathlib import Path

from .text import fmt

CHALLENGE_NOTE = (
    "Compute is measured for every run below; energy only where a counter exists (NVML on an "
    "NVIDIA GPU, RAPL on the CPU), never estimated. Robustness, bias and interpretability are "
    "measured for every full-data classification run, data efficiency for three models on "
    "shares of the training split: see the challenges section. Bias in the social sense "
    "(accuracy across groups of people) is not measured: the embedded sets have no demographic "
    "attributes, so 'bias' here means disparity between classes."
)
# How each challenge is measured, in one sentence each: the report prints these beside the numbers.
CHALLENGE_HOW = {
    "robustness": "test accuracy under Gaussian noise (std 0.1, 0.3), Gaussian blur (sigma 0.5, "
    "1 px), contrast reduction (x0.5, x0.25) and a shift (1, 2 px, seeded direction) applied to "
    "the test images in [0,1] pixel space at the dataset's native resolution, before the model's "
    "resize; relative robustness = mean corrupted / clean accuracy. The idea of ImageNet-C "
    "(Hendrycks & Dietterich, ICLR 2019), on 4 of its 15 corruption types.",
    "bias": "per-class recall on the test images: worst and best class, their gap and the "
    "standard deviation over classes (disparity between classes, not between groups of people).",
    "interpretability": "input-gradient x (input - mean) saliency, one method for every family "
    "(CNN, capsules, ViT, hybrid). Faithfulness check: set the 10% most salient pixels of each "
    "test image to the mean and compare the drop in true-class probability with setting 10% "
    "random pixels; it passes when the salient drop is larger.",
    "data_efficiency": "the same models trained on stratified, seeded shares of the training "
    "split with the model's recipe (the same epochs, so fewer optimiser steps) under a small time "
    "budget of their own; validation and test images unchanged. The 100% point is the model's "
    "full-data run above, which quick mode may have stopped by its time budget.",
}


def challenge_rows(records: list[dict]) -> list[dict]:
    """One row per full-data classification run with a challenges.json, best robustness first."""
    rows = []
    for r in records:
        c = r.get("challenges") or {}
        if r.get("train_fraction") is not None or not c:
            continue
        if "error" in c:
            rows.append({"run": r["run"], "model": r["model"], "family": r["family"], **c})
            continue
        rob, bias = c["robustness"], c["bias"]
        dele = c["interpretability"]["deletion"]
        rows.append(
            {
                "run": r["run"],
                "model": r["model"],
                "family": r["family"],
                "clean": rob["clean_accuracy"],
                "corrupted": rob["mean_corrupted_accuracy"],
                "relative": rob["relative_robustness"],
                "per_corruption": {
                    f"{x['name']} {x['value']:g}": x["accuracy"] for x in rob["corruptions"]
                },
                "worst_class": bias["worst_class"],
                "worst": bias["worst_class_accuracy"],
                "gap": bias["gap"],
                "std": bias["std"],
                "fraction": dele["headline_fraction"],
                "drop_salient": dele["drop_salient"],
                "drop_random": dele["drop_random"],
                "faithful": dele["faithful"],
                "images": c.get("images"),
                "picture": Path(r["run_dir"]) / c["interpretability"]["picture"]
                if c["interpretability"].get("picture")
                else None,
            }
        )
    return sorted(rows, key=lambda x: -(x.get("relative") or -1))


def efficiency_rows(records: list[dict]) -> list[dict]:
    """The ranking metric per training-set share for every model that has fraction runs: the
    mean over seeds, each seed's value and a 95% t-interval when there are several."""
    from ..analysis.challenge_plots import t_interval

    by_model: dict[str, dict] = {}
    runs: dict[str, dict[float, list[dict]]] = {}
    for r in records:
        if r["status"] != "done" or r.get("train_fraction") is None:
            continue
        by_model.setdefault(
            r["model"],
            {"model": r["model"], "family": r["family"], "task": r["task"], "points": {}},
        )
        runs.setdefault(r["model"], {}).setdefault(float(r["train_fraction"]), []).append(r)
    for r in records:  # the model's full-data run is a 100% point (seed 0)
        full = r.get("train_fraction") is None
        if (
            full
            and r["model"] in by_model
            and r["task"] == by_model[r["model"]]["task"]
            and r["status"] == "done"
            and r["setting"] == r["dataset"]
        ):
            runs[r["model"]].setdefault(1.0, []).append(r)
    for model, row in by_model.items():
        for f, rs in sorted(runs[model].items()):
            pts = [_point(r) for r in rs]
            accs = [p["accuracy"] for p in pts if p["accuracy"] is not None]
            mean, low, high = t_interval(accs)
            row["points"][f] = {
                **pts[0],
                "accuracy": mean if accs else None,
                "values": accs,
                "low": low if len(accs) > 1 else None,
                "high": high if len(accs) > 1 else None,
                "budget_stop": any(p["budget_stop"] for p in pts),
            }

    def smallest_share(row: dict) -> float:  # the most data-efficient model first
        return -(next(iter(row["points"].values()))["accuracy"] or 0.0)

    return sorted(by_model.values(), key=smallest_share)


def _point(r: dict) -> dict:
    return {
        "accuracy": r["metrics"].get(r["ranking_metric"] or "accuracy"),
        "train_images": (r["data"].get("sizes") or {}).get("train"),
        "budget_stop": r["stopped"] == "time_budget",
        "epochs": r["epochs"],
    }


def efficiency_figure(rows: list[dict], fig_dir: Path) -> bytes | None:
    from ..analysis.challenge_plots import learning_curve_png

    series = {
        r["model"]: {f: p["values"] for f, p in r["points"].items() if p["values"]} for r in rows
    }
    if not any(len(v) >= 2 for v in series.values()):
        return None
    png = learning_curve_png(
        series,
        "test accuracy",
        "data efficiency on digits: accuracy vs training share (mean, 95% t-interval over seeds)",
    )
    fig_dir.mkdir(parents=True, exist_ok=True)
    (fig_dir / "data-efficiency.png").write_bytes(png)
    return png


def challenges_markdown(ctx: dict) -> list[str]:
    """Section 5: robustness, bias and saliency per model, then the data-efficiency table."""
    how = ctx["challenge_how"]
    L = [
        "",
        "## 5. Challenges the review names: robustness, bias, interpretability, data efficiency",
        "",
        f"- **Robustness**: {how['robustness']}",
        f"- **Bias**: {how['bias']}",
        f"- **Interpretability**: {how['interpretability']}",
        f"- **Data efficiency**: {how['data_efficiency']}",
        "",
    ]
    rows = [r for r in ctx["challenges"] if "error" not in r]
    if rows:
        L += [
            "| model | family | clean acc | mean corrupted acc | relative robustness | "
            "worst class (acc) | class gap | class std | deletion: p(true) drop salient vs random | "
            "faithful |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            L.append(
                f"| {r['model']} | {r['family']} | {fmt(r['clean'])} | {fmt(r['corrupted'])} | "
                f"{fmt(r['relative'], 3)} | {r['worst_class']} ({fmt(r['worst'], 3)}) | "
                f"{fmt(r['gap'], 3)} | {fmt(r['std'], 3)} | {fmt(r['drop_salient'], 3)} vs "
                f"{fmt(r['drop_random'], 3)} ({r['fraction']:.0%} of pixels) | "
                f"{'yes' if r['faithful'] else '**no**'} |"
            )
        names = list(rows[0]["per_corruption"])
        L += [
            "",
            f"Accuracy per corruption ({rows[0]['images']} test images per run):",
            "",
            "| model | clean | " + " | ".join(names) + " |",
            "|---" * (len(names) + 2) + "|",
        ]
        for r in rows:
            vals = " | ".join(fmt(r["per_corruption"].get(n), 3) for n in names)
            L.append(f"| {r['model']} | {fmt(r['clean'], 3)} | {vals} |")
        L.append("")
        for r in rows:
            if r["picture"]:
                rel = Path(r["picture"]).relative_to(Path(r["picture"]).parents[3])
                L.append(f"![saliency {r['model']}]({rel.as_posix()})")
    for r in ctx["challenges"]:
        if "error" in r:
            L.append(f"- {r['run']}: challenges failed: {r['error']}")
    if not ctx["challenges"]:
        L.append("No classification run with a challenges.json in this suite.")
    eff = ctx["efficiency"]
    if eff:
        shares = ctx["efficiency_shares"]
        L += [
            "",
            "Data efficiency: test accuracy by share of the training split, the mean over "
            "training seeds (training images in brackets, then the 95% t-interval's half width "
            "where there are several seeds; * stopped by its time budget):",
            "",
            "| model | family | " + " | ".join(f"{f:.0%}" for f in shares) + " |",
            "|---" * (len(shares) + 2) + "|",
        ]
        for r in eff:
            cells = []
            for f in shares:
                p = r["points"].get(f)
                spread = (
                    f" ± {fmt((p['high'] - p['low']) / 2, 3)}, {len(p['values'])} seeds"
                    if p and p.get("high") is not None
                    else ""
                )
                cells.append(
                    f"{fmt(p['accuracy'])} ({p['train_images']}{spread})"
                    f"{'*' if p['budget_stop'] else ''}"
                    if p
                    else "–"
                )
            L.append(f"| {r['model']} | {r['family']} | " + " | ".join(cells) + " |")
        if ctx.get("efficiency_png"):
            L.append("\n![data efficiency](figures/data-efficiency.png)")
    return L
