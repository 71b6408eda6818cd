"""The suite report: results.json for tools, report.md and a self-contained report.html for people.

Every number comes from the run folders (run.json, metrics.json, profile.json, status.json,
history.csv, samples/): the report measures, it never cites.
"""

from __future__ import annotations

import base64
import json
import math
import statistics
from pathlib import Path

from ..families import FAMILIES
from ..runs import RunDir

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


# records ---------------------------------------------------------------------------------------
def collect(suite_dir: Path) -> list[dict]:
    """One record per run folder under the suite: what was run, its metrics, profile and status."""
    records = []
    for status_file in sorted(Path(suite_dir).glob("*/*/status.json")):
        run = RunDir(status_file.parent)
        meta = run.read_json(run.path / "run.json")
        status = run.status()
        data = meta.get("data") or {}
        parts = run.path.name.split("__")
        config = _config(run)
        records.append(
            {
                "run_dir": str(run.path),
                "run": f"{run.path.parent.name}/{run.path.name}",
                "task": meta.get("task", run.path.parent.name),
                "model": meta.get("model", parts[0]),
                "family": meta.get("family") or _family_of(parts[0]),
                "dataset": meta.get("dataset") or (parts[1] if len(parts) > 1 else ""),
                "setting": parts[1] if len(parts) > 2 else meta.get("dataset"),
                "protocol": data.get("split"),
                "data": data,
                "seed": meta.get("seed", config.get("seed")),
                "ranking_metric": meta.get("ranking_metric"),
                "higher_is_better": meta.get("higher_is_better", True),
                "metrics": run.read_json(run.metrics),
                "profile": run.read_json(run.profile),
                "status": status.get("status"),
                "error": status.get("error"),
                "train_seconds": status.get("train_seconds"),
                "wall_seconds": status.get("wall_seconds"),
                "epochs": status.get("epochs"),
                "stopped": status.get("stopped"),
                "time_budget": config.get("time_budget"),
                "command": status.get("command"),
                "history": run.read_history(),
                "samples": sorted(str(p) for p in run.samples.glob("*.png")),
                "challenges": run.read_json(run.challenges),
                "train_fraction": config.get("train_fraction"),
            }
        )
    return records


def _config(run: RunDir) -> dict:
    import yaml

    try:
        return yaml.safe_load(run.config.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}


def _family_of(model: str) -> str | None:
    from ..models.registry import MODELS

    return MODELS.get(model).family if model in MODELS else None


def public(record: dict) -> dict:
    """The results.json form of a record (no history rows or picture paths)."""
    keys = (
        "task",
        "model",
        "family",
        "dataset",
        "setting",
        "protocol",
        "seed",
        "ranking_metric",
        "higher_is_better",
        "metrics",
        "profile",
        "status",
        "error",
        "train_seconds",
        "stopped",
        "time_budget",
        "command",
        "run",
        "train_fraction",
        "challenges",
    )
    return {k: record.get(k) for k in keys}


