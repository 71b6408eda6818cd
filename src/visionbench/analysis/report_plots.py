"""Figures of the suite report: Pareto fronts and training curves, as PNG bytes for inlining."""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def pareto_front(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """Indices of points no other point beats on both cost (lower x) and quality (y)."""
    sign = 1 if higher_is_better else -1
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (x2 <= x and sign * y2 >= sign * y) and (x2 < x or sign * y2 > sign * y)
            for j, (x2, y2) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i][0])


def pareto_png(
    labels: list[str],
    cost: list[float],
    quality: list[float],
    *,
    xlabel: str,
    ylabel: str,
    higher_is_better: bool,
    title: str,
) -> bytes:
    """Quality against a cost (log axis), the Pareto frontier joined and its points ringed."""
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    pts = list(zip(cost, quality))
    front = pareto_front(pts, higher_is_better)
    ax.scatter(cost, quality, s=28, color="tab:blue", zorder=3)
    fx, fy = [cost[i] for i in front], [quality[i] for i in front]
    ax.plot(fx, fy, "--", color="tab:orange", lw=1.2, zorder=2, label="Pareto frontier")
    ax.scatter(fx, fy, s=90, facecolors="none", edgecolors="tab:orange", zorder=4)
    for x, y, name in zip(cost, quality, labels):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    if all(c > 0 for c in cost) and max(cost) / max(min(cost), 1e-12) > 20:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (higher is better)" if higher_is_better else " (lower is better)"))
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # no labelled points: no empty legend, no warning
        ax.legend(fontsize=7, loc="best")
    return png_bytes(fig)


def curves_png(series: dict[str, list[tuple[float, float]]], ylabel: str, title: str) -> bytes:
    """One line per run: (epoch, value) pairs, e.g. validation metric or training loss."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for name, xy in sorted(series.items()):
        xy = [(x, y) for x, y in xy if y is not None and not math.isnan(y)]
        if xy:
            ax.plot(*zip(*xy), marker=".", label=name)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    epochs = [x for xy in series.values() for x, _ in xy]
    if epochs and max(epochs) - min(epochs) < 3:  # a run of one or two epochs: no fractional axis
        ax.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:  # a run with no finite values draws no line
        ax.legend(fontsize=7, ncol=2)
    return png_bytes(fig)


def fraction_png(series: dict[str, list[tuple[float, float]]], ylabel: str, title: str) -> bytes:
    """One line per model: (share of the training split, value), log-scaled shares."""
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    shares = sorted({x for xy in series.values() for x, _ in xy})
    for name, xy in sorted(series.items()):
        if xy:
            ax.plot(*zip(*sorted(xy)), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xticks(shares, [f"{x:.0%}" for x in shares])
    ax.minorticks_off()
    ax.set_xlabel("share of the training split")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    return png_bytes(fig)
