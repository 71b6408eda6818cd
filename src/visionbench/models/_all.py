"""Imports every model file so each registers itself; add new model files here."""

# ruff: noqa: I001  (one import line per group keeps parallel edits from colliding)

from . import autoencoder, lenet, timm_zoo  # noqa: F401
from . import alexnet, capsnet, hybrid, vit  # noqa: F401  (classification families)
from . import dcgan, ddpm, edsr, srcnn, srgan, unet_attention  # noqa: F401  (autoencoders, GANs, diffusion, SR)
from . import speedrun  # noqa: F401  (CIFAR-10 time-to-accuracy)
from . import fcn, setr  # noqa: F401  (semantic segmentation: FCN and SETR; U-Net in unet_attention)
from . import deeplab, segformer, unet  # noqa: F401  (DeepLabV3+, SegFormer, plain U-Net)
from . import esrgan  # noqa: F401  (ESRGAN as published)
from . import vae  # noqa: F401  (variational autoencoder)
from . import mae  # noqa: F401  (masked autoencoder, pre-training a ViT classifier)
from . import ganomaly  # noqa: F401  (GAN anomaly detector)
from . import detectors, yolo  # noqa: F401  (detection, instance segmentation)
from . import codec  # noqa: F401  (learned image codec, factorized prior)