# statistics ------------------------------------------------------------------------------------
def mean_ci(values: list[float], level: float = 0.95) -> tuple[float, float | None]:
    """Mean and half-width of the t confidence interval over seeds (None for one value)."""
    m = statistics.fmean(values)
    if len(values) < 2:
        return m, None
    from scipy.stats import t

    half = (
        t.ppf(0.5 + level / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    )
    return m, float(half)


def wilson(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion measured on n test images."""
    if n <= 0:
        return (float("nan"), float("nan"))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def leaderboards(records: list[dict]) -> list[dict]:
    """One board per (task, setting); rows are models, aggregated over seeds, best first."""
    boards: dict[tuple, dict] = {}
    for r in records:
        if r.get("train_fraction") is not None:  # data-efficiency runs have their own table
            continue
        b = boards.setdefault(
            (r["task"], r["setting"]),
            {
                "task": r["task"],
                "setting": r["setting"],
                "metric": r["ranking_metric"],
                "higher_is_better": r["higher_is_better"],
                "groups": {},
                "failed": [],
            },
        )
        if r["status"] != "done" or b["metric"] not in r["metrics"]:
            b["failed"].append(r)
            continue
        b["groups"].setdefault(r["model"], []).append(r)
    out = []
    for b in boards.values():
        rows = []
        for model, runs in b["groups"].items():
            vals = [float(r["metrics"][b["metric"]]) for r in runs]
            mean, half = mean_ci(vals)
            row = {
                "model": model,
                "family": runs[0]["family"],
                "value": mean,
                "seeds": len(runs),
                "ci": f"± {half:.3g} (95% t, {len(runs)} seeds)" if half is not None else "",
                "runs": runs,
                "profile": runs[0]["profile"],
            }
            n_test = (runs[0]["data"].get("sizes") or {}).get("test", 0)
            if half is None and b["metric"] == "accuracy" and n_test:
                lo, hi = wilson(mean, n_test)
                row["ci"] = f"[{lo:.3f}, {hi:.3f}] (95% Wilson, n={n_test})"
            baseline = _baseline(runs[0]["metrics"], b["metric"])
            row["baseline"] = baseline
            row["also"] = _also(runs[0]["metrics"], b["task"])
            row["budget_stop"] = any(r["stopped"] == "time_budget" for r in runs)
            rows.append(row)
        sign = -1 if b["higher_is_better"] else 1
        rows.sort(key=lambda r: sign * r["value"])
        b["rows"] = rows
        out.append(b)
    return sorted(out, key=lambda b: (b["task"], b["setting"] or ""))


# Metrics a leaderboard shows beside its ranking metric, each with its baseline when the task
# stored one (`<baseline>_<metric>`): pixel accuracy alone flatters a segmenter that predicts
# background, so it is shown next to mIoU, not instead of it.
ALSO_SHOWN = {"segmentation": ("pixel_accuracy", "mean_class_accuracy")}
ALSO_SHOWN["anomaly"] = ("pixel_auroc", "f1_max", "pro")  # localisation beside detection


def _also(metrics: dict, task: str) -> str:
    parts = []
    for key in ALSO_SHOWN.get(task, ()):
        if isinstance(metrics.get(key), (int, float)):
            base = _baseline(metrics, key)
            parts.append(f"{key} {fmt(metrics[key])}" + (f" ({base})" if base else ""))
    return "; ".join(parts)


def _baseline(metrics: dict, key: str) -> str:
    """The baseline the task stored beside its metric (noisy_psnr, bicubic_psnr_y, ...)."""
    for k, v in metrics.items():
        if k != key and k.endswith("_" + key) and isinstance(v, (int, float)):
            return f"{k} = {v:.4g}"
    return ""


def family_rows(boards: list[dict]) -> list[dict]:
    """Table 1: each family's claims beside its best measured result per task."""
    rows = []
    for fam in FAMILIES:
        best = []
        for b in boards:
            mine = [r for r in b["rows"] if r["family"] == fam.key]
            if mine:
                best.append((b, mine[0]))
        unfinished = [
            f"{r['run']} ({r['status']})"
            for b in boards
            for r in b["failed"]
            if r["family"] == fam.key
        ]
        rows.append({"family": fam, "best": best, "unfinished": unfinished})
    return rows


# figures ---------------------------------------------------------------------------------------
def figures(boards: list[dict], fig_dir: Path) -> dict[str, list[tuple[str, bytes]]]:
    """Per board: Pareto plots (quality vs latency, vs params) and training curves, as PNG bytes."""
    from ..analysis.report_plots import curves_png, pareto_png

    fig_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[tuple[str, bytes]]] = {}
    for b in boards:
        key = f"{b['task']}-{b['setting']}"
        figs = []
        prof = [r for r in b["rows"] if r["profile"].get("latency_ms")]
        if len(prof) >= 2:  # a frontier of one point says nothing
            for cost, label, unit in (
                (lambda p: p["latency_ms"]["median"], "latency", "CPU latency, batch 1 (ms)"),
                (lambda p: p["params"] / 1e6, "params", "parameters (millions)"),
            ):
                png = pareto_png(
                    [r["model"] for r in prof],
                    [cost(r["profile"]) for r in prof],
                    [r["value"] for r in prof],
                    xlabel=unit,
                    ylabel=b["metric"],
                    higher_is_better=b["higher_is_better"],
                    title=f"{b['task']} on {b['setting']}: {b['metric']} vs {label}",
                )
                figs.append((f"pareto-{label}", png))
        series = {}
        loss = {}
        for r in b["rows"]:
            h = r["runs"][0]["history"]
            series[r["model"]] = [(row["epoch"], row.get(f"val_{b['metric']}")) for row in h]
            loss[r["model"]] = [(row["epoch"], row.get("train_loss")) for row in h]
        if any(series.values()):
            figs.append(
                (
                    "curves-val",
                    curves_png(series, f"validation {b['metric']}", f"{key}: validation curve"),
                )
            )
            figs.append(("curves-loss", curves_png(loss, "training loss", f"{key}: training loss")))
        for name, png in figs:
            (fig_dir / f"{key}-{name}.png").write_bytes(png)
        out[key] = figs
    return out


def b64(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


# challenges ------------------------------------------------------------------------------------
def challenge_rows(records: list[dict]) -> list[dict]:
    """One row per full-data classification run with a challenges.json, best robustness first."""
    rows = []
    for r in records:
        c = r.get("challenges") or {}
        if r["task"] != "classification" or r.get("train_fraction") is not None or not c:
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
    """Test accuracy per training-set share for every model that has fraction runs."""
    by_model: dict[str, dict] = {}
    for r in records:
        if (
            r["task"] != "classification"
            or r["status"] != "done"
            or r.get("train_fraction") is None
        ):
            continue
        row = by_model.setdefault(
            r["model"], {"model": r["model"], "family": r["family"], "points": {}}
        )
        row["points"][float(r["train_fraction"])] = _point(r)
    for r in records:  # the model's full-data run is its 100% point
        full = r["task"] == "classification" and r.get("train_fraction") is None
        if (
            full
            and r["model"] in by_model
            and r["status"] == "done"
            and r["setting"] == r["dataset"]
        ):
            by_model[r["model"]]["points"].setdefault(1.0, _point(r))
    for row in by_model.values():
        row["points"] = dict(sorted(row["points"].items()))

    def smallest_share(row: dict) -> float:  # the most data-efficient model first
        return -(next(iter(row["points"].values()))["accuracy"] or 0.0)

    return sorted(by_model.values(), key=smallest_share)


def _point(r: dict) -> dict:
    return {
        "accuracy": r["metrics"].get("accuracy"),
        "train_images": (r["data"].get("sizes") or {}).get("train"),
        "budget_stop": r["stopped"] == "time_budget",
        "epochs": r["epochs"],
    }


def efficiency_figure(rows: list[dict], fig_dir: Path) -> bytes | None:
    from ..analysis.report_plots import fraction_png

    series = {
        r["model"]: [
            (f, p["accuracy"]) for f, p in r["points"].items() if p["accuracy"] is not None
        ]
        for r in rows
    }
    if not any(len(v) >= 2 for v in series.values()):
        return None
    png = fraction_png(
        series, "test accuracy", "data efficiency on digits: accuracy vs training share"
    )
    fig_dir.mkdir(parents=True, exist_ok=True)
    (fig_dir / "data-efficiency.png").write_bytes(png)
    return png


# writing ---------------------------------------------------------------------------------------
def fmt(v, digits: int = 4) -> str:
    if v is None or not isinstance(v, (int, float, str)):  # None, or jinja2's Undefined
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if abs(v) >= 10**digits:  # 3860.2 reads better as 3,860 than as 3.86e+03
            return f"{v:,.0f}"
        return f"{v:.{digits}g}"
    return str(v)


def context(suite_dir: Path, records: list[dict]) -> dict:
    """Everything the templates need, computed once."""
    from ..data.registry import DATASETS

    meta = _read(suite_dir / "suite.json")
    boards = leaderboards(records)
    datasets: dict[str, dict] = {}
    for r in records:
        d = r["data"]
        if not d:
            continue
        entry = datasets.setdefault(
            d["name"],
            {
                "name": d["name"],
                "tasks": set(),
                "sizes": d.get("sizes", {}),
                "split": d.get("split", ""),
                "shape": f"{d.get('in_chans')}×{d.get('img_size')}²",
                "classes": d.get("num_classes") or "–",
                "description": "",
                "license": "",
            },
        )
        entry["tasks"].add(r["task"])
        if d["name"] in DATASETS:
            spec = DATASETS.get(d["name"])
            entry["description"], entry["license"] = spec.description, spec.license
    for d in datasets.values():
        d["tasks"] = ", ".join(sorted(d["tasks"]))
    best_cls = next((b for b in boards if b["task"] == "classification" and b["rows"]), None)
    confusion = None
    if best_cls:
        top = best_cls["rows"][0]["runs"][0]
        cm = Path(top["run_dir"]) / "samples" / "confusion_matrix.png"
        confusion = {"run": top["run"], "path": cm} if cm.exists() else None
    compute = sorted(
        (r for r in records if r["profile"].get("latency_ms")),
        key=lambda r: r["profile"]["latency_ms"]["median"],
    )
    return {
        "meta": meta,
        "records": records,
        "boards": boards,
        "families": family_rows(boards),
        "datasets": sorted(datasets.values(), key=lambda d: d["name"]),
        "confusion": confusion,
        "compute": compute,
        "failed": [r for r in records if r["status"] != "done"],
        "challenge_note": CHALLENGE_NOTE,
        "challenge_how": CHALLENGE_HOW,
        "challenges": challenge_rows(records),
        "efficiency": efficiency_rows(records),
        "efficiency_shares": sorted({f for r in efficiency_rows(records) for f in r["points"]}),
        "fmt": fmt,
    }


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def write_report(suite_dir: Path, suite=None, quick: bool = True) -> Path:
    """Write results.json, report.md and report.html into the suite folder; returns the HTML."""
    suite_dir = Path(suite_dir)
    records = collect(suite_dir)
    (suite_dir / "results.json").write_text(
        json.dumps([public(r) for r in records], indent=2, default=str) + "\n"
    )
    ctx = context(suite_dir, records)
    figs = figures(ctx["boards"], suite_dir / "figures")
    ctx["efficiency_png"] = efficiency_figure(ctx["efficiency"], suite_dir / "figures")
    (suite_dir / "report.md").write_text(markdown(ctx, figs))
    html = render_html(ctx, figs)
    path = suite_dir / "report.html"
    path.write_text(html)
    return path


def render_html(ctx: dict, figs: dict) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("visionbench.bench", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["b64"] = b64
    env.filters["fmt"] = fmt
    env.filters["file_b64"] = lambda p: b64(Path(p).read_bytes())
    env.filters["mb"] = lambda n: f"{n / 1e6:.3g} M" if isinstance(n, (int, float)) else "–"
    env.filters["gf"] = lambda n: _gflops(n)
    return env.get_template("report.html.j2").render(**ctx, figs=figs)


def _gflops(n) -> str:
    if not isinstance(n, (int, float)):
        return "–"
    return f"{n / 1e9:.3g} G" if n >= 1e8 else f"{n / 1e6:.3g} M"


def _measured(b: dict, row: dict) -> str:
    p = row["profile"]
    lat = p.get("latency_ms", {}).get("median")
    tput = p.get("throughput", {}).get("images_per_s")
    return (
        f"{b['task']} ({b['setting']}): {row['model']} {b['metric']} {fmt(row['value'])}; "
        f"{_params(p)} params, {_gflops(p.get('flops'))}FLOPs, "
        f"{fmt(lat, 3)} ms, {fmt(tput, 3)} img/s"
    )


def _params(p: dict) -> str:
    return f"{p['params'] / 1e6:.3g} M" if p.get("params") is not None else "–"


def markdown(ctx: dict, figs: dict) -> str:
    meta = ctx["meta"]
    env = meta.get("environment", {})
    L = [
        f"# visionbench report: suite `{meta.get('suite', '')}`",
        "",
        f"{meta.get('description', '')}. Command: `{meta.get('command', '')}` "
        f"({meta.get('mode', '')} mode, device {meta.get('device', '')}). Machine: "
        f"{env.get('processor')}, {env.get('cpu_count')} CPUs, {meta.get('threads') or env.get('threads')} torch threads, "
        f"torch {env.get('torch')}. Latency is CPU batch-1 median unless the device says otherwise.",
        "",
        "## 1. Table 1 of the review: families, claims and measurements",
        "",
        "| family | review: characteristics | review: strengths | review: limitations | measured (best per task) |",
        "|---|---|---|---|---|",
    ]
    for row in ctx["families"]:
        f = row["family"]
        measured = "<br>".join(_measured(b, r) for b, r in row["best"]) or (
            "no finished run: " + ", ".join(row["unfinished"])
            if row["unfinished"]
            else "no runs yet"
        )
        L.append(
            f"| {f.name} | {f.characteristics} | {f.strengths} | {f.limitations} | {measured} |"
        )
    L += [
        "",
        "## 2. Table 2 of the review: datasets used",
        "",
        "| dataset | tasks | train | val | test | shape | classes | split |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for d in ctx["datasets"]:
        s = d["sizes"]
        L.append(
            f"| {d['name']} | {d['tasks']} | {s.get('train', '–')} | {s.get('val', '–')} | "
            f"{s.get('test', '–')} | {d['shape']} | {d['classes']} | {d['split']} |"
        )
    L += ["", "## 3. Leaderboards"]
    for b in ctx["boards"]:
        key = f"{b['task']}-{b['setting']}"
        arrow = "higher is better" if b["higher_is_better"] else "lower is better"
        L += [
            "",
            f"### {b['task']} on {b['setting']} (ranked by {b['metric']}, {arrow})",
            "",
            f"| # | model | family | {b['metric']} | interval | baseline | params | FLOPs | latency ms | note |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(b["rows"], 1):
            p = r["profile"]
            also = f"<br>{r['also']}" if r.get("also") else ""
            L.append(
                f"| {i} | {r['model']} | {r['family']} | {fmt(r['value'])} | {r['ci']} | "
                f"{r['baseline']}{also} | {_params(p)} | {_gflops(p.get('flops'))} | "
                f"{fmt(p.get('latency_ms', {}).get('median'), 3)} | "
                f"{'stopped by time budget' if r['budget_stop'] else ''} |"
            )
        for r in b["failed"]:
            L.append(f"| – | {r['model']} | {r['family']} | failed | {r['error']} | | | | | |")
        for name, _ in figs.get(key, []):
            L.append(f"\n![{name}](figures/{key}-{name}.png)")
    L += [
        "",
        "## 4. Compute (the review's compute challenge, measured)",
        "",
        ctx["challenge_note"],
        "",
        "| run | params | FLOPs/image | weights MiB | latency median ms | p90 ms | images/s (batch) | peak memory MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ctx["compute"]:
        p = r["profile"]
        L.append(
            f"| {r['run']} | {_params(p)} | {_gflops(p.get('flops'))} | {fmt(p.get('weights_mb'), 3)} | "
            f"{fmt(p['latency_ms']['median'], 3)} | {fmt(p['latency_ms']['p90'], 3)} | "
            f"{fmt(p['throughput']['images_per_s'], 4)} ({p['throughput']['batch']}) | "
            f"{fmt(p.get('peak_memory_mb'), 3)} |"
        )
    L += challenges_markdown(ctx)
    L += ["", "## 6. How every number was produced", ""]
    L += [
        "| run | seed | status | epochs | train s | budget s | stopped | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ctx["records"]:
        L.append(
            f"| {r['run']} | {r['seed']} | {r['status']} | {fmt(r['epochs'])} | "
            f"{fmt(r['train_seconds'], 3)} | {fmt(r['time_budget'])} | {r['stopped'] or ''} | "
            f"`{r['command'] or ''}` |"
        )
    if meta.get("notes"):
        L += ["", "Not run yet:", ""] + [f"- {n}" for n in meta["notes"]]
    return "\n".join(L) + "\n"


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
            "Data efficiency: test accuracy by share of the training split "
            "(training images in brackets; * stopped by its time budget):",
            "",
            "| model | family | " + " | ".join(f"{f:.0%}" for f in shares) + " |",
            "|---" * (len(shares) + 2) + "|",
        ]
        for r in eff:
            cells = []
            for f in shares:
                p = r["points"].get(f)
                cells.append(
                    f"{fmt(p['accuracy'])} ({p['train_images']}){'*' if p['budget_stop'] else ''}"
                    if p
                    else "–"
                )
            L.append(f"| {r['model']} | {r['family']} | " + " | ".join(cells) + " |")
        if ctx.get("efficiency_png"):
            L.append("\n![data efficiency](figures/data-efficiency.png)")
    return L
