"""The suite report: results.json for tools, report.md and a self-contained report.html for people.

Every number comes from the run folders (run.json, metrics.json, profile.json, status.json,
history.csv, samples/): the report measures, it never cites.
"""

from __future__ import annotations

import base64
import math
import statistics
from pathlib import Path

from ..errors import VisionbenchError
from ..families import FAMILIES
from ..files import read_json_dict, write_json
from ..runs import RunDir, read_record, run_folders
from .report_challenges import (
    CHALLENGE_HOW,
    CHALLENGE_NOTE,
    challenge_rows,
    challenge_sections,
    challenges_markdown,
    efficiency_figure,
    efficiency_rows,
    efficiency_statement,
)
from .report_interactive import board_dataset, board_id, interactive_data
from .report_review import (
    TABLE1_NOTE,
    TABLE2_NOTE,
    our_notes,
    table1_markdown,
    table2_markdown,
    table2_rows,
)
from .text import fmt


# records ---------------------------------------------------------------------------------------
def collect(suite_dir: Path) -> list[dict]:
    """One record per run folder under the suite: what was run, its metrics, profile and status.

    Each comes from the run's own record (runs.read_record), never from its folder name; a run
    whose files are damaged is shown as failed with the reason."""
    records = []
    for folder in run_folders(suite_dir, "*/*/status.json"):
        run = RunDir(folder)
        try:
            r = read_record(folder)
        except VisionbenchError as e:
            r = None
            error = str(e)
        base = {
            "run_dir": str(run.path),
            "run": f"{run.path.parent.name}/{run.path.name}",
            "history": [],
            "samples": [],
        }
        if r is None:
            records.append(
                base
                | {
                    "status": "failed",
                    "error": error,
                    "metrics": {},
                    "profile": {},
                    "challenges": {},
                    "data": {},
                    "higher_is_better": True,
                    "also_shown": [],
                    "baselines": {},
                    "task": run.path.parent.name,
                }
            )
            continue
        config, status = r.config, r.status
        records.append(
            base
            | {
                "task": r.task,
                "model": r.model,
                "family": r.family or _family_of(r.model),
                "dataset": r.dataset,
                "setting": r.setting,
                "protocol": r.data.get("split"),
                "data": r.data,
                "seed": r.seed,
                "ranking_metric": r.ranking_metric,
                "higher_is_better": r.higher_is_better,
                "also_shown": r.meta.get("also_shown", []),
                "baselines": r.meta.get("baselines", {}),
                "metrics": r.metrics,
                "profile": r.profile,
                "status": status.get("status"),
                "error": status.get("error"),
                "train_seconds": status.get("train_seconds"),
                "wall_seconds": status.get("wall_seconds"),
                "epochs": status.get("epochs"),
                **work_fields(status),
                "pretraining": pretraining_summary(status),
                "stopped": status.get("stopped"),
                "time_budget": config.get("time_budget"),
                "command": status.get("command"),
                "history": run.read_history(),
                "samples": sorted(str(p) for p in run.samples.glob("*.png")),
                "challenges": r.challenges,
                "train_fraction": config.get("train_fraction"),
            }
        )
    return records


# The work a run did and where its time went (status.json): work is what makes two runs
# comparable, seconds only describe the machine.
WORK_KEYS = ("steps", "train_samples", "train_flops", "train_flops_per_sample")
PHASE_KEYS = ("evaluation_seconds", "profiling_seconds", "challenges_seconds")


def work_fields(status: dict) -> dict:
    out = {k: status.get(k) for k in (*WORK_KEYS, *PHASE_KEYS)}
    pre = status.get("pretraining")
    pre_cut = isinstance(pre, dict) and pre.get("stopped") == "time_budget"
    # by the wall-clock safety net, in the supervised epochs or a pre-training phase before them
    out["cut"] = status.get("stopped") == "time_budget" or pre_cut
    return out


def pretraining_summary(status: dict) -> dict | None:
    """A self-supervised phase before the supervised epochs (status.json `pretraining`, a masked
    autoencoder's), without its per-epoch history; None for a run without one."""
    pre = status.get("pretraining")
    if not isinstance(pre, dict):
        return None
    return {k: v for k, v in pre.items() if k != "history"}


