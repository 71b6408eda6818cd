"""DCGAN (Radford et al., ICLR 2016): transposed-convolution generator, strided-conv discriminator.

The paper's rules: no pooling (strided convolutions), batch norm in both nets except the
generator's output and the discriminator's input, ReLU in the generator with tanh at the end,
LeakyReLU(0.2) in the discriminator (plus a 3x3 convolution at full resolution at each end), Adam with lr 2e-4 and beta1 0.5. Both nets work at the
smallest power of two (at least 8) that holds the image and resize at the edges, so 8x8 digits
and 25x25 faces use the same code.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import Recipe, register_model


def power_of_two(size: int) -> int:
    p = 8
    while p < size:
        p *= 2
    return p


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


class DCGAN(nn.Module):
    adversarial = True
    find_unused_parameters = True  # under DDP: each forward uses one of the two networks

    def __init__(self, in_chans=1, img_size=8, z_dim: int = 64, width: int = 32, ema: float = 0.99):
        super().__init__()
        self.z_dim, self.img_size, self.in_chans = z_dim, img_size, in_chans
        self.work = power_of_two(img_size)
        n_up = self.work.bit_length() - 3  # 4x4 -> work: one x2 step per doubling
        chans = [width * 2 ** (n_up - i) for i in range(n_up + 1)]  # e.g. [4w, 2w, w]
        g: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, chans[0], 4, 1, 0, bias=False),
            nn.BatchNorm2d(chans[0]),
            nn.ReLU(True),
        ]
        for cin, cout in zip(chans, chans[1:]):
            g += [
                nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(True),
            ]
        g += [nn.Conv2d(chans[-1], in_chans, 3, 1, 1), nn.Tanh()]
        self.generator = nn.Sequential(*g)
        # Samples come from a moving average of the generator's weights (as in ProGAN,
        # Karras et al. 2018), which smooths out the GAN's oscillations.
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.ema_decay = ema
        self.register_buffer("ema_updates", torch.zeros((), dtype=torch.long))
        rev = chans[::-1]
        d: list[nn.Module] = [nn.Conv2d(in_chans, rev[0], 3, 1, 1), nn.LeakyReLU(0.2, True)]
        for cin, cout in zip(rev, rev[1:]):
            d += [
                nn.Conv2d(cin, cout, 4, 2, 1, bias=False),
                nn.BatchNorm2d(cout),
                nn.LeakyReLU(0.2, True),
            ]
        d += [nn.Conv2d(rev[-1], 1, 4, 1, 0)]
        self.discriminator_net = nn.Sequential(*d)

    def generate(self, z: torch.Tensor, ema: bool = False) -> torch.Tensor:
        """Latent codes [N, z_dim] -> images [N,C,H,W] in [0,1] at the data's size."""
        net = self.generator_ema if ema else self.generator
        x = net(z[:, :, None, None])
        return _resize((x + 1) / 2, self.img_size).clamp(0, 1)

    def discriminator(self, images: torch.Tensor) -> torch.Tensor:
        """Real/fake logits [N] for images in [0,1] at the data's size."""
        return self.discriminator_net(_resize(images, self.work) * 2 - 1).flatten()

    def forward(
        self, *x: torch.Tensor, mode: str = "generate"
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """`generate`: latent codes -> images; `discriminate`: images -> logits, one tensor per
        input (each its own BatchNorm batch). Both phases of a GAN step call this, so a DDP or
        compiled wrapper sees every use of both networks."""
        if mode == "generate":
            return self.generate(*x)
        if mode == "discriminate":
            out = tuple(self.discriminator(images) for images in x)
            return out[0] if len(out) == 1 else out
        raise ValueError(f"mode must be generate or discriminate, got '{mode}'")

    @torch.no_grad()
    def update_ema(self) -> None:
        """Called by the task after each generator step; warms up as (1 + n) / (10 + n)."""
        n = int(self.ema_updates)
        decay = min(self.ema_decay, (1 + n) / (10 + n))
        for e, p in zip(self.generator_ema.parameters(), self.generator.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(self.generator_ema.buffers(), self.generator.buffers()):
            e.copy_(b)
        self.ema_updates += 1

    def discriminator_parameters(self):
        return self.discriminator_net.parameters()

    def generator_parameters(self):
        return self.generator.parameters()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, **_) -> torch.Tensor:
        device = next(self.parameters()).device
        return self.generate(torch.randn(n, self.z_dim, generator=generator).to(device), ema=True)


@register_model(
    "dcgan",
    family="classic_gan",
    tasks=("generation",),
    description="DCGAN (Radford et al. 2016): all-convolutional generator and discriminator",
    default_img_size=8,
    card="Unconditional; works at the next power of two (>= 8 px) and resizes to the data size. "
    "Non-saturating GAN loss, Adam(2e-4, beta1 0.5) as in the paper.",
    recipes={
        "small": Recipe(
            optimizer="adam",
            lr=2e-4,
            weight_decay=0.0,
            epochs=120,
            batch_size=64,
            schedule="constant",
        ),
    },
    # Quick suite: the whole 120-epoch recipe, about a minute on one idle core (40 epochs gave
    # domain FID 76 against the Gaussian baseline's 595 at the quick evaluation's 200 samples).
    bench_jobs=({"data": "digits"},),
    model_args=("z_dim", "width"),
)
def dcgan(task: str, in_chans: int = 1, img_size: int = 8, **kw) -> nn.Module:
    return DCGAN(in_chans, img_size, **{k: v for k, v in kw.items() if k in ("z_dim", "width")})
