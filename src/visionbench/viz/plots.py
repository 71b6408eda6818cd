"""Pictures a reader would rather look at than read: confusion matrices, galleries, curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _show(ax, img: torch.Tensor) -> None:
    img = img.detach().float().clamp(0, 1).cpu()
    if img.shape[0] == 1:
        ax.imshow(img[0].numpy(), cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(img.permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])


# Up to this many classes every cell shows its count and every class is named; above it (Tiny
# ImageNet's 200, ImageNet's 1,000) the figure keeps a fixed size: drawn at 0.45 inch a class, a
# 200-class matrix was a 10,000-pixel square with 40,000 labels, 1.5 GB and a minute to render.
ANNOTATED_CLASSES = 30
MAX_NAMED = 25


def confusion_matrix_png(cm: torch.Tensor, names: list[str], path: Path) -> Path:
    """Counts per (true, predicted) class; above ANNOTATED_CLASSES, each row divided by its
    class's test images (recall on the diagonal) and every n-th class named."""
    k = cm.shape[0]
    small = k <= ANNOTATED_CLASSES
    side = 1.0 + 0.45 * k if small else 12.0
    fig, ax = plt.subplots(figsize=(side + 0.2, side))
    shown = cm if small else cm.float() / cm.sum(1, keepdim=True).clamp(min=1)
    ax.imshow(shown.numpy(), cmap="Blues", interpolation="nearest")
    if small:
        for i in range(k):
            for j in range(k):
                v = int(cm[i, j])
                if v:
                    color = "white" if v > cm.max() / 2 else "black"
                    ax.text(j, i, str(v), ha="center", va="center", fontsize=8, color=color)
    step = 1 if small else -(-k // MAX_NAMED)
    ticks = list(range(0, k, step))
    shown_names = [names[i] for i in ticks]
    ax.set_xticks(ticks, shown_names, rotation=45 if max(map(len, shown_names)) > 2 else 0)
    ax.set_yticks(ticks, shown_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    note = "" if small else f", rows as shares of each class, every {step}th class named"
    ax.set_title(f"confusion matrix (test split{note})")
    return _save(fig, path)


def misclassified_png(images, target, logits, names, path: Path, limit: int = 16) -> Path:
    pred = logits.argmax(1)
    wrong = (pred != target).nonzero().flatten()[:limit].tolist()
    cols = max(1, min(8, len(wrong)))
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        _show(ax, images[i])
        ax.axis("on")
        ax.set_title(f"{names[int(target[i])]}→{names[int(pred[i])]}", fontsize=8, color="crimson")
    if not wrong:
        axes[0, 0].text(0.5, 0.5, "no test image misclassified", ha="center", va="center")
    fig.suptitle("misclassified test images (true→predicted)", fontsize=9)
    return _save(fig, path)


def triptych_png(rows, titles, path: Path) -> Path:
    fig, axes = plt.subplots(
        len(rows), len(titles), figsize=(3.2 * len(titles), 2.6 * len(rows)), squeeze=False
    )
    for r, imgs in enumerate(rows):
        for c, img in enumerate(imgs):
            _show(axes[r, c], img)
            if r == 0:
                axes[r, c].set_title(titles[c])
    return _save(fig, path)


def image_grid_png(images: torch.Tensor, path: Path, nrow: int = 8, title: str = "") -> Path:
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=1, pad_value=1)
    fig, ax = plt.subplots(figsize=(0.5 * nrow + 1, 0.5 * (-(-len(images) // nrow)) + 1))
    _show(ax, grid)
    if title:
        ax.set_title(title, fontsize=9)
    return _save(fig, path)


def curves_png(history: list[dict], keys: list[str], path: Path, title: str = "") -> Path:
    fig, ax = plt.subplots(figsize=(4.5, 3))
    epochs = [r["epoch"] for r in history]
    for k in keys:
        ys = [r.get(k) for r in history]
        if any(y is not None for y in ys):
            ax.plot(epochs, ys, marker=".", label=k)
    ax.set_xlabel("epoch")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def rate_distortion_png(
    curves: dict[str, list[tuple[float, float, int]]], path: Path, raw_bpp: float | None = None
) -> Path:
    """PSNR against bits per pixel, one curve per codec; points are labelled with latent bits."""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    for name, points in curves.items():
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        ax.plot(xs, ys, marker="o", label=name)
        for x, y, bits in points:
            ax.annotate(f"{bits}b", (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
    if raw_bpp:
        ax.axvline(raw_bpp, color="gray", ls="--", lw=1, label=f"raw image ({raw_bpp:g} bpp)")
    ax.set_xlabel("latent bits per pixel (uniform quantisation, no entropy coding)")
    ax.set_ylabel("PSNR vs clean (dB)")
    ax.set_title("rate vs distortion (test images)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def codec_rate_distortion_png(
    curves: dict[str, list[tuple[float, float, float | None]]], path: Path, title: str = ""
) -> Path:
    """PSNR and MS-SSIM against bits per pixel (real file or bitstream bytes), one line per
    codec; points are (bpp, psnr, ms_ssim or None)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"wspace": 0.3})
    for name, points in curves.items():
        points = sorted(points)
        xs = [p[0] for p in points]
        style = {"marker": "o", "label": name, "ls": "-" if len(points) > 1 else ""}
        axes[0].plot(xs, [p[1] for p in points], **style)
        ms = [(x, p[2]) for x, p in zip(xs, points) if p[2] is not None]
        if ms:
            axes[1].plot([m[0] for m in ms], [m[1] for m in ms], **style)
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    rates = [p[0] for points in curves.values() for p in points]
    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 4, 8, 16) if min(rates) <= t <= max(rates)]
    for ax, label in zip(axes, ("PSNR (dB)", "MS-SSIM")):
        ax.set_xscale("log")  # low rates, where codecs differ most, would crowd a linear axis
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("bits per pixel (bytes written x 8 / pixels, log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title or "rate vs distortion (test images, per-image means)", fontsize=9)
    return _save(fig, path)
