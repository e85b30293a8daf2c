"""Small network definitions used across the workbook (CPU-sized)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DigitCNN(nn.Module):
    """A compact CNN for ``(n, 1, 28, 28)`` float images in [0, 1] (MNIST-sized).

    Two conv blocks (32 and 64 channels, 3x3, batch norm, ReLU, max-pool) then a
    third conv block with global average pooling gives a ``width``-channel feature,
    projected to an ``embed_dim`` embedding; ``head`` maps the embedding to
    ``n_classes`` logits. ``embed(x)`` returns the (unnormalised) embedding,
    ``forward(x)`` the logits. About 60k parameters at the defaults.

    ``pool_size=1`` is global average pooling (any input size, translation-invariant);
    ``pool_size=3`` keeps a coarse 3x3 layout of the last feature map before the
    projection, which learns MNIST faster (the t01 network uses it).
    """

    def __init__(self, n_classes: int = 10, embed_dim: int = 64, width: int = 64, in_channels: int = 1,
                 pool_size: int = 1):
        super().__init__()
        for name, v in (("n_classes", n_classes), ("embed_dim", embed_dim), ("width", width),
                        ("in_channels", in_channels), ("pool_size", pool_size)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"DigitCNN: {name} must be a positive int, got {v!r}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(64, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
        )
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.project = nn.Linear(width * pool_size * pool_size, embed_dim)
        self.head = nn.Linear(embed_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, in_channels, H, W)`` float -> ``(n, embed_dim)`` non-negative embedding."""
        if x.ndim != 4:
            raise ValueError(f"DigitCNN expects (n, C, H, W) input, got shape {tuple(x.shape)}")
        h = self.pool(self.features(x)).flatten(1)
        return F.relu(self.project(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class TinyCNN(nn.Module):
    """A very small CNN (two 3x3 conv layers of ``c1``/``c2`` channels, global average
    pooling, one linear head) for ``(n, in_channels, H, W)`` images: about 1.5k parameters
    at the defaults. The student in knowledge distillation. ``embed`` and ``forward``
    behave as in ``DigitCNN``.
    """

    def __init__(self, n_classes: int = 10, c1: int = 8, c2: int = 16, in_channels: int = 1):
        super().__init__()
        for name, v in (("n_classes", n_classes), ("c1", c1), ("c2", c2), ("in_channels", in_channels)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"TinyCNN: {name} must be a positive int, got {v!r}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(c2 * 4, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"TinyCNN expects (n, C, H, W) input, got shape {tuple(x.shape)}")
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))