def work_text(r: dict) -> str:
    """'30 ep · 1.2k steps · 38k samples · 0.17 TFLOP': a leaderboard row's training work; a
    pre-training phase is added after a '+' (its epochs, on how many unlabelled images)."""
    parts = [f"{r['epochs']} ep"] if r.get("epochs") is not None else []
    for key, unit in (("steps", "steps"), ("train_samples", "samples")):
        if r.get(key) is not None:
            parts.append(f"{_count(r[key])} {unit}")
    if r.get("train_flops"):
        parts.append(f"{r['train_flops'] / 1e12:.3g} TFLOP")
    text = " · ".join(parts) or "–"
    pre = r.get("pretraining")
    if pre:
        extra = f"{pre.get('epochs')} ep pre-training on {_count(pre.get('images') or 0)} images"
        if pre.get("train_flops"):
            extra += f" · {pre['train_flops'] / 1e12:.3g} TFLOP"
        text += f" + {extra}"
    return text


def _count(n: float) -> str:
    return f"{n / 1e6:.3g}M" if n >= 1e6 else f"{n / 1e3:.3g}k" if n >= 1e4 else f"{n:g}"


CUT_NOTE = "cut by the time cap: not comparable, not ranked"


def _family_of(model: str | None) -> str | None:
    from ..models.registry import MODELS

    return MODELS.get(model).family if model and model in MODELS else None


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
        "wall_seconds",
        "epochs",
        *WORK_KEYS,
        *PHASE_KEYS,
        "stopped",
        "cut",
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
                "cut": [],
            },
        )
        if r["status"] != "done" or b["metric"] not in r["metrics"]:
            b["failed"].append(r)
            continue
        if r.get("cut"):  # stopped by the safety net: shown apart, never ranked
            b["cut"].append(r)
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
            baseline = _baseline(runs[0], b["metric"])
            row["baseline"] = baseline
            row["also"] = _also(runs[0])
            row["work"] = work_text(runs[0])
            rows.append(row)
        sign = -1 if b["higher_is_better"] else 1
        rows.sort(key=lambda r: sign * r["value"])
        b["rows"] = rows
        out.append(b)
    return sorted(out, key=lambda b: (b["task"], b["setting"] or ""))


def _also(record: dict) -> str:
    """The metrics the run's task shows beside its ranking metric (run.json's `also_shown`),
    each with its baseline: pixel accuracy alone flatters a segmenter that predicts background,
    so it is shown next to mIoU, not instead of it."""
    metrics, parts = record["metrics"], []
    for key in record.get("also_shown", ()):
        if isinstance(metrics.get(key), (int, float)):
            base = _baseline(record, key)
            parts.append(f"{key} {fmt(metrics[key])}" + (f" ({base})" if base else ""))
    return "; ".join(parts)


def _baseline(record: dict, key: str) -> str:
    """The baseline the task measured beside `key` (run.json's `baselines`: noisy_psnr,
    bicubic_psnr_y, ...); runs written before that record fall back to the `<name>_<key>` form."""
    metrics = record["metrics"]
    if record.get("baselines"):
        candidates = [record["baselines"].get(key)]
    else:
        candidates = [k for k in metrics if k != key and k.endswith("_" + key)]
    for k in candidates:
        if isinstance(metrics.get(k), (int, float)):
            return f"{k} = {metrics[k]:.4g}"
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


def dataset_rows(records: list[dict]) -> dict[str, dict]:
    """The report's "datasets the runs read": one row per dataset name, its sizes, split, shape,
    the tasks that read it, and the registry's description and licence."""
    from ..data.registry import DATASETS

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
        # the registry's name: a reader's own may add a part ("textures/brick" is "textures")
        reg = next((n for n in (d["name"], d["name"].split("/")[0]) if n in DATASETS), None)
        if reg is not None:
            spec = DATASETS.get(reg)
            entry["description"], entry["license"] = spec.description, spec.license
    for d in datasets.values():
        d["tasks"] = ", ".join(sorted(d["tasks"]))
    return datasets


