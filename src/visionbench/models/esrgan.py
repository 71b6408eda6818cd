"""ESRGAN (Wang et al., ECCVW 2018) as published, in a small size.

- Generator: residual-in-residual dense blocks (five-convolution dense blocks, residual scaling
  0.2, no batch norm), a trunk convolution, nearest-neighbour x2 upsampling + convolution
  stages, then two convolutions. One addition: the output is added to the bicubic upsampling of
  the input, so a briefly trained network starts from bicubic rather than from noise.
- Discriminator: ESRGAN's VGG-style network (3x3 convolutions with batch norm and leaky ReLU,
  the resolution halved by 4x4 stride-2 convolutions, two linear layers to one logit), with a
  global average pool before the linear layers so any patch size works. It is trained as a
  relativistic average discriminator (`tasks/esrgan.py`).
- Feature network for the perceptual loss: VGG-19's conv5_4 before its ReLU (the paper's
  choice) loaded from a local weights file the user names, or, without one, a small VGG-style
  network trained here by rotation prediction (Gidaris et al., ICLR 2018: which of 0/90/180/270
  degrees an image was turned by) on the training images during the pixel-loss warm-up. Nothing
  is downloaded. Its weights are saved with the run, so evaluation needs no file.

Every call goes through `forward(x, mode=...)`, so a DDP or compiled wrapper sees all of them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import VisionbenchError
from .registry import Recipe, register_model
from .srcnn import bicubic_up
from .srgan import DenseBlock

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGG19_CONV5_4 = 35  # torchvision vgg19().features[:35] ends at conv5_4, before its ReLU


class RRDB(nn.Module):
    """Three dense blocks of five convolutions each, residual-scaled by 0.2 twice."""

    def __init__(self, ch: int, growth: int):
        super().__init__()
        self.blocks = nn.Sequential(*[DenseBlock(ch, growth, layers=5) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 0.2 * self.blocks(x)


class ESRGANGenerator(nn.Module):
    def __init__(self, in_chans: int, scale: int, width: int, growth: int, blocks: int):
        super().__init__()
        if scale not in (1, 2, 4, 8):
            raise VisionbenchError(f"esrgan upsamples by 1, 2, 4 or 8, got scale {scale}")
        self.scale = scale
        self.head = nn.Conv2d(in_chans, width, 3, padding=1)
        self.body = nn.Sequential(*[RRDB(width, growth) for _ in range(blocks)])
        self.trunk = nn.Conv2d(width, width, 3, padding=1)
        ups = []
        for _ in range(scale.bit_length() - 1):
            ups += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(width, width, 3, padding=1),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.up = nn.Sequential(*ups)
        self.hr = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, in_chans, 3, padding=1),
        )
        nn.init.zeros_(self.hr[-1].weight)  # starts as bicubic exactly: never worse at step 0
        nn.init.zeros_(self.hr[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(x)
        f = f + self.trunk(self.body(f))
        return bicubic_up(x, self.scale) + self.hr(self.up(f))


class VGGDiscriminator(nn.Module):
    """ESRGAN's discriminator at width `w`: one logit per image."""

    def __init__(self, in_chans: int, width: int = 32, stages: int = 3):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_chans, width, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            *_d_block(width, width, 4, 2),
        ]
        c = width
        for _ in range(stages - 1):
            layers += [*_d_block(c, 2 * c, 3, 1), *_d_block(2 * c, 2 * c, 4, 2)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Linear(c, 100), nn.LeakyReLU(0.2, inplace=True), nn.Linear(100, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3))).squeeze(1)


def _d_block(cin: int, cout: int, k: int, stride: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, k, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(0.2, inplace=True),
    ]


