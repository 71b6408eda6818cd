"""The ten architecture families of the review's Table 1, each tied to its row of that table.

`Family.review` is the review's own row, quoted (visionbench.review); the other text fields are
our notes (what we mean by the family, the models we register under it), shown apart from the
review's cells and marked as ours. Every row exists even before a model of the family is
registered, so the report can show the review's claims beside "no runs yet".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .registry import Registry
from .review import Table1Row, table1_row


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    review_row: str  # the Architecture cell of the review's Table 1 row for this family
    characteristics: str  # ours, from here to citation
    strengths: str
    limitations: str
    applications: str
    citation: str
    tasks: tuple[str, ...]

    @property
    def review(self) -> Table1Row:
        """The review's own Table 1 row, quoted."""
        return table1_row(self.review_row)

    def to_dict(self) -> dict:
        """Flat: the review's cells as review_<column>, then our notes under their own names."""
        d = {"key": self.key, "name": self.name}
        d |= {f"review_{k}": v for k, v in asdict(self.review).items()}
        d |= {k: v for k, v in asdict(self).items() if k not in d and k != "review_row"}
        return d


FAMILIES: Registry[Family] = Registry("family")


def _family(**kw) -> None:
    kw["tasks"] = tuple(kw["tasks"])
    FAMILIES.add(kw["key"], Family(**kw))


