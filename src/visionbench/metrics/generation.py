"""FID and IS, on features of a classifier trained on the same data or on a user's Inception-V3.

The Fréchet distance is computed in float64 with the unbiased (N-1) covariance and an eigenvalue
form of the matrix square root. "FID (domain features)" uses a small classifier visionbench trains on
the training split (Inception features mean little on 8x8 digits); it is never comparable to
the published Inception FID, which is computed only when the user hands over a local
Inception-V3 weights file (nothing is ever downloaded).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import VisionbenchError, require_file
from ..weights import read_state_dict
from .registry import register_metric


# Fréchet distance and Inception Score ------------------------------------------------------
def feature_stats(features: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased (N-1) covariance of features [N, D], in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need features [N>=2, D], got shape {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False, ddof=1).reshape(f.shape[1], f.shape[1])


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians (Dowson & Landau).

    Tr((S1 S2)^(1/2)) is taken as the sum of square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2) (same spectrum), which stays real and exact when a covariance is
    singular (dead ReLU features), where scipy.linalg.sqrtm needs pytorch-fid's diagonal nudge.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    r1 = _psd_sqrt(s1)
    m = r1 @ s2 @ r1
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def fid_from_features(a, b) -> float:
    return frechet_distance(*feature_stats(a), *feature_stats(b))


def inception_score(probs, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` parts of a seeded shuffle."""
    p = np.asarray(probs, dtype=np.float64)
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


