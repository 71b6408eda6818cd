"""The report's challenges section: robustness, bias, interpretability (from each run's
challenges.json) and data efficiency (from the suite's training-share runs)."""

from __future__ import annotations

from pathlib import Path

from .text import fmt

CHALLENGE_NOTE = (
    "Compute is measured for every run below; energy comes from a counter where one is "
    "readable (NVML on an NVIDIA GPU, RAPL on the CPU) and is otherwise estimated from FLOPs, "
    "labelled 'estimated' with its assumption. The challenges (corruption and adversarial "
    "robustness, saliency, groups, energy per image) are measured for every full-data run whose "
    "task takes part, through that task's own evaluator; data efficiency for three models on "
    "shares of the training split: see the challenges section."
)
# How each challenge is measured, in one sentence each: the report prints these beside the numbers.
CHALLENGE_HOW = {
    "robustness": "the 15 ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019) at "
    "severities 1-5 (quick mode: 1, 3, 5) with the published parameters of the table nearest "
    "the model's input size (CIFAR-10-C below 100 px, ImageNet-C above; spatial parameters "
    "scaled by side / 32 or side / 224), applied to the test images the model is evaluated on; "
    "the task's ranking metric per cell, mean error (1 - metric, for metrics in [0,1]) and mCE "
    "= mean over corruptions of the summed errors normalised by the suite's AlexNet run on the "
    "same data (the paper's normalisation; shown when that run exists). Adversarial: FGSM and "
    "PGD (L-inf, random start, 2.5 eps / steps per step) through the task's own loss; the table "
    "and the curves show, per epsilon, the worst of the two (a near-linear super-resolution net "
    "loses more to one full FGSM step than to 3 PGD steps from a random start). "
    "Segmentation, detection and anomaly runs are corrupted and attacked on their input images "
    "with labels unchanged (a detector's losses taken with its normalisation as evaluated; an "
    "anomaly attack raises normal images' scores and lowers anomalous ones'); restoration "
    "perturbs the image it is asked to recover (super-resolution: the low-resolution input) "
    "and is always scored against the clean image, so its PSNR drop is the damage; generation "
    "has no input image and is not analysed. Quick mode: at most 100 test images, fewer where "
    "a task's evaluation is costly, and restoration scores 128-px centre crops of its photos "
    "(the count and size are in each run's challenges.json).",
    "bias": "per-group accuracy where the test set carries groups (colored_digits: images whose "
    "colour agrees with the label's training colour vs the rest; CelebA: a second attribute): "
    "worst-group accuracy, the gap, and fairlearn's demographic-parity and equalised-odds "
    "differences (one-vs-rest, largest over classes, for more than two classes).",
    "interpretability": "input-gradient saliency for every family, Grad-CAM (Captum) where "
    "the model has a convolution, attention rollout for ViTs and hybrids; each map scored by "
    "deletion and insertion AUC (RISE, Petsiuk et al. 2018: the target-class probability as "
    "pixels are removed to the mean, or inserted into a blurred copy, in the map's order), "
    "against a random order on the same images: a faithful map has lower deletion and higher "
    "insertion AUC than random.",
    "data_efficiency": "the same models trained on stratified, seeded shares of the training "
    "split with the model's recipe (the same epochs, so fewer optimiser steps); validation and "
    "test images unchanged; --full: 3 training seeds per share, mean and 95% t-interval. The "
    "100% point is the model's full-data run above.",
}
# The paper normalises corruption errors by AlexNet; the suite's AlexNet runs play that part.
REFERENCE_MODELS = ("alexnet", "alexnet_small", "alexnet_tiny")


def challenge_rows(records: list[dict]) -> list[dict]:
    """One row per full-data run with a challenges.json (any task), mCE against the suite's
    AlexNet on the same task and data where that run was analysed."""
    from ..analysis.robustness import errors_of, with_reference

    rows = []
    for r in records:
        c = r.get("challenges") or {}
        if r.get("train_fraction") is not None or not c:
            continue
        base = {"run": r["run"], "model": r["model"], "family": r["family"], "task": r["task"]}
        base |= {"setting": r.get("setting") or r.get("dataset"), "seed": r.get("seed")}
        if "error" in c:
            rows.append({**base, **c})
            continue
        if "corruptions" not in c:  # a challenges.json from before the contract: skip
            continue
        rows.append(_row(base, r, c))
    refs = {
        (x["task"], x["dataset"]): x
        for x in rows
        if "error" not in x and x["model"] in REFERENCE_MODELS and x.get("bounded")
    }
    for x in rows:
        ref = refs.get((x["task"], x.get("dataset")))
        if "error" in x or ref is None or not x.get("bounded"):
            continue
        e = with_reference(
            errors_of(x["table"]),
            1 - x["clean"],
            {"table": ref["table"], "clean": ref["clean"], "name": ref["model"]},
        )
        x["mce"], x["relative_mce"], x["reference"] = (
            e.get("mce"),
            e.get("relative_mce"),
            ref["model"],
        )
    return sorted(rows, key=lambda x: (x["task"], -(x.get("corrupted") or -1)))


