"""Per-dimension standardisation whose statistics are saved inside the model's state_dict."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Normalizer(nn.Module):
    """``(x - mean) / std`` over the last dimension ``[..., D]``; constant dims get std 1."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, data: Tensor) -> None:
        """Set the statistics from ``data [N, D]``."""
        if data.ndim != 2 or data.shape[1] != self.mean.shape[0] or data.shape[0] < 1:
            raise ValueError(f"Normalizer.fit expects [N, {self.mean.shape[0]}] with N >= 1, "
                             f"got {tuple(data.shape)}")
        data = data.to(self.mean.dtype)
        std = data.std(dim=0, unbiased=False)
        self.mean.copy_(data.mean(dim=0))
        self.std.copy_(torch.where(std < self.eps, torch.ones_like(std), std))

    @torch.no_grad()
    def reset(self) -> None:
        """Back to the identity: mean 0, std 1."""
        self.mean.zero_()
        self.std.fill_(1.0)

    def normalize(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.std + self.mean