def confusion_of_best(boards: list[dict]) -> dict | None:
    """{"run", "path"} of the confusion matrix the report shows: the best run's, on the
    leaderboard comparing the most models (the suite's main comparison; the bias probe's
    colored_digits board, two models, sorts first by name and showed a 0.71 LeNet-5)."""
    for b in sorted(boards, key=lambda b: -len(b["rows"])):
        top = b["rows"][0]["runs"][0] if b["rows"] else None
        cm = Path(top["run_dir"]) / "samples" / "confusion_matrix.png" if top else None
        if cm is not None and cm.exists():
            return {"run": top["run"], "path": cm}
    return None


# writing ---------------------------------------------------------------------------------------
def context(suite_dir: Path, records: list[dict]) -> dict:
    """Everything the templates need, computed once."""
    meta = _read(suite_dir / "suite.json")
    boards = leaderboards(records)
    datasets = dataset_rows(records)
    confusion = confusion_of_best(boards)
    compute = sorted(
        (r for r in records if r["profile"].get("latency_ms")),
        key=lambda r: r["profile"]["latency_ms"]["median"],
    )
    return {
        "meta": meta,
        "cpu": cpu_text(meta.get("environment") or {}),
        "records": records,
        "boards": boards,
        "families": family_rows(boards),
        "datasets": sorted(datasets.values(), key=lambda d: d["name"]),
        "review_datasets": meta.get("review_datasets", []),  # standard suite: found or skipped
        "data_root": meta.get("data_root"),
        "table2": table2_rows(records),
        "interactive": interactive_data(boards, FAMILIES),
        "board_id": board_id,
        "board_dataset": board_dataset,
        "table1_note": TABLE1_NOTE,
        "table2_note": TABLE2_NOTE,
        "our_notes": our_notes,
        "confusion": confusion,
        "compute": compute,
        "failed": [r for r in records if r["status"] != "done"],
        "challenge_note": CHALLENGE_NOTE,
        "challenge_how": CHALLENGE_HOW,
        "challenges": challenge_rows(records),
        "efficiency": efficiency_rows(records),
        "efficiency_shares": sorted({f for r in efficiency_rows(records) for f in r["points"]}),
        "fmt": fmt,
        "cut_note": CUT_NOTE,
    }


def phases_markdown(phases: dict | None) -> list[str]:
    """Where the suite's time went (suite.json `phases`, written by the runner)."""
    if not phases:
        return []
    rows = [k for k in ("training", "evaluation", "profiling", "challenges", "report", "other")]
    L = ["", "Where the suite's time went (wall seconds on this machine, not comparable):", ""]
    L += ["| phase | seconds |", "|---|---|"]
    L += [f"| {k} | {fmt(phases.get(k))} |" for k in rows if phases.get(k) is not None]
    by_task = phases.get("evaluation_by_task") or {}
    if by_task:
        L.append(
            "| evaluation by task (generation: sampling and FID) | "
            + ", ".join(f"{k} {fmt(v)}" for k, v in by_task.items())
            + " |"
        )
    return L


def _read(path: Path) -> dict:
    try:
        return read_json_dict(path)
    except VisionbenchError:
        return {}


def write_report(suite_dir: Path) -> Path:
    """Write results.json, report.md and report.html into the suite folder; returns the HTML."""
    suite_dir = Path(suite_dir)
    records = collect(suite_dir)
    write_json(suite_dir / "results.json", [public(r) for r in records], sort_keys=False)
    ctx = context(suite_dir, records)
    figs = figures(ctx["boards"], suite_dir / "figures")
    ctx["efficiency_png"] = efficiency_figure(ctx["efficiency"], suite_dir / "figures")
    ctx["challenge_sections"] = challenge_sections(ctx["challenges"], suite_dir / "figures")
    ctx["efficiency_statement"] = efficiency_statement(ctx["efficiency"])
    (suite_dir / "report.md").write_text(markdown(ctx, figs))
    html = render_html(ctx, figs)
    path = suite_dir / "report.html"
    path.write_text(html)
    return path


