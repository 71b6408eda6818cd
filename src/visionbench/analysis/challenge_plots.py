"""Figures of the challenges, as PNG bytes: corruption x severity heat map, epsilon curves,
saliency grids, learning curves with intervals, per-group accuracy."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from .report_plots import png_bytes as _png  # noqa: E402  (one PNG writer for the report)


def corruption_heatmap_png(
    table: Mapping[str, Mapping[int, float]], metric: str, title: str, clean: float | None = None
) -> bytes:
    """Rows: corruptions; columns: severities 1..5; cell: the metric, written in the cell."""
    names = list(table)
    sev = sorted({s for row in table.values() for s in row})
    grid = np.array([[table[n].get(s, np.nan) for s in sev] for n in names], dtype=float)
    fig, ax = plt.subplots(figsize=(1.6 + 0.7 * len(sev), 0.8 + 0.3 * len(names)))
    finite = grid[np.isfinite(grid)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    im = ax.imshow(grid, cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1e-6, aspect="auto")
    for i in range(len(names)):
        for j in range(len(sev)):
            v = grid[i, j]
            if np.isfinite(v):
                dark = v < lo + 0.5 * (hi - lo)
                ax.text(
                    j,
                    i,
                    f"{v:.3g}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if dark else "black",
                )
    ax.set_xticks(range(len(sev)), [str(s) for s in sev])
    ax.set_yticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=7)
    ax.set_xlabel("severity")
    fig.colorbar(im, ax=ax, label=metric, fraction=0.04)
    ax.set_title(title + (f" (clean {clean:.3g})" if clean is not None else ""), fontsize=9)
    return _png(fig)


def epsilon_png(rows: Sequence[Mapping], metric: str, title: str) -> bytes:
    """The metric against epsilon, one line per (attack, norm); eps 0 is the clean score."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    keys = sorted({(r["attack"], r["norm"]) for r in rows})
    for attack, norm in keys:
        pts = sorted(
            (r["eps"], r["score"]) for r in rows if (r["attack"], r["norm"]) == (attack, norm)
        )
        pts = [(x, y) for x, y in pts if y is not None and math.isfinite(y)]
        if pts:
            ax.plot(*zip(*pts), marker="o", label=f"{attack.upper()} {norm}")
    ax.set_xlabel("epsilon (pixel values in [0,1])")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return _png(fig)


def _show(ax, img: torch.Tensor) -> None:
    img = img.detach().float().clamp(0, 1).cpu()
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img[:3].permute(1, 2, 0).numpy())


def saliency_grid_png(
    images: torch.Tensor,
    maps: Mapping[str, torch.Tensor],
    labels: Sequence[str],
    title: str,
    scores: Mapping[str, str] | None = None,
) -> bytes:
    """First row the images, then one row per method: its map over the greyed image (hot: more
    support for the class). `scores` adds a line per method (e.g. deletion / insertion AUC)."""
    n = images.shape[0]
    rows = 1 + len(maps)
    fig, axes = plt.subplots(rows, n, figsize=(1.2 * n + 1.4, 1.25 * rows + 0.5), squeeze=False)
    for j in range(n):
        _show(axes[0, j], images[j])
        axes[0, j].set_title(labels[j], fontsize=7)
    for i, (method, m) in enumerate(maps.items(), 1):
        for j in range(n):
            s = m[j].detach().float().cpu().numpy()
            span = float(s.max() - s.min())
            flat = span <= 1e-4 * max(float(np.abs(s).max()), 1e-12) or span < 1e-8
            gray = images[j].float().mean(0).cpu().numpy()
            axes[i, j].imshow(gray, cmap="gray", vmin=0, vmax=1)
            if not flat:  # a flat map (Grad-CAM all zero after its ReLU) draws no overlay
                axes[i, j].imshow((s - s.min()) / span, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
        label = method + (f"\n{scores[method]}" if scores and method in scores else "")
        axes[i, 0].set_ylabel(label, fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=7)
    fig.suptitle(title, fontsize=8)
    return _png(fig)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student-t interval of the mean; a single value has no width."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(v.mean())
    if v.size == 1:
        return (mean, mean, mean)
    from scipy.stats import t

    half = float(t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return (mean, mean - half, mean + half)


def learning_curve_png(
    series: Mapping[str, Mapping[float, Sequence[float]]], metric: str, title: str
) -> bytes:
    """One line per model: mean over seeds at each training share, a shaded 95% t-interval."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    shares = sorted({f for pts in series.values() for f in pts})
    for name, pts in sorted(series.items()):
        xs = sorted(pts)
        stats = [t_interval(pts[x]) for x in xs]
        ok = [(x, s) for x, s in zip(xs, stats) if math.isfinite(s[0])]
        if not ok:
            continue
        x, s = zip(*ok)
        line = ax.plot(x, [m for m, _, _ in s], marker="o", label=name)[0]
        ax.fill_between(
            x, [lo for _, lo, _ in s], [hi for _, _, hi in s], alpha=0.15, color=line.get_color()
        )
    ax.set_xscale("log")
    if shares:
        ax.set_xticks(shares, [f"{x:.0%}" for x in shares])
    ax.minorticks_off()
    ax.set_xlabel("share of the training split")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return _png(fig)


def group_bars_png(groups: Mapping[str, Mapping[str, float]], title: str) -> bytes:
    """Accuracy per group, one bar group per model: {model: {group: accuracy}}."""
    models = list(groups)
    names = sorted({g for v in groups.values() for g in v})
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(models) * max(1, len(names)) / 2, 3.0))
    width = 0.8 / max(1, len(names))
    for k, g in enumerate(names):
        xs = [i + k * width for i in range(len(models))]
        ax.bar(xs, [groups[m].get(g, np.nan) for m in models], width, label=g)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(models))], models, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    if names:
        ax.legend(fontsize=7)
    return _png(fig)


def epsilon_models_png(
    series: Mapping[str, Sequence[tuple[float, float]]], metric: str, title: str
) -> bytes:
    """One line per model: the metric against epsilon (eps 0 is the clean score)."""
    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for name, pts in sorted(series.items()):
        pts = sorted((x, y) for x, y in pts if y is not None and math.isfinite(y))
        if pts:
            ax.plot(*zip(*pts), marker="o", label=name)
    ax.set_xlabel("epsilon (L-inf, pixel values in [0,1])")
    ax.set_ylabel(metric)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return _png(fig)
