"""Per-dimension standardisation whose statistics live in the owner's ``state_dict``."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class Normalizer(nn.Module):
    """``(x - mean) / std`` over the last dimension ``[..., D]``, optionally clamped to
    ``[-clip, clip]``, with ``std = sqrt(var + variance_eps)`` and dimensions whose std is
    below ``min_std`` left unscaled (std 1).

    Two ways to set the statistics: :meth:`fit` replaces them by those of a data set (dynamics
    models and values, refitted to their training data at every fit) and :meth:`update` merges
    a batch into running statistics (Chan et al.'s parallel algorithm; PPO's observation and
    reward normalisation). The statistics are kept in ``dtype``; ``std`` is derived in the
    dtype of the inputs it scales (``float32``).
    """

    def __init__(self, dim: int, min_std: float = 1e-6, clip: float | None = None,
                 variance_eps: float = 0.0, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        if min_std < 0 or variance_eps < 0 or (clip is not None and clip <= 0):
            raise ValueError(f"need min_std >= 0, variance_eps >= 0 and clip > 0 or None, got "
                             f"{min_std}, {variance_eps}, {clip}")
        self.min_std, self.clip, self.variance_eps = min_std, clip, variance_eps
        self.register_buffer("mean", torch.zeros(dim, dtype=dtype))
        self.register_buffer("var", torch.ones(dim, dtype=dtype))
        # a running count starts near 0 so that the first update sets the statistics
        self.register_buffer("count", torch.tensor(1e-4, dtype=dtype))
        self.register_buffer("std", torch.ones(dim))
        self._refresh_std()

    @property
    def dim(self) -> int:
        return self.mean.shape[0]

    def _refresh_std(self, std: Tensor | None = None) -> None:
        """``std`` from the variance (or as given), with dimensions below ``min_std`` set to 1."""
        if std is None:
            std = torch.sqrt(self.var.to(self.std.dtype) + self.variance_eps)
        self.std.copy_(torch.where(std < self.min_std, torch.ones_like(std), std))

    def _check(self, data: Tensor) -> Tensor:
        if data.ndim != 2 or data.shape[1] != self.dim or data.shape[0] < 1:
            raise ValueError(f"Normalizer expects [N, {self.dim}] with N >= 1, "
                             f"got {tuple(data.shape)}")
        return data.to(self.mean.dtype)

    @torch.no_grad()
    def fit(self, data: Tensor) -> None:
        """Replace the statistics by those of ``data [N, D]``."""
        data = self._check(data)
        std = data.std(dim=0, unbiased=False)
        self.mean.copy_(data.mean(dim=0))
        self.var.copy_(std.square())
        self.count.fill_(data.shape[0])
        self._refresh_std(torch.sqrt(std.square().to(self.std.dtype) + self.variance_eps)
                          if self.variance_eps else std.to(self.std.dtype))

    @torch.no_grad()
    def update(self, batch: Tensor) -> None:
        """Merge ``batch [..., D]`` into the running statistics."""
        batch = self._check(batch.reshape(-1, self.dim))
        count = batch.shape[0]
        mean, var = batch.mean(0), batch.var(0, unbiased=False)
        total = self.count + count
        delta = mean - self.mean
        self.mean += delta * count / total
        self.var.copy_((self.var * self.count + var * count
                        + delta.square() * self.count * count / total) / total)
        self.count.copy_(total)
        self._refresh_std()

    @torch.no_grad()
    def reset(self) -> None:
        """Back to the identity: mean 0, std 1, no data counted."""
        self.mean.zero_()
        self.var.fill_(1.0)
        self.count.fill_(1e-4)
        self._refresh_std()

    def normalize(self, x: Tensor) -> Tensor:
        scaled = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return scaled if self.clip is None else scaled.clamp(-self.clip, self.clip)

    def denormalize(self, x: Tensor) -> Tensor:
        return x * self.std.to(x.dtype) + self.mean.to(x.dtype)