def render_html(ctx: dict, figs: dict) -> str:
    from jinja2 import Environment, PackageLoader

    env = Environment(
        loader=PackageLoader("visionbench.bench", "templates"),
        autoescape=True,  # the template is .html.j2: by-extension would miss it
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["b64"] = b64
    env.filters["fmt"] = fmt
    env.filters["file_b64"] = lambda p: b64(Path(p).read_bytes())
    env.filters["mb"] = lambda n: f"{n / 1e6:.3g} M" if isinstance(n, (int, float)) else "–"
    env.filters["gf"] = lambda n: _gflops(n)
    env.filters["work"] = work_text
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


def cpu_text(env: dict) -> str:
    """The machine line's CPU for both report formats: its name and the instruction set torch
    dispatched for, which decides the last digits of CPU metrics."""
    name = env.get("cpu_model") or env.get("processor") or "unknown CPU"
    return f"{name} ({env['cpu_capability']} kernels)" if env.get("cpu_capability") else name


def markdown(ctx: dict, figs: dict) -> str:
    meta = ctx["meta"]
    env = meta.get("environment", {})
    L = [
        f"# visionbench report: suite `{meta.get('suite', '')}`",
        "",
        f"{meta.get('description', '')}. Command: `{meta.get('command', '')}` "
        f"({meta.get('mode', '')} mode, device {meta.get('device', '')}). Machine: "
        f"{cpu_text(env)}, {env.get('cpu_count')} CPUs, "
        f"{meta.get('threads') or env.get('threads')} torch threads, "
        f"torch {env.get('torch')}. Latency is CPU batch-1 median unless the device says otherwise.",
        "",
    ]

    def measured(row: dict) -> str:
        if row["best"]:
            return "<br>".join(_measured(b, r) for b, r in row["best"])
        if row["unfinished"]:
            return "no finished run: " + ", ".join(row["unfinished"])
        return "no runs yet"

    L += table1_markdown(ctx["families"], measured)
    L += [""] + table2_markdown(ctx["table2"])
    L += [
        "",
        "All datasets the runs read (ours, from each run's run.json):",
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
    if ctx["review_datasets"]:
        L += ["", f"The review's data sets under `{ctx['data_root']}`:", ""]
        L += ["| dataset | reader | status |", "|---|---|---|"]
        L += [f"| {d['name']} | {d['format']} | {d['status']} |" for d in ctx["review_datasets"]]
    L += ["", "## 3. Leaderboards"]
    for b in ctx["boards"]:
        key = f"{b['task']}-{b['setting']}"
        arrow = "higher is better" if b["higher_is_better"] else "lower is better"
        L += [
            "",
            f"### {b['task']} on {b['setting']} (ranked by {b['metric']}, {arrow})",
            "",
            f"| # | model | family | {b['metric']} | interval | baseline | training work | params | FLOPs | latency ms |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(b["rows"], 1):
            p = r["profile"]
            also = f"<br>{r['also']}" if r.get("also") else ""
            L.append(
                f"| {i} | {r['model']} | {r['family']} | {fmt(r['value'])} | {r['ci']} | "
                f"{r['baseline']}{also} | {r['work']} | {_params(p)} | "
                f"{_gflops(p.get('flops'))} | {fmt(p.get('latency_ms', {}).get('median'), 3)} |"
            )
        for r in b["cut"]:
            value = fmt(r["metrics"].get(b["metric"]))
            L.append(
                f"| – | {r['model']} | {r['family']} | ({value}) | {CUT_NOTE} | | "
                f"{work_text(r)} | | | |"
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
        "| run | seed | status | training work | train s | cap s | stopped | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in ctx["records"]:
        L.append(
            f"| {r['run']} | {r['seed']} | {r['status']} | {work_text(r)} | "
            f"{fmt(r['train_seconds'], 3)} | {fmt(r['time_budget'])} | "
            f"{CUT_NOTE if r.get('cut') else r['stopped'] or ''} | `{r['command'] or ''}` |"
        )
    L += phases_markdown(meta.get("phases"))
    if meta.get("notes"):
        L += ["", "Not run yet:", ""] + [f"- {n}" for n in meta["notes"]]
    return "\n".join(L) + "\n"