def _row(base: dict, r: dict, c: dict) -> dict:
    from ..analysis.challenges import scored_size
    from ..analysis.robustness import worst_attack

    cor, metric = c["corruptions"], c["metric"]
    table = {k: {int(s): v for s, v in row.items()} for k, row in cor["table"].items()}
    cells = [v for row in table.values() for v in row.values() if v is not None]
    adv = c.get("adversarial") or {}
    hib = c.get("higher_is_better", True)
    curve = worst_attack(adv.get("rows", []), hib)
    strongest = curve[-1] if len(curve) > 1 else None  # the largest epsilon
    sal = c.get("saliency") or {}
    energy = (c.get("energy") or {}).get("inference") or {}
    training_energy = (c.get("energy") or {}).get("training")
    size = scored_size(c)
    return {
        **base,
        "dataset": r.get("dataset"),
        # the size the model was scored at: the quick form may evaluate crops (restoration), so
        # its clean score need not be the leaderboard's
        "scored_on": f"{r.get('dataset')}, {size}" if size else r.get("dataset"),
        "metric": metric,
        "higher_is_better": hib,
        "clean": (c.get("clean") or {}).get(metric),
        "corrupted": sum(cells) / len(cells) if cells else None,
        "table": table,
        "bounded": "errors" in cor,
        "mean_error": (cor.get("errors") or {}).get("mean_error"),
        "mce": None,
        "relative_mce": None,
        "reference": None,
        "source": cor.get("source", "generated"),
        "adversarial": adv.get("rows", []),
        "attack_curve": curve,
        "attack_eps": strongest["eps"] if strongest else None,
        "attack_score": strongest["score"] if strongest else None,
        "attack_name": strongest["attack"].upper() if strongest else None,
        "saliency": sal.get("methods") or {},
        "random": sal.get("random"),
        "groups": c.get("groups"),
        "energy": energy,
        "training_energy": training_energy,
        "images": c.get("images"),
        "form": c.get("form"),
        "picture": Path(r["run_dir"]) / sal["picture"] if sal.get("picture") else None,
    }


def challenge_sections(rows: list[dict], fig_dir: Path) -> list[dict]:
    """Per task and setting, as the leaderboards (restoration's super-resolution, denoising,
    inpainting and codec runs have their own metrics: never one curve beside another): its rows
    and figures (corruption heat map per run, epsilon curves, group bars), each written under
    fig_dir/challenges/ and kept as bytes for the HTML. A model with several seeds is named
    with its seed."""
    from ..analysis import challenge_plots as cp

    out = []
    ok = [r for r in rows if "error" not in r]
    keys = sorted({(r["task"], r["setting"]) for r in ok})
    for task, setting in keys:
        mine = [r for r in ok if (r["task"], r["setting"]) == (task, setting)]
        models = [r["model"] for r in mine]
        for r in mine:
            r["label"] = (
                r["model"] if models.count(r["model"]) == 1 else f"{r['model']} (s{r['seed']})"
            )
        title = task if sum(k[0] == task for k in keys) == 1 else f"{task} on {setting}"
        metric = mine[0]["metric"]

        figs = []
        for r in mine:
            png = cp.corruption_heatmap_png(
                r["table"], r["metric"], f"{r['label']}: {r['metric']} under corruption", r["clean"]
            )
            name = r["run"].split("/")[-1]
            figs.append(_save(fig_dir, f"{task}-{name}-corruptions.png", png, r["label"]))
        series = {r["label"]: [(x["eps"], x["score"]) for x in r["attack_curve"]] for r in mine}
        if any(len(v) > 1 for v in series.values()):
            png = cp.epsilon_models_png(
                series, metric, f"{title}: {metric} against epsilon, worst of FGSM and PGD"
            )
            figs.append(_save(fig_dir, f"{task}-{setting}-epsilon.png", png, "epsilon curves"))
        groups = {
            r["label"]: {g: v["accuracy"] for g, v in r["groups"]["groups"].items()}
            for r in mine
            if r.get("groups")
        }
        if groups:
            png = cp.group_bars_png(groups, f"{title}: accuracy per group")
            figs.append(_save(fig_dir, f"{task}-{setting}-groups.png", png, "groups"))
        out.append({"task": title, "metric": metric, "rows": mine, "figures": figs})
    return out


