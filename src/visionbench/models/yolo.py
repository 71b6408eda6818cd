"""A YOLO-family detector written here from the papers (no Ultralytics code: it is AGPL).

The design is the one YOLOv8 popularised, assembled from its published parts:
- trunk and neck: CSP stages (Wang et al. 2020, CSPNet; the two-branch "C2f" variant keeps every
  bottleneck's output), spatial pyramid pooling with chained 5x5 max-pools (SPPF), and a PAN
  neck (Liu et al. 2018) that fuses top-down then bottom-up;
- head: anchor-free and decoupled (Ge et al. 2021, YOLOX): per pixel of each level, a class
  branch (sigmoid scores) and a box branch predicting the distances to the four sides as
  discrete distributions over `reg_max` bins (Li et al. 2020, generalized focal loss);
- assignment: task-aligned (Feng et al. 2021, TOOD): among anchor points inside a box, the top-k
  by score^alpha * IoU^beta become positives, an anchor claimed twice goes to the box it overlaps
  most, and the class target is that alignment normalised to the box's best IoU;
- losses: BCE on the soft class targets, CIoU (Zheng et al. 2020) on decoded boxes and the
  distribution focal loss on the side distances, both weighted by the class target.

`yolo_nano` and `yolo_small` differ in width (16 and 32 channels at stride 2). On small images
the pyramid starts at stride 4 (`strides=(4, 8, 16)`), on photos at stride 8 as in the paper.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import batched_nms, box_iou, complete_box_iou_loss

from .registry import Recipe, register_model


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU()
        )


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True):
        super().__init__()
        self.cv1, self.cv2 = ConvBNAct(c, c), ConvBNAct(c, c)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.shortcut else y


class CSPStage(nn.Module):
    """Split into two halves; bottlenecks run on one, every intermediate output is kept, all
    are concatenated and mixed by a 1x1 convolution (the C2f form of a CSP stage)."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True):
        super().__init__()
        self.c = cout // 2
        self.cv1 = ConvBNAct(cin, 2 * self.c, 1)
        self.blocks = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))
        self.cv2 = ConvBNAct((2 + n) * self.c, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = list(self.cv1(x).chunk(2, 1))
        for b in self.blocks:
            ys.append(b(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained 5x5 max-pools (receptive fields 5, 9, 13)."""

    def __init__(self, c: int):
        super().__init__()
        self.cv1, self.cv2 = ConvBNAct(c, c // 2, 1), ConvBNAct(c * 2, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(F.max_pool2d(y[-1], 5, 1, 2))
        return self.cv2(torch.cat(y, 1))


class Trunk(nn.Module):
    """Stride-2 stem, then four CSP stages at strides 4, 8, 16, 32 (SPPF on the last)."""

    def __init__(self, in_chans: int, widths: tuple[int, ...], depth: int):
        super().__init__()
        w = widths
        self.stem = ConvBNAct(in_chans, w[0], 3, 2)
        self.stages = nn.ModuleList(
            nn.Sequential(ConvBNAct(w[i], w[i + 1], 3, 2), CSPStage(w[i + 1], w[i + 1], depth))
            for i in range(4)
        )
        self.sppf = SPPF(w[4])
        self.channels = list(w[1:])  # strides 4, 8, 16, 32

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x, out = self.stem(x), []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        out[-1] = self.sppf(out[-1])
        return out


class PAN(nn.Module):
    """Top-down then bottom-up fusion of three levels (fine, mid, coarse)."""

    def __init__(self, ch: list[int], depth: int):
        super().__init__()
        c3, c4, c5 = ch
        self.td4 = CSPStage(c5 + c4, c4, depth, shortcut=False)
        self.td3 = CSPStage(c4 + c3, c3, depth, shortcut=False)
        self.down3 = ConvBNAct(c3, c3, 3, 2)
        self.bu4 = CSPStage(c3 + c4, c4, depth, shortcut=False)
        self.down4 = ConvBNAct(c4, c4, 3, 2)
        self.bu5 = CSPStage(c4 + c5, c5, depth, shortcut=False)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = feats
        t4 = self.td4(torch.cat([_up(p5, p4), p4], 1))
        n3 = self.td3(torch.cat([_up(t4, p3), p3], 1))
        n4 = self.bu4(torch.cat([_fit(self.down3(n3), t4), t4], 1))
        n5 = self.bu5(torch.cat([_fit(self.down4(n4), p5), p5], 1))
        return [n3, n4, n5]


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="nearest")


def _fit(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return x if x.shape[-2:] == like.shape[-2:] else _up(x, like)


class DecoupledHead(nn.Module):
    """Per level: a box branch (4 x reg_max side-distance logits) and a class branch."""

    def __init__(self, ch: list[int], num_classes: int, reg_max: int, strides: tuple[int, ...]):
        super().__init__()
        c2 = max(16, ch[0] // 4, reg_max * 4)
        c3 = max(ch[0], min(num_classes, 100))
        self.box = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, c2), ConvBNAct(c2, c2), nn.Conv2d(c2, 4 * reg_max, 1))
            for c in ch
        )
        self.cls = nn.ModuleList(
            nn.Sequential(ConvBNAct(c, c3), ConvBNAct(c3, c3), nn.Conv2d(c3, num_classes, 1))
            for c in ch
        )
        for b, c in zip(self.box, self.cls):
            nn.init.constant_(b[-1].bias, 1.0)
            nn.init.constant_(c[-1].bias, -math.log((1 - 0.01) / 0.01))  # prior p = 0.01

    def forward(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(side logits [N, A, 4*reg_max], class logits [N, A, K]) over all levels' pixels."""
        box = torch.cat([b(f).flatten(2) for b, f in zip(self.box, feats)], 2).transpose(1, 2)
        cls = torch.cat([c(f).flatten(2) for c, f in zip(self.cls, feats)], 2).transpose(1, 2)
        return box, cls


class YOLO(nn.Module):
    """torchvision's detection contract: `model(images, targets)` -> losses in training mode,
    `model(images)` -> [{"boxes", "scores", "labels"}] in eval mode; labels are 1..K."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        widths: tuple[int, ...] = (16, 32, 64, 128, 256),
        depth: int = 1,
        strides: tuple[int, ...] = (8, 16, 32),
        reg_max: int = 16,
        mean=None,
        std=None,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        gains: tuple[float, float, float] = (7.5, 0.5, 1.5),  # box, cls, dfl
        score_thresh: float = 0.01,
        nms_thresh: float = 0.6,
        detections_per_img: int = 100,
        max_size: int = 4096,
    ):
        super().__init__()
        if tuple(strides) not in ((4, 8, 16), (8, 16, 32)):
            raise ValueError(f"strides must be (4, 8, 16) or (8, 16, 32), got {strides}")
        self.num_classes, self.reg_max, self.strides = num_classes, reg_max, tuple(strides)
        self.first = {4: 0, 8: 1}[strides[0]]
        self.trunk = Trunk(in_chans, tuple(widths), depth)
        ch = self.trunk.channels[self.first : self.first + 3]
        self.neck = PAN(ch, depth)
        self.head = DecoupledHead(ch, num_classes, reg_max, self.strides)
        self.register_buffer("mean", torch.tensor(mean or [0.5] * in_chans).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std or [0.25] * in_chans).view(1, -1, 1, 1))
        self.register_buffer("bins", torch.arange(reg_max, dtype=torch.float32), persistent=False)
        self.topk, self.alpha, self.beta, self.gains = topk, alpha, beta, gains
        self.score_thresh, self.nms_thresh = score_thresh, nms_thresh
        self.detections_per_img = detections_per_img
        self.size_divisor = 32
        self.max_size = int(max_size)  # longer sides above this are scaled down, boxes mapped back

    # shared ------------------------------------------------------------------------------------
    def batch(self, images) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """Normalised images padded (bottom, right) to one size divisible by 32."""
        sizes = [tuple(im.shape[-2:]) for im in images]
        h = -(-max(s[0] for s in sizes) // self.size_divisor) * self.size_divisor
        w = -(-max(s[1] for s in sizes) // self.size_divisor) * self.size_divisor
        if isinstance(images, torch.Tensor) and images.shape[-2:] == (h, w):
            return (images - self.mean) / self.std, sizes
        x = images[0].new_zeros(len(images), images[0].shape[0], h, w)
        for i, im in enumerate(images):
            x[i, :, : im.shape[-2], : im.shape[-1]] = (im - self.mean[0]) / self.std[0]
        return x, sizes

    def raw(self, x: torch.Tensor):
        feats = self.trunk(x)[self.first : self.first + 3]
        box, cls = self.head(self.neck(feats))
        shapes = [(x.shape[-2] // s, x.shape[-1] // s) for s in self.strides]
        points, strides = anchor_points(shapes, self.strides)
        return box, cls, points.to(x), strides.to(x)

    def decode(self, box_logits: torch.Tensor, points, strides) -> torch.Tensor:
        """Expected side distances (in strides) -> xyxy boxes in pixels."""
        n, a, _ = box_logits.shape
        dist = box_logits.view(n, a, 4, self.reg_max).softmax(-1) @ self.bins.to(box_logits)
        lt, rb = dist[..., :2], dist[..., 2:]
        s = strides[None, :, None]
        return torch.cat([points - lt * s, points + rb * s], -1)

    def shrink(self, images, targets):
        """Images whose longer side exceeds max_size, scaled down (their boxes with them)."""
        scales = [min(1.0, self.max_size / max(im.shape[-2:])) for im in images]
        if all(s == 1.0 for s in scales):
            return images, targets, scales
        small = [
            F.interpolate(im[None], scale_factor=s, mode="bilinear", antialias=True)[0]
            if s < 1
            else im
            for im, s in zip(images, scales)
        ]
        if targets is not None:
            targets = [{**t, "boxes": t["boxes"] * s} for t, s in zip(targets, scales)]
        return small, targets, scales

    def forward(self, images, targets: list[dict] | None = None):
        images, targets, scales = self.shrink(images, targets)
        x, sizes = self.batch(images)
        box, cls, points, strides = self.raw(x)
        if self.training:
            if targets is None:
                raise ValueError("YOLO in training mode needs targets")
            return self.loss(box, cls, points, strides, targets)
        out = self.postprocess(box, cls, points, strides, sizes)
        for o, s in zip(out, scales):
            o["boxes"] = o["boxes"] / s
        return out

    # training ----------------------------------------------------------------------------------
    def loss(self, box_logits, cls_logits, points, strides, targets) -> dict[str, torch.Tensor]:
        box_logits, cls_logits = box_logits.float(), cls_logits.float()
        pred_boxes = self.decode(box_logits, points, strides)
        n, a, k = cls_logits.shape
        target_scores = torch.zeros_like(cls_logits)
        loss_box = cls_logits.new_zeros(())
        loss_dfl = cls_logits.new_zeros(())
        for i, t in enumerate(targets):
            gt_boxes, gt_labels = t["boxes"].to(points).reshape(-1, 4), t["labels"].reshape(-1)
            if len(gt_boxes) == 0:
                continue
            fg, gt_idx, score = self.assign(
                cls_logits[i].detach().sigmoid(),
                pred_boxes[i].detach(),
                points,
                gt_boxes,
                gt_labels - 1,
            )
            if not fg.any():
                continue
            target_scores[i, fg, gt_labels[gt_idx] - 1] = score
            tb = gt_boxes[gt_idx]
            weight = score
            ciou = complete_box_iou_loss(pred_boxes[i, fg], tb, reduction="none")
            loss_box = loss_box + (ciou * weight).sum()
            loss_dfl = (
                loss_dfl + (self.dfl(box_logits[i, fg], points[fg], strides[fg], tb) * weight).sum()
            )
        norm = target_scores.sum().clamp(min=1)
        loss_cls = F.binary_cross_entropy_with_logits(cls_logits, target_scores, reduction="sum")
        gb, gc, gd = self.gains
        return {
            "loss_box": gb * loss_box / norm,
            "loss_cls": gc * loss_cls / norm,
            "loss_dfl": gd * loss_dfl / norm,
        }

    @torch.no_grad()
    def assign(self, scores, pred_boxes, points, gt_boxes, gt_classes):
        """Task-aligned assignment for one image -> (foreground mask [A], the gt index of each
        foreground anchor, its class target: alignment normalised to the gt's best IoU)."""
        inside = (
            (points[None, :, 0] > gt_boxes[:, None, 0])
            & (points[None, :, 1] > gt_boxes[:, None, 1])
            & (points[None, :, 0] < gt_boxes[:, None, 2])
            & (points[None, :, 1] < gt_boxes[:, None, 3])
        )  # [M, A] candidates: anchor points inside the box
        empty = ~inside.any(1)
        if empty.any():  # a box too small to hold a point: its nearest point is the candidate
            centres = (gt_boxes[empty, :2] + gt_boxes[empty, 2:]) / 2
            inside[empty.nonzero()[:, 0], torch.cdist(centres, points).argmin(1)] = True
        iou = box_iou(gt_boxes, pred_boxes).clamp(min=0)  # [M, A]
        cls_score = scores[:, gt_classes].T  # [M, A]
        align = cls_score.pow(self.alpha) * iou.pow(self.beta) * inside
        k = min(self.topk, align.shape[1])
        top = align.topk(k, dim=1).indices
        pos = torch.zeros_like(inside)
        pos.scatter_(1, top, True)
        pos &= inside
        claimed = pos.sum(0) > 1  # one anchor, several boxes: the box it overlaps most
        if claimed.any():
            best = iou.argmax(0)
            pos[:, claimed] = False
            pos[best[claimed], claimed.nonzero()[:, 0]] = True
        fg = pos.any(0)
        gt_idx = pos.float().argmax(0)[fg]
        align = align * pos
        max_align = align.amax(1, keepdim=True).clamp(min=1e-9)
        max_iou = (iou * pos).amax(1, keepdim=True)
        norm = (align / max_align * max_iou).amax(0)  # [A]
        return fg, gt_idx, norm[fg].clamp(min=1e-3)

    def dfl(self, logits, points, strides, boxes) -> torch.Tensor:
        """Distribution focal loss: cross-entropy to the two bins around each true distance."""
        s = strides[:, None]
        target = torch.cat([points - boxes[:, :2], boxes[:, 2:] - points], 1) / s
        target = target.clamp(0, self.reg_max - 1 - 0.01)
        left = target.long()
        w_right = target - left
        logits = logits.view(-1, self.reg_max)
        left, w_right = left.view(-1), w_right.view(-1)
        ce_l = F.cross_entropy(logits, left, reduction="none")
        ce_r = F.cross_entropy(logits, left + 1, reduction="none")
        return (ce_l * (1 - w_right) + ce_r * w_right).view(-1, 4).mean(1)

    # inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def postprocess(self, box_logits, cls_logits, points, strides, sizes) -> list[dict]:
        boxes = self.decode(box_logits.float(), points, strides)
        scores = cls_logits.float().sigmoid()
        out = []
        for b, s, (h, w) in zip(boxes, scores, sizes):
            flat = s.flatten()
            keep = flat > self.score_thresh
            idx = keep.nonzero()[:, 0]
            if len(idx) > 1000:
                idx = idx[flat[idx].topk(1000).indices]
            anchor, label = idx // self.num_classes, idx % self.num_classes
            bx = b[anchor].clone()
            bx[:, 0::2] = bx[:, 0::2].clamp(0, w)
            bx[:, 1::2] = bx[:, 1::2].clamp(0, h)
            sc = flat[idx]
            kept = batched_nms(bx, sc, label, self.nms_thresh)[: self.detections_per_img]
            out.append({"boxes": bx[kept], "scores": sc[kept], "labels": label[kept] + 1})
        return out


def anchor_points(shapes, strides) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres of every level's grid cells [A, 2] (x, y) and their strides [A]."""
    pts, st = [], []
    for (h, w), s in zip(shapes, strides):
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        pts.append(torch.stack([xs, ys], -1).view(-1, 2).float().add(0.5).mul(s))
        st.append(torch.full((h * w,), float(s)))
    return torch.cat(pts), torch.cat(st)


# 1,000 scenes of 64 px, batch 8 (125 steps an epoch): batch 8 beat 16 at equal epochs.
YOLO_SMALL = Recipe(
    optimizer="adamw",
    lr=2e-3,
    weight_decay=5e-4,
    epochs=12,
    batch_size=8,
    schedule="cosine",
    warmup_epochs=0.5,
    augment="hflip",
)
YOLO_MEDIUM = Recipe(
    optimizer="sgd",
    lr=0.01,
    weight_decay=5e-4,
    epochs=100,
    batch_size=16,
    schedule="cosine",
    warmup_epochs=3,
    augment="hflip_scale",
)
CARD = (
    "Written here from the papers (CSP trunk, PAN neck, decoupled anchor-free head, task-aligned "
    "assignment, CIoU + distribution focal loss). Any input size (padded to a multiple of 32). "
    "Pyramid at strides 4/8/16 for images up to 128 px, 8/16/32 above (model arg strides=)."
)


def _strides(img_size: int, strides) -> tuple[int, ...]:
    if strides:
        return tuple(int(s) for s in strides)
    return (4, 8, 16) if img_size <= 128 else (8, 16, 32)


@register_model(
    "yolo_nano",
    family="modern_cnn",
    tasks=("detection",),
    source="visionbench (YOLOv8-style design from the papers; no Ultralytics code)",
    description="YOLO-family one-stage detector: CSP trunk (16-256 channels), PAN, decoupled "
    "anchor-free head, task-aligned assigner, CIoU + DFL",
    default_img_size=64,
    min_img_size=32,
    card=CARD,
    recipes={"small": YOLO_SMALL, "medium": YOLO_MEDIUM},
    # the quick suite's detector: 2 epochs (250 steps) outside the shared time budget
    bench_jobs=({"task": "detection", "in_quick": True, "quick": {"epochs": 2}},),
)
def yolo_nano(task, num_classes, in_chans, img_size, strides=None, **kw) -> nn.Module:
    return YOLO(num_classes, in_chans, (16, 32, 64, 128, 256), 1, _strides(img_size, strides), **kw)


@register_model(
    "yolo_small",
    family="modern_cnn",
    tasks=("detection",),
    source="visionbench (YOLOv8-style design from the papers; no Ultralytics code)",
    description="yolo_nano at twice the width (32-512 channels)",
    default_img_size=64,
    min_img_size=32,
    card=CARD,
    recipes={"small": YOLO_SMALL, "medium": YOLO_MEDIUM},
    bench_jobs=({"task": "detection", "in_quick": False},),
)
def yolo_small(task, num_classes, in_chans, img_size, strides=None, **kw) -> nn.Module:
    return YOLO(
        num_classes, in_chans, (32, 64, 128, 256, 512), 1, _strides(img_size, strides), **kw
    )