# the domain classifier ---------------------------------------------------------------------
class DomainClassifier(nn.Module):
    """A small CNN; its 64-d penultimate layer is the feature space of FID (domain features)."""

    def __init__(self, in_chans: int, num_classes: int, width: int = 32):
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_chans, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(8 * w, 64), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(64, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def cache_dir() -> Path:
    return Path(os.environ.get("VISIONBENCH_CACHE", Path.home() / ".cache" / "visionbench"))


def domain_classifier(
    images: torch.Tensor, labels: torch.Tensor, key: str, seed: int = 0, epochs: int = 30
) -> DomainClassifier:
    """Train (or load from the cache, keyed by dataset, split seed and data hash) the classifier."""
    from safetensors.torch import load_file, save_file

    k = int(labels.max()) + 1
    digest = hashlib.sha1(
        images.numpy().tobytes()[:1_000_000] + labels.numpy().tobytes()
    ).hexdigest()
    path = cache_dir() / "domain_classifiers" / f"{key}_s{seed}_{digest[:12]}.safetensors"
    model = DomainClassifier(images.shape[1], k)
    if path.exists():
        model.load_state_dict(load_file(str(path)))
        return model.eval()
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DomainClassifier(images.shape[1], k)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    steps_per_epoch = max(1, len(images) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=epochs * steps_per_epoch)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=g)
        for i in range(steps_per_epoch):
            idx = order[i * 64 : (i + 1) * 64]
            loss = F.cross_entropy(model(images[idx]), labels[idx], label_smoothing=0.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({n: t.contiguous() for n, t in model.state_dict().items()}, str(path))
    return model


@torch.no_grad()
def features_and_probs(model, images: torch.Tensor, batch: int = 500):
    feats, probs = [], []
    for i in range(0, len(images), batch):
        f = model.features(images[i : i + batch])
        feats.append(f)
        probs.append(model.head(f).softmax(1))
    return torch.cat(feats).double().numpy(), torch.cat(probs).double().numpy()


# the standard Inception-V3 numbers (user-supplied weights only) ----------------------------
class InceptionFeatures(nn.Module):
    """torchvision's Inception-V3 with weights from a local file: 2048-d pool features, logits."""

    def __init__(self, weights: str | Path):
        super().__init__()
        from torchvision.models import inception_v3

        p = require_file(weights, "Inception-V3 weights")
        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        state = read_state_dict(p, "Inception-V3 weights")
        try:
            net.load_state_dict(state, strict=False)
        except RuntimeError as e:
            raise VisionbenchError(
                f"Inception weights {p} do not fit torchvision's inception_v3: {str(e)[:200]}"
            ) from None
        self.fc = net.fc
        net.fc = nn.Identity()
        self.net = net.eval()

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images in [0,1], any size and 1 or 3 channels -> (features [N,2048], probs [N,1000])."""
        x = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
        # TF1-compatible resize: bilinear, half-pixel centres, no antialiasing; then [-1, 1].
        x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
        f = self.net(x * 2 - 1)
        return f, self.fc(f).softmax(1)


def inception_metrics(weights, real: torch.Tensor, fake: torch.Tensor, batch: int = 50) -> dict:
    net = InceptionFeatures(weights)

    def run(x):
        outs = [net(x[i : i + batch]) for i in range(0, len(x), batch)]
        return torch.cat([o[0] for o in outs]).double().numpy(), torch.cat(
            [o[1] for o in outs]
        ).double().numpy()

    fr, _ = run(real)
    ff, pf = run(fake)
    is_mean, is_std = inception_score(pf)
    return {
        "fid_inception": fid_from_features(fr, ff),
        "is_inception": is_mean,
        "is_inception_std": is_std,
    }


# metric cards ------------------------------------------------------------------------------
_FD = "||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) of feature means and covariances"
register_metric(
    name="fid_domain",
    task="generation",
    definition="FID (domain features): " + _FD + ", on a classifier visionbench trains on the "
    "training split; not comparable to the published Inception FID",
    settings="64-d penultimate features; float64; covariance with N-1; reference = the "
    "evaluated real split; n_samples generated images (default 1000)",
    reference="pytorch-fid's formula (checked in tests against the closed form), on domain features",
    higher_is_better=False,
)
register_metric(
    name="is_domain",
    task="generation",
    definition="Inception Score (domain features): exp(E KL(p(y|x) || p(y))) with the domain "
    "classifier's class probabilities; at most the number of classes",
    settings="10 splits of a seeded shuffle; mean reported, std beside it",
    reference="Salimans et al. 2016, on a domain classifier",
)
register_metric(
    name="confident_share",
    task="generation",
    definition="share of generated samples that the domain classifier gives a class with "
    "probability above 0.9 (recognisable samples)",
    settings="threshold 0.9",
    reference="visionbench",
)
register_metric(
    name="fid_inception",
    task="generation",
    definition="standard FID: " + _FD + " on Inception-V3 2048-d pool features",
    settings="only with --inception-weights PATH (or --task-option inception_weights=PATH) (torchvision inception_v3 layout); "
    "bilinear resize to 299 (TF1-style half-pixel, no antialias), inputs scaled to [-1,1]",
    reference="Heusel et al. 2017; pytorch-fid",
    higher_is_better=False,
)
register_metric(
    name="is_inception",
    task="generation",
    definition="standard Inception Score on Inception-V3 class probabilities",
    settings="only with user-supplied weights; 10 seeded splits",
    reference="Salimans et al. 2016",
)
register_metric(
    name="psnr_mask",
    task="restoration",
    definition="inpainting: PSNR over the pixels of the hole only (known pixels are copied)",
    settings="data range 1.0; all channels of the hole's pixels pooled into one MSE per image",
    reference="visionbench",
    equation=6,
)
register_metric(
    name="ssim_mask",
    task="restoration",
    definition="inpainting: SSIM on the bounding box of the hole (when it is at least 11 px)",
    settings="as ssim, on the crop",
    reference="skimage.metrics.structural_similarity on the crop",
    equation=7,
)
register_metric(
    name="bpp",
    task="restoration",
    definition="bits per pixel. Learned codecs (--degradation codec:LAMBDA): 8 x the bytes of "
    "the entropy-coded bitstream (size header included) / the image's pixels; jpeg_bpp is the "
    "rate JPEG was scored at beside it. Other autoencoders: bits of everything the decoder "
    "reads, per output pixel, each latent tensor quantised to 8 bits (no entropy coding)",
    settings="codecs: real rANS bytes per image, averaged over images; autoencoders: uniform "
    "quantisation between each tensor's min and max, psnr_8bit_latent beside it",
    reference="visionbench",
    higher_is_better=False,
)
register_metric(
    name="bpp_estimate",
    task="restoration",
    definition="learned codecs: the model's own rate estimate, -log2 of the rounded latent's "
    "likelihood per pixel (what training minimises); bpp, the real bytes, is beside it",
    settings="per image, averaged over images; the gap to bpp is the coder's overhead "
    "(16-bit frequency tables, 4-byte state, 4-byte header)",
    reference="Ballé et al. 2018, Eq. 2 (the rate term)",
    higher_is_better=False,
)
