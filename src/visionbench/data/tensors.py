"""In-memory datasets: small sets live as tensors so batches are slices, not Python collation."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class TensorSet(Dataset):
    """Images [N,C,H,W] float in [0,1] with optional labels [N]; indexable by tensors of indices."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None):
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i):
        if self.labels is None:
            return self.images[i]
        return self.images[i], self.labels[i]

    def batch(self, idx: torch.Tensor):
        return self[idx]

    def subset(self, idx) -> TensorSet:
        idx = torch.as_tensor(np.asarray(idx), dtype=torch.long)
        return TensorSet(self.images[idx], None if self.labels is None else self.labels[idx])


class ImageListSet(Dataset):
    """Whole images of different sizes (restoration test photos); evaluated one at a time."""

    def __init__(self, images: list[torch.Tensor], names: list[str] | None = None):
        self.images = images
        self.names = names or [f"img{i:03d}" for i in range(len(images))]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def to_chw_float(array: np.ndarray, max_value: float = 255.0) -> torch.Tensor:
    """uint8-like images [N,H,W] or [N,H,W,C] -> float32 [N,C,H,W] in [0,1]."""
    a = np.asarray(array, dtype=np.float32) / max_value
    if a.ndim == 3:
        a = a[:, None]
    else:
        a = a.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(a))
