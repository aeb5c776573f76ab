"""Noise for population planners: Gaussians clipped into box bounds and coloured noise."""

from __future__ import annotations

import torch
from torch import Tensor


def bounded_normal(mean: Tensor, std: Tensor, low: Tensor, high: Tensor, num_samples: int,
                   generator: torch.Generator, noise: Tensor | None = None) -> Tensor:
    """``num_samples`` draws ``[N, *mean.shape]`` of ``clip(mean + std * noise, low, high)``.

    ``noise`` is a standard normal, or the unit-variance noise given (same shape as the
    output, e.g. coloured noise for iCEM). Samples beyond a bound are clipped onto it, as in
    iCEM (Pinneri et al. 2020) and mbrl-lib's CEM with ``clipped_normal``: the distribution
    keeps its full ``std`` wherever its mean is, so a mean at a bound still samples half of its
    candidates inside and can leave the bound, and a bang-bang optimum (an action on its bound)
    is represented exactly by the clipped samples, so the elites can concentrate on it.

    (PETS, Chua et al. 2018, instead shrinks the std to half the distance from the mean to the
    nearer bound; once the mean reaches a bound that std is zero and the mean cannot leave.)
    """
    if noise is None:
        noise = torch.randn((num_samples, *mean.shape), generator=generator, dtype=mean.dtype)
    elif tuple(noise.shape) != (num_samples, *mean.shape):
        raise ValueError(f"noise must be [{num_samples}, {', '.join(map(str, mean.shape))}] "
                         f"(num_samples, *mean.shape), got {list(noise.shape)}")
    return torch.clamp(mean + std * noise, low, high)


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