class SmallVGG(nn.Module):
    """The feature network trained here: VGG-style 3x3 stacks; features = last conv, pre-ReLU
    (as conv5_4 is used); a linear head predicts the rotation while it trains."""

    def __init__(self, in_chans: int, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(4 * w, 4 * w, 3, padding=1),
        )  # fmt: skip
        self.rotation_head = nn.Linear(4 * w, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def rotation_logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.rotation_head(F.relu(self.features(x)).mean((2, 3)))


class VGG19Features(nn.Module):
    """torchvision's VGG-19 up to conv5_4 (pre-activation); weights: `load_vgg19`."""

    def __init__(self):
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers  # VGG-19 is layout "E"

        self.features = make_layers(cfgs["E"])[:VGG19_CONV5_4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def load_vgg19(features: nn.Sequential, path: str | Path) -> None:
    """Loads `features.*` tensors of a torchvision VGG-19 state dict (safetensors or a
    weights-only torch file); every conv up to conv5_4 must be there."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file: one clear line)
        raise VisionbenchError(f"cannot read VGG-19 weights {path}: {e}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    ours = features.state_dict()
    picked = {k: state.get(f"features.{k}") for k in ours}
    missing = [k for k, v in picked.items() if v is None or v.shape != ours[k].shape]
    if missing:
        raise VisionbenchError(
            f"{path} is not a torchvision VGG-19 state dict: features.{missing[0]} missing or of "
            "the wrong shape"
        )
    features.load_state_dict(picked)


class ESRGAN(nn.Module):
    """Generator, relativistic discriminator and perceptual feature network in one module.

    `forward(x)` super-resolves; `mode` picks the other parts: "discriminator" (one logit per
    image), "features" (the perceptual features of images in [0,1], the network's weights
    detached so only the image gets gradients), "rotation" (rotation logits while the feature
    network trains here).
    """

    size_divisor = 1
    relativistic = True  # the restoration task steps it with tasks/esrgan.py

    def __init__(
        self,
        in_chans: int = 3,
        scale: int = 1,
        width: int = 32,
        growth: int = 16,
        blocks: int = 3,
        d_width: int = 32,
        perceptual: str = "trained",
        pixel_weight: float = 1e-2,
        perceptual_weight: float = 1.0,
        adv_weight: float = 5e-3,
    ):
        super().__init__()
        self.generator = ESRGANGenerator(in_chans, int(scale), width, growth, blocks)
        self.discriminator = VGGDiscriminator(in_chans, d_width)
        self.weights = {"pixel": pixel_weight, "perceptual": perceptual_weight, "adv": adv_weight}
        if perceptual not in ("vgg19", "trained"):
            raise VisionbenchError(f"esrgan perceptual must be vgg19 or trained, got {perceptual}")
        vgg = perceptual == "vgg19"
        if vgg and in_chans != 3:
            raise VisionbenchError("VGG-19 perceptual features need 3-channel images")
        self.feature_net: nn.Module = VGG19Features() if vgg else SmallVGG(in_chans)
        self.feature_net.requires_grad_(not vgg)
        self.trains_features = not vgg
        self.perceptual_source = (
            "VGG-19 conv5_4 (weights: the file named in config.yaml)"
            if vgg
            else "small VGG-style network trained here by rotation prediction"
        )
        mean = IMAGENET_MEAN if vgg else (0.5,) * in_chans
        std = IMAGENET_STD if vgg else (0.25,) * in_chans
        self.register_buffer("feat_mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("feat_std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor, mode: str = "generator") -> torch.Tensor:
        if mode == "generator":
            return self.generator(x)
        if mode == "discriminator":
            return self.discriminator(x)
        z = (x - self.feat_mean) / self.feat_std
        if mode == "features":
            frozen = {k: v.detach() for k, v in self.feature_net.named_parameters()}
            return torch.func.functional_call(self.feature_net, frozen, (z,))
        if mode == "rotation":
            return self.feature_net.rotation_logits(z)
        raise ValueError(f"unknown ESRGAN mode '{mode}'")

    def parameter_groups(self) -> list[list[nn.Parameter]]:
        """Generator, discriminator and (when trained here) feature network: one optimizer each."""
        groups = [list(self.generator.parameters()), list(self.discriminator.parameters())]
        if self.trains_features:
            groups.append(list(self.feature_net.parameters()))
        return groups


_KW = (
    "scale", "width", "growth", "blocks", "d_width", "perceptual",
    "pixel_weight", "perceptual_weight", "adv_weight",
)  # fmt: skip


@register_model(
    "esrgan",
    family="gan_diffusion",
    tasks=("restoration",),
    description="ESRGAN as published, small: RRDB generator (no BN), relativistic average "
    "VGG-style discriminator, L1 + perceptual + adversarial loss",
    default_img_size=48,
    min_img_size=8,
    card="32 channels, 3 RRDBs of 5-conv dense blocks (the paper: 64 x 23). Trained in two "
    "phases as in the paper: L1 only for the first half of the steps (PSNR-oriented), then "
    "0.01 L1 + 1 perceptual + 0.005 relativistic adversarial. Perceptual features: "
    "`--perceptual-weights PATH` (a torchvision VGG-19 state dict, safetensors or .pth) for the "
    "paper's conv5_4, otherwise a small VGG-style network trained by rotation prediction on "
    "the training images during the first phase; config.yaml and the report say which. A "
    "global bicubic skip (not in the paper) lets a short run start from bicubic. No 'flip' "
    "augmentation while the feature network learns rotations (it turns images by 90 degrees).",
    recipes={
        "small": Recipe(
            optimizer="adam", lr=5e-4, weight_decay=0.0, epochs=6, batch_size=16, augment="none"
        ),
    },
    bench_jobs=(
        {
            "task_options": {"degradation": "sr:2"},
            "in_quick": True,
            "quick": {"epochs": 6},
        },
    ),
)
def esrgan(task: str, in_chans: int = 3, img_size: int = 48, **kw) -> nn.Module:
    return ESRGAN(in_chans=in_chans, **{k: v for k, v in kw.items() if k in _KW})