def _save(fig_dir: Path, name: str, png: bytes, alt: str) -> dict:
    d = fig_dir / "challenges"
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(png)
    return {"alt": alt, "png": png, "path": f"figures/challenges/{name}"}


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
        # a self-supervised phase before the supervised epochs (status.json `pretraining`)
        row["pretraining"] = next(
            (r["pretraining"] for rs in runs[model].values() for r in rs if r.get("pretraining")),
            None,
        )
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
        "budget_stop": bool(r.get("cut")),
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
    """Section 5: per task, robustness, saliency, groups and energy; then data efficiency."""
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
    for sec in ctx.get("challenge_sections") or []:
        L += section_markdown(sec)
    for r in ctx["challenges"]:
        if "error" in r:
            L.append(f"- {r['run']}: challenges failed: {r['error']}")
    if not ctx["challenges"]:
        L.append("No run with a challenges.json in this suite.")
    eff = ctx["efficiency"]
    if eff:
        shares = ctx["efficiency_shares"]
        L += [
            "",
            "Data efficiency: test accuracy by share of the training split, the mean over "
            "training seeds (training images in brackets, then the 95% t-interval's half width "
            "where there are several seeds; * cut by the time cap, not comparable):",
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
        said = efficiency_statement(eff)
        if said:
            L += ["", said]
        if ctx.get("efficiency_png"):
            L.append("\n![data efficiency](figures/data-efficiency.png)")
    return L


def efficiency_statement(rows: list[dict]) -> str:
    """What was measured at the smallest and the largest share, in words, ordered by value: the
    review says ViTs need more data than CNNs (a finding of large-scale pre-training); this
    states what these runs show, not a ranking the review makes."""
    shares = sorted({f for r in rows for f in r["points"]})
    if len(shares) < 2:
        return ""

    def at(f: float) -> str:
        vals = [
            (r["points"][f]["accuracy"], r["model"])
            for r in rows
            if f in r["points"] and r["points"][f]["accuracy"] is not None
        ]
        return ", ".join(f"{m} {fmt(v)}" for v, m in sorted(vals, reverse=True))

    lo, hi = shares[0], shares[-1]
    pre = "".join(
        f" Before its share's labels, {r['model']} was pre-trained without labels "
        f"({r['pretraining'].get('epochs')} epochs on all {r['pretraining'].get('images')} "
        "training images, the same at every share)."
        for r in rows
        if r.get("pretraining")
    )
    return (
        f"Measured here: with {lo:.0%} of the training split, {at(lo)}; with {hi:.0%}, {at(hi)} "
        "(the review's 'ViTs are data hungry' refers to large-scale pre-training; these are "
        "small models on a small set)." + pre
    )


def _sal_cell(r: dict) -> str:
    if not r["saliency"]:
        return "–"
    rnd = r["random"] or {}
    parts = [
        f"{m}: {fmt(v['deletion_auc'], 3)}/{fmt(v['insertion_auc'], 3)}"
        + ("" if v["beats_random"] else " (not > random)")
        for m, v in r["saliency"].items()
    ]
    return (
        "; ".join(parts)
        + f"; random {fmt(rnd.get('deletion_auc'), 3)}/"
        + fmt(rnd.get("insertion_auc"), 3)
    )


def _energy_cell(e: dict) -> str:
    if not e:
        return "–"
    return f"{fmt(e.get('joules_per_image'), 3)} ({e.get('kind')})"


def _training_cell(e: dict | None) -> str:
    if not e:
        return "–"
    return f"{fmt(e.get('joules'), 3)} J ({e.get('kind')})"


def section_markdown(sec: dict) -> list[str]:
    m = sec["metric"]
    L = [
        f"### {sec['task']}",
        "",
        f"| model | scored on | family | clean {m} | mean corrupted {m} | mean error | mCE / rel. mCE "
        f"| worst attack L-inf (eps) | saliency deletion/insertion AUC | worst group (gap) "
        "| J/image "
        "| training energy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sec["rows"]:
        mce = (
            f"{fmt(r['mce'], 3)} / {fmt(r['relative_mce'], 3)} (vs {r['reference']})"
            if r["mce"] is not None
            else "–"
        )
        pgd = (
            f"{fmt(r['attack_score'])} ({r['attack_name']}, {r['attack_eps']:.3g})"
            if r["attack_eps"]
            else "–"
        )
        g = r.get("groups")
        grp = (
            f"{g['worst_group']} {fmt(g['worst_group_accuracy'], 3)} ({fmt(g['accuracy_gap'], 3)})"
            if g
            else "–"
        )
        L.append(
            f"| {r['label']} | {r['scored_on']} | {r['family']} | {fmt(r['clean'])} | "
            f"{fmt(r['corrupted'])} | "
            f"{fmt(r['mean_error'], 3)} | {mce} | {pgd} | {_sal_cell(r)} | {grp} | "
            f"{_energy_cell(r['energy'])} | {_training_cell(r.get('training_energy'))} |"
        )
    L.append("")
    for f in sec["figures"]:
        L.append(f"![{f['alt']}]({f['path']})")
    for r in sec["rows"]:
        if r["picture"]:
            rel = Path(r["picture"]).relative_to(Path(r["picture"]).parents[3])
            L.append(f"![saliency {r['model']}]({rel.as_posix()})")
    L.append("")
    return L
