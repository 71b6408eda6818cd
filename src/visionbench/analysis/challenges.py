"""The review's open challenges, measured on a finished classification run: robustness, bias,
interpretability. Data efficiency is measured by training runs (`--train-fraction`), not here.

- Robustness: test accuracy under a few common corruptions at fixed severities, the idea of
  ImageNet-C (Hendrycks & Dietterich, ICLR 2019) on a small subset of its corruption types.
- Bias: per-class recall from one confusion matrix. The embedded sets carry no demographic
  attributes, so "bias" here is the disparity between classes, not between groups of people.
- Interpretability: input-gradient x (input - fill) saliency, which works for every model family
  (no conv feature map needed), checked by deletion: removing the most salient pixels must lower
  the true-class probability more than removing as many random pixels.

Everything happens in pixel space ([0,1] values) at the dataset's native resolution, before the
model's own resize and normalisation, so a 1-pixel shift means the same for every model. All
randomness comes from one seed; the number of test images is capped to keep a run to seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import VisionbenchError

Model = Callable[[torch.Tensor], torch.Tensor]  # native-resolution images [N,C,H,W] -> logits

MAX_IMAGES = 500  # test images analysed per run (a stratified, seeded subset above this)
SEED = 0
# name -> severities (mild, strong); units in CORRUPTION_UNITS. A small subset of ImageNet-C.
CORRUPTIONS: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.1, 0.3),
    "gaussian_blur": (0.5, 1.0),
    "contrast": (0.5, 0.25),
    "shift": (1, 2),
}
CORRUPTION_UNITS = {
    "gaussian_noise": "noise std in [0,1] pixel units",
    "gaussian_blur": "kernel sigma in native pixels",
    "contrast": "factor c in mean + c (x - mean)",
    "shift": "pixels, one of 8 directions per image, zero fill",
}
DELETION_FRACTIONS = (0.05, 0.1, 0.2)  # shares of pixels removed by the deletion check
HEADLINE_FRACTION = 0.1  # the share whose result is the pass/fail number
PICTURE_IMAGES = 8  # first test image of each of the first 8 classes in the saliency grid
REFERENCE = (
    "Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and "
    "Perturbations, ICLR 2019 (ImageNet-C); here 4 of its 15 corruption types at 2 severities"
)


# corruptions -----------------------------------------------------------------------------------
def corrupt(images: torch.Tensor, name: str, severity: float, seed: int = SEED) -> torch.Tensor:
    """One corruption of images [N,C,H,W] in [0,1]; the same seed gives the same pixels."""
    g = torch.Generator().manual_seed(seed)
    if name == "gaussian_noise":
        noise = torch.randn(images.shape, generator=g).to(images.device)
        return (images + severity * noise).clamp(0, 1)
    if name == "gaussian_blur":
        return gaussian_blur(images, severity)
    if name == "contrast":
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        return mean + severity * (images - mean)
    if name == "shift":
        return shift(images, int(severity), g)
    raise VisionbenchError(f"unknown corruption '{name}'; known: {', '.join(CORRUPTIONS)}")


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur, radius ceil(3 sigma), reflected borders, each channel alone."""
    radius = max(1, math.ceil(3 * sigma))
    radius = min(radius, images.shape[-1] - 1, images.shape[-2] - 1)
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def shift(images: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by `pixels` in one of 8 seeded directions, filling with zeros."""
    directions = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    pick = torch.randint(len(directions), (images.shape[0],), generator=generator)
    p = pixels
    padded = F.pad(images, (p, p, p, p))
    h, w = images.shape[-2:]
    out = torch.empty_like(images)
    for i, (dy, dx) in enumerate(directions):
        sel = (pick == i).nonzero().flatten().to(images.device)
        top, left = p - dy * p, p - dx * p  # content moves by (dy, dx) * p
        out[sel] = padded[sel, :, top : top + h, left : left + w]
    return out


# measurements ----------------------------------------------------------------------------------
@torch.no_grad()
def logits_of(model: Model, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    return torch.cat([model(images[i : i + batch]).float() for i in range(0, len(images), batch)])


def accuracy(model: Model, images: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits_of(model, images).argmax(1) == labels).double().mean())


def robustness(model: Model, images: torch.Tensor, labels: torch.Tensor, seed: int = SEED) -> dict:
    """Clean and corrupted accuracy; relative robustness = mean corrupted / clean accuracy."""
    clean = accuracy(model, images, labels)
    rows = []
    for name, severities in CORRUPTIONS.items():
        for level, s in enumerate(severities, 1):
            acc = accuracy(model, corrupt(images, name, s, seed=seed + level), labels)
            rows.append({"name": name, "severity": level, "value": s, "accuracy": acc})
    mean = float(np.mean([r["accuracy"] for r in rows]))
    return {
        "clean_accuracy": clean,
        "corruptions": rows,
        "units": CORRUPTION_UNITS,
        "mean_corrupted_accuracy": mean,
        "relative_robustness": mean / clean if clean > 0 else None,
        "reference": REFERENCE,
    }


def class_disparity(labels: torch.Tensor, preds: torch.Tensor, class_names: list[str]) -> dict:
    """Per-class recall and its spread: worst and best class, gap and standard deviation.

    Classes absent from the analysed images have no recall and are left out of the spread.
    """
    from ..metrics.classification import confusion_matrix, scores_from_confusion

    k = len(class_names)
    scores = scores_from_confusion(confusion_matrix(labels, preds, k))
    recall, support = scores["per_class_recall"], scores["support"]
    present = [i for i in range(k) if support[i] > 0]
    values = np.array([recall[i] for i in present])
    worst = present[int(values.argmin())]
    best = present[int(values.argmax())]
    return {
        "per_class_recall": {class_names[i]: recall[i] for i in present},
        "support": {class_names[i]: support[i] for i in present},
        "worst_class": class_names[worst],
        "worst_class_accuracy": recall[worst],
        "best_class": class_names[best],
        "best_class_accuracy": recall[best],
        "gap": recall[best] - recall[worst],
        "std": float(values.std()),  # population std over classes
        "macro_recall": scores["recall_macro"],
    }


def input_saliency(
    model: Model, images: torch.Tensor, labels: torch.Tensor, fill: torch.Tensor
) -> torch.Tensor:
    """[N,H,W] first-order estimate of how much each pixel supports the true class.

    d logit_y / d x times (x - fill), summed over channels: the Taylor estimate of the logit's
    drop when that pixel is replaced by `fill`, which is exactly what the deletion check does.
    """
    x = images.clone().requires_grad_(True)
    with torch.enable_grad():
        out = model(x).float()
        score = out.gather(1, labels.view(-1, 1)).sum()
        (grad,) = torch.autograd.grad(score, x)
    return (grad * (images - fill)).sum(1).detach()


def remove_pixels(
    images: torch.Tensor, order: torch.Tensor, count: int, fill: torch.Tensor
) -> torch.Tensor:
    """Images with the first `count` pixels of each row of `order` (flat H*W indices) set to fill."""
    n, c, h, w = images.shape
    mask = torch.zeros(n, h * w, dtype=torch.bool, device=images.device)
    mask.scatter_(1, order[:, :count], True)
    mask = mask.view(n, 1, h, w)
    return torch.where(mask, fill.expand_as(images), images)


def deletion_check(
    model: Model,
    images: torch.Tensor,
    labels: torch.Tensor,
    saliency: torch.Tensor,
    fill: torch.Tensor,
    seed: int = SEED,
) -> dict:
    """True-class probability and accuracy after removing the most salient vs random pixels."""
    n = images.shape[0]
    hw = images.shape[-1] * images.shape[-2]
    salient = saliency.view(n, -1).argsort(dim=1, descending=True)
    g = torch.Generator().manual_seed(seed)
    random = torch.rand(n, hw, generator=g).argsort(dim=1).to(images.device)

    def measure(x: torch.Tensor) -> tuple[float, float]:
        logits = logits_of(model, x)
        p = logits.softmax(1).gather(1, labels.view(-1, 1))
        return float(p.mean()), float((logits.argmax(1) == labels).double().mean())

    base_p, base_acc = measure(images)
    rows = []
    for frac in DELETION_FRACTIONS:
        k = max(1, round(frac * hw))
        sp, sa = measure(remove_pixels(images, salient, k, fill))
        rp, ra = measure(remove_pixels(images, random, k, fill))
        rows.append(
            {
                "fraction": frac,
                "pixels": k,
                "salient_true_prob": sp,
                "random_true_prob": rp,
                "salient_accuracy": sa,
                "random_accuracy": ra,
            }
        )
    head = min(rows, key=lambda r: abs(r["fraction"] - HEADLINE_FRACTION))
    drop_salient, drop_random = (
        base_p - head["salient_true_prob"],
        base_p - head["random_true_prob"],
    )
    return {
        "clean_true_prob": base_p,
        "clean_accuracy": base_acc,
        "steps": rows,
        "headline_fraction": head["fraction"],
        "drop_salient": drop_salient,
        "drop_random": drop_random,
        "faithful": bool(drop_salient > drop_random),
    }


def saliency_png(
    images: torch.Tensor,
    saliency: torch.Tensor,
    labels: torch.Tensor,
    class_names: list[str],
    path: Path,
    title: str = "",
) -> Path:
    """Top row the images, bottom row the saliency over them (red: supports the true class)."""
    from ..viz.plots import _save, _show, plt

    n = images.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.25 * n + 0.4, 2.9), squeeze=False)
    for j in range(n):
        _show(axes[0, j], images[j])
        axes[0, j].set_title(class_names[int(labels[j])], fontsize=8)
        gray = images[j].float().mean(0).cpu().numpy()
        s = saliency[j].float().cpu().numpy()
        lim = float(np.abs(s).max()) or 1.0
        rgba = plt.get_cmap("bwr")((s / lim + 1) / 2)
        rgba[..., 3] = np.clip(np.abs(s) / lim * 1.5, 0, 0.9)  # faint where the pixel is neutral
        axes[1, j].imshow(gray, cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(rgba)
        axes[1, j].set_xticks([])
        axes[1, j].set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("saliency", fontsize=8)
    fig.suptitle(
        title or "input gradient x (input - mean): red supports the true class", fontsize=8
    )
    return _save(fig, path)


# one run -----------------------------------------------------------------------------------------
def analyse(
    model: Model,
    images: torch.Tensor,
    labels: torch.Tensor,
    class_names: list[str],
    picture: Path | None = None,
    seed: int = SEED,
    title: str = "",
) -> dict:
    """Robustness, per-class disparity and saliency faithfulness of `model` on these images."""
    fill = images.mean(dim=(0, 2, 3), keepdim=True)  # "removed" = the mean of the analysed images
    rob = robustness(model, images, labels, seed)
    preds = logits_of(model, images).argmax(1)
    sal = input_saliency(model, images, labels, fill)
    interp = {
        "method": "input gradient x (input - fill), summed over channels",
        "fill": "per-channel mean of the analysed test images",
        "deletion": deletion_check(model, images, labels, sal, fill, seed),
    }
    if picture is not None:
        firsts = [int((labels == c).nonzero()[0]) for c in labels.unique().tolist()]
        pick = torch.tensor(firsts[:PICTURE_IMAGES])
        saliency_png(images[pick], sal[pick], labels[pick], class_names, picture, title)
        interp["picture"] = f"{picture.parent.name}/{picture.name}"
    return {
        "robustness": rob,
        "bias": class_disparity(labels.cpu(), preds.cpu(), class_names),
        "interpretability": interp,
    }


def test_images(cfg, max_images: int = MAX_IMAGES, seed: int = SEED):
    """The run's test split at native resolution, a stratified seeded subset above max_images."""
    from ..data.registry import load_dataset
    from ..data.splits import stratified_subset
    from ..data.tensors import TensorSet

    bundle = load_dataset(cfg.data, cfg.task, split_seed=cfg.split_seed, **cfg.data_options)
    test = bundle.test
    if not isinstance(test, TensorSet) or test.labels is None:
        raise VisionbenchError(f"challenges need an in-memory labelled test set; {cfg.data} is not")
    total = len(test)
    if total > max_images:
        test = test.subset(stratified_subset(test.labels.numpy(), max_images / total, seed))
    return test.images, test.labels, total


def challenges_run(run_dir: str | Path, device: str = "cpu", max_images: int = MAX_IMAGES) -> dict:
    """Measure a finished classification run; writes challenges.json and samples/saliency.png."""
    from ..config import load_yaml
    from ..environment import resolve_device
    from ..runs import RunDir
    from ..tasks.base import TASKS
    from ..tasks.workflow import load_run

    path = Path(run_dir)
    if not path.is_dir():
        raise VisionbenchError(f"no such run directory: {path}")
    kind = load_yaml(RunDir.open(path).config).get("task")  # before building any model
    if not TASKS.get(kind).challenges:
        ready = ", ".join(t.name for t in TASKS if t.challenges)
        raise VisionbenchError(f"challenges are measured for {ready} runs; {path} is a {kind} run")
    t0 = time.perf_counter()
    run, cfg, task, net, info = load_run(path)
    dev = resolve_device(device)
    net = net.to(dev)
    size = "x".join(str(v) for v in task.input_hw(info))
    images, labels, total = test_images(cfg, max_images)
    images, labels = images.to(dev), labels.to(dev)
    names = info.class_names or [str(i) for i in range(info.num_classes)]
    result = analyse(
        lambda x: net(task.model_input(x)),
        images,
        labels,
        names,
        run.samples / "saliency.png",
        title=f"{cfg.model} on {info.name}: input gradient x (input - mean), "
        "red supports the true class",
    )
    result |= {
        "model": cfg.model,
        "dataset": info.name,
        "train_fraction": cfg.train_fraction,
        "images": int(len(labels)),
        "test_images": total,
        "image_cap": max_images,
        "seed": SEED,
        "space": "pixel values in [0,1] at the dataset's native resolution "
        f"({images.shape[-1]}x{images.shape[-2]}), before the model's resize to {size} "
        "and its normalisation",
        "seconds": round(time.perf_counter() - t0, 3),
    }
    run.write_json(run.path / "challenges.json", result)
    return result