_family(
    key="classic_cnn",
    name="Classic CNN",
    review_row="CNN (Classic)",
    characteristics="Few stacked convolution + pooling layers followed by fully connected layers "
    "(LeNet-5, AlexNet); local receptive fields and weight sharing.",
    strengths="Simple, few parameters, fast to train; strong on small, centred images.",
    limitations="Shallow: limited capacity on large, varied data; no skip connections, so depth "
    "is hard to grow.",
    applications="Digit and character recognition, small-image classification.",
    citation="LeCun et al., Proc. IEEE 1998 (LeNet-5); Krizhevsky et al., NeurIPS 2012 (AlexNet)",
    tasks=["classification", "restoration"],
)
_family(
    key="modern_cnn",
    name="Modern deep CNN",
    review_row="CNN (Modern Deep Variants)",
    characteristics="Very deep convolutional networks with residual or dense connections and "
    "compound scaling (ResNet, DenseNet, EfficientNet).",
    strengths="State-of-the-art accuracy with good transfer; mature training recipes.",
    limitations="Large compute and memory; limited global context from local convolutions.",
    applications="Classification, backbones for detection and segmentation, restoration.",
    citation="He et al., CVPR 2016 (ResNet); Huang et al., CVPR 2017 (DenseNet); "
    "Tan & Le, ICML 2019 (EfficientNet)",
    tasks=["classification", "detection", "instance_segmentation", "segmentation", "restoration"],
)
_family(
    key="mobile_cnn",
    name="Mobile CNN",
    review_row="Mobile CNN (e.g., MobileNet-V4)",
    characteristics="Depthwise-separable and inverted-bottleneck blocks searched for latency on "
    "mobile hardware (MobileNetV4 universal inverted bottleneck).",
    strengths="Low latency, few FLOPs and parameters; runs on edge devices.",
    limitations="Lower accuracy ceiling than large models; sensitive to training recipe.",
    applications="On-device classification and detection, real-time vision.",
    citation="Qin et al., ECCV 2024 (MobileNetV4)",
    tasks=["classification", "detection", "segmentation"],
)
_family(
    key="classic_autoencoder",
    name="Classic autoencoder",
    review_row="Autoencoder (Classic)",
    characteristics="Encoder-decoder trained to reconstruct its input through a bottleneck; the "
    "denoising variant reconstructs clean images from corrupted ones.",
    strengths="Unsupervised; learns compact representations; simple to train.",
    limitations="Blurry reconstructions; limited generative ability.",
    applications="Denoising, compression, anomaly detection, feature learning.",
    citation="Hinton & Salakhutdinov, Science 2006; Vincent et al., JMLR 2010 (stacked denoising AE)",
    tasks=["restoration", "anomaly"],
)
_family(
    key="modern_autoencoder",
    name="Modern autoencoder",
    review_row="Autoencoder (Modern)",
    characteristics="Variational and attention-based encoder-decoders (VAE, U-shaped networks "
    "with transformer bottlenecks, masked autoencoders).",
    strengths="Probabilistic latent space; sharper reconstructions; strong pre-training.",
    limitations="Still blurrier than adversarial models; more compute than classic AEs.",
    applications="Generation, inpainting, compression, restoration, anomaly detection.",
    citation="Kingma & Welling, ICLR 2014 (VAE); He et al., CVPR 2022 (MAE)",
    # classification: a masked autoencoder's pre-trained encoder, fine-tuned (mae_vit_nano)
    tasks=["restoration", "generation", "anomaly", "classification"],
)
_family(
    key="classic_gan",
    name="Classic GAN",
    review_row="GAN (Classic)",
    characteristics="A generator and a discriminator trained adversarially (GAN, DCGAN).",
    strengths="Sharp, realistic samples; fast one-pass sampling.",
    limitations="Unstable training, mode collapse, hard to evaluate.",
    applications="Image synthesis, data augmentation.",
    citation="Goodfellow et al., NeurIPS 2014; Radford et al., ICLR 2016 (DCGAN)",
    tasks=["generation"],
)
_family(
    key="gan_diffusion",
    name="GAN / diffusion model",
    review_row="GAN / Diffusion (Modern)",
    characteristics="Modern generative models: style-based and super-resolution GANs, and "
    "denoising diffusion probabilistic models that invert a gradual noising process.",
    strengths="State-of-the-art sample quality and diversity; stable training (diffusion).",
    limitations="Slow iterative sampling (diffusion); heavy compute.",
    applications="Generation, super-resolution, inpainting, editing.",
    citation="Ledig et al., CVPR 2017 (SRGAN); Ho et al., NeurIPS 2020 (DDPM); "
    "Saharia et al., TPAMI 2022 (SR3)",
    tasks=["generation", "restoration"],
)
_family(
    key="capsule",
    name="Capsule network",
    review_row="Capsule Network",
    characteristics="Groups of neurons (capsules) whose vector length encodes presence and whose "
    "orientation encodes pose; routing-by-agreement between layers.",
    strengths="Models part-whole relations; robust to affine changes; data efficient.",
    limitations="Costly routing; hard to scale to large images and datasets.",
    applications="Digit recognition, small-image classification, overlapping objects.",
    citation="Sabour, Frosst & Hinton, NeurIPS 2017 (dynamic routing)",
    tasks=["classification"],
)
_family(
    key="vit",
    name="Vision Transformer",
    review_row="Vision Transformer (ViT)",
    characteristics="Images split into patches, embedded as tokens and processed by global "
    "self-attention.",
    strengths="Global context; scales with data and compute; strong transfer.",
    limitations="Data hungry without strong augmentation or pre-training; quadratic attention cost.",
    applications="Classification, detection, segmentation backbones.",
    citation="Dosovitskiy et al., ICLR 2021 (ViT)",
    tasks=["classification", "detection", "segmentation"],
)
_family(
    key="hybrid",
    name="Hybrid CNN-ViT",
    review_row="Hybrid CNN-ViT",
    characteristics="Convolutional stems or stages feeding transformer blocks (CoAtNet, MobileViT, "
    "FastViT).",
    strengths="Convolutional inductive bias with global attention; better data efficiency than "
    "pure ViT.",
    limitations="More design complexity; mixed kernels are harder to optimise for deployment.",
    applications="Classification, detection, segmentation on mid-sized data and mobile devices.",
    citation="Dai et al., NeurIPS 2021 (CoAtNet); Mehta & Rastegari, ICLR 2022 (MobileViT)",
    tasks=["classification", "detection", "segmentation"],
)
