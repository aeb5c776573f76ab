"""Noise for population planners: truncated Gaussians inside box bounds and coloured noise."""

from __future__ import annotations

import torch
from torch import Tensor


def bounded_normal(mean: Tensor, std: Tensor, low: Tensor, high: Tensor, num_samples: int,
                   generator: torch.Generator, noise: Tensor | None = None) -> Tensor:
    """``num_samples`` draws ``[N, *mean.shape]`` around ``mean`` that never leave ``[low, high]``.

    As in PETS (Chua et al. 2018), the standard deviation is first shrunk to at most half the
    distance to the nearer bound, then a standard normal truncated to [-2, 2] is scaled by it,
    so no sample is clipped. ``noise`` (same shape as the output, unit variance) replaces the
    truncated normal, e.g. coloured noise; it is clipped to [-2, 2] (resampling would break its
    correlation over time), which keeps samples inside the bounds the same way.
    """
    std = torch.minimum(std, torch.minimum(mean - low, high - mean).clamp(min=0.0) / 2)
    if noise is None:
        noise = torch.empty((num_samples, *mean.shape), dtype=mean.dtype)
        torch.nn.init.trunc_normal_(noise, a=-2.0, b=2.0, generator=generator)
    else:
        noise = noise.clamp(-2.0, 2.0)
    return torch.clamp(mean + std * noise, low, high)  # clamp only absorbs rounding


def coloured_noise(beta: float, num_samples: int, horizon: int, action_dim: int,
                   generator: torch.Generator, dtype: torch.dtype = torch.float32) -> Tensor:
    """Unit-variance Gaussian noise ``[N, H, A]`` with power spectrum ~ 1/f^beta along time.

    beta = 0 is white noise; larger beta gives smoother, lower-frequency sequences (iCEM,
    Pinneri et al. 2020, use beta ~ 2 to 2.5 for locomotion). Drawn in the frequency domain and
    transformed with one inverse real FFT, so it costs no Python loop over samples or time.
    """
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    freqs = torch.fft.rfftfreq(horizon, dtype=torch.float64)
    freqs[0] = freqs[1] if horizon > 1 else 1.0  # the constant component gets the lowest weight
    scale = freqs.pow(-beta / 2.0)
    shape = (num_samples, action_dim, freqs.shape[0])
    real = torch.randn(shape, generator=generator, dtype=torch.float64)
    imag = torch.randn(shape, generator=generator, dtype=torch.float64)
    imag[..., 0] = 0.0
    if horizon % 2 == 0:
        imag[..., -1] = 0.0
    signal = torch.fft.irfft(torch.complex(real, imag) * scale, n=horizon)  # [N, A, H]
    # per time point, the variance of H * signal: 1 * scale^2 for the real-only bins (the
    # constant one, and the Nyquist one when H is even), 4 * scale^2 for the others
    bin_weight = torch.full_like(scale, 4.0)
    bin_weight[0] = 1.0
    if horizon % 2 == 0:
        bin_weight[-1] = 1.0
    variance = (bin_weight * scale.square()).sum()
    signal = signal * horizon / variance.sqrt()
    return signal.transpose(1, 2).to(dtype).contiguous()
