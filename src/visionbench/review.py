"""The review's Tables 1 and 2, quoted cell by cell, so the report can show them beside measurements.

These strings are quotations of the review (CITATION), kept verbatim including its slips (the
hybrid row of Table 1 repeats its first two cells across the row in the source), never text of
ours: what we add lives in families.py as our notes and is marked as ours wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass

CITATION = (
    "Al-Hashim, M. A. (2025). Neural Networks in Image Processing: A Review of Architectures, "
    "Datasets, and Performance. IRJIET 9(10), 29-36, doi:10.47001/IRJIET/2025.910005"
)
SHORT_CITATION = "Al-Hashim 2025, IRJIET 9(10)"


@dataclass(frozen=True)
class Table1Row:
    """One row of the review's Table 1, "Evolution of Neural Network Architectures"."""

    architecture: str
    key_characteristics: str
    strengths: str
    limitations: str
    typical_applications: str
    representative_work: str


@dataclass(frozen=True)
class Table2Row:
    """One row of the review's Table 2, "Commonly Used Datasets in Image Processing"."""

    dataset: str
    tasks: str
    size: str
    key_features: str
    reference: str
    registry_names: tuple[str, ...]  # ours: the visionbench readers of this dataset


TABLE1_COLUMNS = (
    "Architecture",
    "Key Characteristics",
    "Strengths",
    "Limitations",
    "Typical Applications",
    "Representative Work (Ref)",
)

_HYBRID = "Hybrid CNN-ViT"
_HYBRID_TEXT = "Combines local CNNs with global attention from Transformers"

TABLE1: tuple[Table1Row, ...] = (
    Table1Row(
        "CNN (Classic)",
        "Convolution + pooling layers; local receptive fields",
        "Effective feature extraction; efficient",
        "Limited to local context; no global relationships",
        "Classification, detection, segmentation",
        "LeCun et al. (1998) [2], Krizhevsky et al. (2012) [3]",
    ),
    Table1Row(
        "CNN (Modern Deep Variants)",
        "Residual connections, attention modules, deep stacks",
        "Improved expressiveness, generalization",
        "High computation, risk of overfitting",
        "Medical imaging, scene understanding",
        "Khan & Iqbal (2025) [11]",
    ),
    Table1Row(
        "Mobile CNN (e.g., MobileNet-V4)",
        "Lightweight layers, depthwise separable convolutions",
        "Efficient for mobile and edge computing",
        "Less accurate than full-scale models",
        "On-device inference, AR/VR apps",
        "Google (2024) [12]",
    ),
    Table1Row(
        "Autoencoder (Classic)",
        "Encoder-decoder network, often symmetric",
        "Learns compact representations",
        "Limited generative ability",
        "Denoising, compression",
        "Vincent et al. (2010) [13]",
    ),
    Table1Row(
        "Autoencoder (Modern)",
        "Enhanced with attention or hybrid blocks",
        "Better reconstruction, scalability",
        "Still outperformed by GANs/diffusion in image generation",
        "Retrieval, anomaly detection",
        "El-Shafai et al. (2023) [14]",
    ),
    Table1Row(
        "GAN (Classic)",
        "Generator-discriminator adversarial pair",
        "Powerful image generation, creative outputs",
        "Unstable training, mode collapse",
        "Synthesis, inpainting",
        "Goodfellow et al. (2014) [8]",
    ),
    Table1Row(
        "GAN / Diffusion (Modern)",
        "Iterative refinement or score-based generation",
        "Realistic, high-resolution outputs",
        "Computationally expensive",
        "Super-resolution, generative editing",
        "Saharia et al. (2023) [15]",
    ),
    Table1Row(
        "Capsule Network",
        "Encodes pose and part-whole hierarchies using dynamic routing",
        "Handles transformations better than CNNs",
        "Still underdeveloped, high complexity",
        "Pose estimation, viewpoint-invariant recognition",
        "Sabour et al. (2017) [10]",
    ),
    Table1Row(
        "Vision Transformer (ViT)",
        "Self-attention on image patches, no convolutions",
        "Captures global dependencies, scalable",
        "Requires large data and compute",
        "Classification, segmentation",
        "Dosovitskiy et al. (2020) [6]",
    ),
    Table1Row(_HYBRID, _HYBRID_TEXT, _HYBRID, _HYBRID_TEXT, _HYBRID, _HYBRID_TEXT),
)

TABLE2_COLUMNS = ("Dataset", "Task(s)", "Size", "Key Features", "Reference")

TABLE2: tuple[Table2Row, ...] = (
    Table2Row(
        "ImageNet",
        "Classification",
        "14M+ images, 21k classes",
        "Large-scale, diverse classes",
        "[18]",
        ("imagenet",),
    ),
    Table2Row(
        "CIFAR-10/100",
        "Classification",
        "60k images",
        "Small-scale, simple classes",
        "[3]",
        ("cifar10", "cifar100"),
    ),
    Table2Row(
        "COCO",
        "Detection, segmentation",
        "330k images",
        "Multiple objects, instance segmentation",
        "[21]",
        ("coco",),
    ),
    Table2Row(
        "Pascal VOC",
        "Detection, segmentation",
        "20k images",
        "Well-annotated, classical benchmark",
        "[22]",
        ("voc",),
    ),
    Table2Row(
        "CelebA",
        "Image generation",
        "200k images",
        "Facial attributes, face synthesis",
        "[24]",
        ("celeba",),
    ),
    Table2Row(
        "LSUN",
        "Image generation",
        "Millions of images",
        "Large-scale scene categories",
        "[25]",
        ("lsun",),
    ),
)


def table1_row(architecture: str) -> Table1Row:
    """The review's Table 1 row whose Architecture cell is `architecture`."""
    for row in TABLE1:
        if row.architecture == architecture:
            return row
    raise KeyError(architecture)


def table2_row(dataset: str) -> Table2Row:
    """The review's Table 2 row whose Dataset cell is `dataset`."""
    for row in TABLE2:
        if row.dataset == dataset:
            return row
    raise KeyError(dataset)
