"""CapsNet with dynamic routing (Sabour, Frosst & Hinton, NeurIPS 2017), written here.

No maintained library ships capsule networks, so the pieces follow the paper directly:
a ReLU convolution, primary capsules (a convolution whose channels are grouped into 8-D vectors
and squashed), class capsules computed by routing-by-agreement (3 iterations), the margin loss
on capsule lengths, and a fully connected decoder that reconstructs the input from the true
class's capsule as a regulariser. The class score is the capsule length; `forward` returns its
logarithm, so argmax is the paper's prediction and softmax gives lengths normalised to sum 1.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import Recipe, register_model


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-8) -> torch.Tensor:
    """Eq. 1: keep the direction, map the length to |s|^2 / (1 + |s|^2)."""
    sq = (s * s).sum(dim, keepdim=True)
    return s * (sq / (1.0 + sq)) / torch.sqrt(sq + eps)


def dynamic_routing(u_hat: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """Procedure 1: predictions u_hat [B, N_in, N_out, D] -> output capsules v [B, N_out, D].

    Logits b start at 0; each iteration takes coupling coefficients c = softmax_j(b), forms
    s_j = sum_i c_ij u_hat_j|i, squashes it, and raises b_ij by the agreement u_hat_j|i . v_j.
    """
    b = u_hat.new_zeros(u_hat.shape[:3])
    for it in range(iterations):
        c = b.softmax(dim=2)
        v = squash((c.unsqueeze(-1) * u_hat).sum(dim=1))
        if it < iterations - 1:
            b = b + (u_hat * v.unsqueeze(1)).sum(-1)
    return v


def margin_loss(
    lengths: torch.Tensor,
    target: torch.Tensor,
    m_pos: float = 0.9,
    m_neg: float = 0.1,
    lam: float = 0.5,
) -> torch.Tensor:
    """Eq. 4, summed over classes and averaged over the batch."""
    t = F.one_hot(target, lengths.shape[1]).to(lengths.dtype)
    loss = t * F.relu(m_pos - lengths) ** 2 + lam * (1 - t) * F.relu(lengths - m_neg) ** 2
    return loss.sum(1).mean()


class CapsNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 28,
        conv_channels: int = 256,
        conv_kernel: int = 9,
        primary_types: int = 32,
        primary_dim: int = 8,
        primary_kernel: int = 9,
        primary_stride: int = 2,
        class_dim: int = 16,
        routing_iterations: int = 3,
        decoder_hidden: tuple[int, int] = (512, 1024),
        recon_weight: float = 0.0005,
    ):
        super().__init__()
        self.img_shape = (in_chans, img_size, img_size)
        self.primary_dim, self.routing_iterations = primary_dim, routing_iterations
        self.recon_weight = recon_weight
        self.conv = nn.Conv2d(in_chans, conv_channels, conv_kernel)
        self.primary = nn.Conv2d(
            conv_channels, primary_types * primary_dim, primary_kernel, stride=primary_stride
        )
        grid = (img_size - conv_kernel + 1 - primary_kernel) // primary_stride + 1
        n_primary = primary_types * grid * grid
        # W_ij: one 8x16 transform per (primary capsule, class capsule) pair. Scaled by
        # 4/sqrt(N) so class capsules start near length 0.2 whatever the capsule count N; at
        # a fixed small scale they start near 0, where squash's gradient vanishes.
        w = torch.randn(n_primary, num_classes, class_dim, primary_dim) * 4 / n_primary**0.5
        self.W = nn.Parameter(w)
        h1, h2 = decoder_hidden
        self.decoder = nn.Sequential(
            nn.Linear(num_classes * class_dim, h1),
            nn.ReLU(inplace=True),
            nn.Linear(h1, h2),
            nn.ReLU(inplace=True),
            nn.Linear(h2, in_chans * img_size * img_size),
        )

    def capsules(self, x: torch.Tensor) -> torch.Tensor:
        """Class capsules v [B, classes, class_dim]."""
        p = self.primary(F.relu(self.conv(x)))  # B, types*dim, H, W
        b, _, h, w = p.shape
        u = p.view(b, -1, self.primary_dim, h, w).permute(0, 1, 3, 4, 2)
        # Routing sums thousands of votes and compares their agreement over 3 rounds: under
        # bf16/fp16 autocast that loses the small differences it runs on, so it stays in fp32.
        with torch.autocast(x.device.type, enabled=False):
            u = squash(u.reshape(b, -1, self.primary_dim).float())  # B, N, dim
            u_hat = torch.einsum("njdk,bnk->bnjd", self.W.float(), u)
            return dynamic_routing(u_hat, self.routing_iterations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log(self.capsules(x).norm(dim=-1).clamp_min(1e-12))

    def reconstruct(self, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Decode from the capsule of `labels` only (the others are masked to zero)."""
        mask = F.one_hot(labels, v.shape[1]).to(v.dtype).unsqueeze(-1)
        return self.decoder((v * mask).flatten(1)).view(-1, *self.img_shape)

    def training_loss(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Margin loss + recon_weight * summed squared reconstruction error (Sec. 4.1)."""
        v = self.capsules(x)
        recon = self.reconstruct(v, target)
        sse = ((recon - x) ** 2).flatten(1).sum(1).mean()
        return margin_loss(v.norm(dim=-1), target) + self.recon_weight * sse


SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=1e-4,
    epochs=20,
    batch_size=64,
    schedule="onecycle",
    augment="shift",
)
MEDIUM = Recipe(
    optimizer="adamw",
    lr=1e-3,
    weight_decay=1e-4,
    epochs=10,
    batch_size=128,
    schedule="onecycle",
    augment="shift",
)
_CARD = (
    "Predictions are the class capsules' lengths (the model returns their log). The decoder "
    "reconstructs the normalised input, so it is built for one input size: the capsule count "
    "and decoder output depend on img_size."
)


@register_model(
    "capsnet_tiny",
    family="capsule",
    tasks=("classification",),
    description="CapsNet, 3x3 kernels: 64-ch conv, 16 primary capsule types (8-D), 16-D class "
    "capsules, 3 routing iterations, 128-256 decoder",
    default_img_size=32,
    min_img_size=8,
    card="Quick-suite CapsNet; inputs of 8 px and up are used at native size. " + _CARD,
    recipes={"small": SMALL, "medium": MEDIUM},
)
def capsnet_tiny(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    cfg = dict(
        conv_channels=64,
        conv_kernel=3,
        primary_types=16,
        primary_kernel=3,
        primary_stride=2,
        decoder_hidden=(128, 256),
    )
    return CapsNet(num_classes, in_chans, img_size, **(cfg | kw))


@register_model(
    "capsnet",
    family="capsule",
    tasks=("classification",),
    description="CapsNet as in Sabour et al. 2017: 256-ch 9x9 conv, 32x6x6 primary 8-D "
    "capsules at 28 px, 16-D class capsules, 3 routing iterations, 512-1024 decoder",
    default_img_size=28,
    min_img_size=20,
    card="The paper's configuration (28x28 MNIST gives 1,152 primary capsules); inputs smaller "
    "than 20 px are resized to 20x20. " + _CARD,
    recipes={"small": SMALL, "medium": MEDIUM},
)
def capsnet(task: str, num_classes: int, in_chans: int, img_size: int, **kw) -> nn.Module:
    return CapsNet(num_classes, in_chans, img_size, **kw)
