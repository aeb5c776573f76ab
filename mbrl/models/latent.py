"""Latent world models (reference 003 §5.3.4, eq. 5.3.6, Alg. 26; Watter et al. 2015;
latent overshooting: Hafner et al. 2019, PlaNet).

An encoder ``g_psi(o_t) -> s_t`` (convolutional for ``[C, 64, 64]`` pixels, an MLP for vectors),
latent dynamics ``s_{t+1} = s_t + f_phi(s_t, a_t)``, a reward model ``r_theta(s_t, a_t)`` and a
decoder ``p(o_t | s_t)`` (the newest frame, for pixels).

The loss is eq. 5.3.6 (reconstruction of ``o_t`` from ``g(o_t)``, the latent prediction error
``||f(s_t, a_t) - g(o_{t+1})||^2`` and the reward error) generalised to multi-step prediction
("overshooting"): the latent is rolled ``K`` steps from ``g(o_t)`` with the real actions, and
every predicted latent is regressed onto the encoding of the real observation, scored on reward
and (with ``prediction_weight > 0``) decoded against the real frame. This keeps plans over a
horizon accurate, not only one step. The stochastic variant encodes a diagonal Gaussian
``q(s_t | o_t)``, samples it by reparameterisation and adds ``kl_weight * KL(q || N(0, I))``
(with ``free_nats`` below which the KL is not penalised).

``LatentWorldModel.step`` and ``.reward`` are a ``planners.Problem`` dynamics and reward over
latent states, so any planner plans in latent space unchanged
(:class:`mbrl.policies.LatentMPC`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mbrl.nn import mlp
from planners import Problem


@dataclass
class LatentModelConfig:
    latent_dim: int = 32  # size of the latent state
    channels: tuple[int, ...] = (16, 32, 64, 128)  # conv encoder widths (pixels)
    hidden: int = 200  # dynamics / reward / vector-encoder MLP width
    stochastic: bool = False  # Gaussian encoder with a KL term (else deterministic)
    kl_weight: float = 1.0  # weight of the KL term (stochastic)
    free_nats: float = 1.0  # KL below this is not penalised (stochastic)
    latent_weight: float = 1.0  # weight of the latent prediction error
    reward_weight: float = 1.0  # weight of the reward error
    # weight of the decoded K-step predictions; 0 keeps eq. 5.3.6's terms only (reconstruction
    # of o_0, latent prediction, reward) and skips decoding K frames per window, most of the cost
    prediction_weight: float = 1.0
    overshooting: int = 10  # K: steps of open-loop latent prediction in the loss
    learning_rate: float = 1e-3  # Adam step size

    def validate(self) -> None:
        if self.latent_dim < 1 or self.hidden < 1 or self.overshooting < 1:
            raise ValueError("latent_dim, hidden and overshooting must be >= 1")
        if self.prediction_weight < 0:
            raise ValueError(f"prediction_weight must be >= 0, got {self.prediction_weight}")
        if len(self.channels) != 4:
            raise ValueError(f"channels must list 4 conv widths, got {self.channels}")


def pixels_to_float(obs: Tensor) -> Tensor:
    """``uint8`` pixels to floats in ``[-0.5, 0.5]``."""
    return obs.float() / 255.0 - 0.5


class ConvEncoder(nn.Module):
    """``[B, C, 64, 64]`` -> ``[B, out]``: four 4x4 stride-2 convolutions and a linear layer
    (none when ``out`` is the flattened ``channels[-1] x 2 x 2`` map already, as PlaNet's)."""

    def __init__(self, in_channels: int, channels: tuple[int, ...], out: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in channels:
            layers += [nn.Conv2d(in_channels, width, 4, stride=2), nn.ReLU()]
            in_channels = width
        self.convs = nn.Sequential(*layers, nn.Flatten())
        flat = channels[-1] * 2 * 2
        self.head = nn.Identity() if out == flat else nn.Linear(flat, out)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.convs(x))


class ConvDecoder(nn.Module):
    """``[B, latent]`` -> ``[B, 3, 64, 64]`` (mirror of :class:`ConvEncoder`)."""

    def __init__(self, latent_dim: int, channels: tuple[int, ...], out_channels: int = 3) -> None:
        super().__init__()
        widths = list(reversed(channels))
        self.project = nn.Linear(latent_dim, widths[0] * 4)
        self.first = widths[0]
        layers: list[nn.Module] = []
        kernels = (5, 5, 6, 6)  # 1 -> 5 -> 13 -> 30 -> 64 from a 1x1 map, as in PlaNet
        in_channels = widths[0] * 4
        for index, kernel in enumerate(kernels):
            last = index == len(kernels) - 1
            width = out_channels if last else widths[min(index + 1, len(widths) - 1)]
            layers.append(nn.ConvTranspose2d(in_channels, width, kernel, stride=2))
            if not last:
                layers.append(nn.ReLU())
            in_channels = width
        self.deconvs = nn.Sequential(*layers)

    def forward(self, latent: Tensor) -> Tensor:
        return self.deconvs(self.project(latent)[:, :, None, None])


class LatentWorldModel(nn.Module):
    """Encoder, latent dynamics, reward and decoder trained jointly (eq. 5.3.6, overshooting).

    ``obs_shape`` is ``(C, 64, 64)`` for pixels (``uint8``; the decoder predicts the last three
    channels, i.e. the newest frame) or ``(S,)`` for vectors.
    """

    def __init__(self, obs_shape: tuple[int, ...], act_dim: int,
                 config: LatentModelConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LatentModelConfig()
        config.validate()
        self.obs_shape, self.act_dim = tuple(obs_shape), int(act_dim)
        self.pixels = len(self.obs_shape) == 3
        if self.pixels and self.obs_shape[1:] != (64, 64):
            raise ValueError(f"pixel observations must be [C, 64, 64], got {self.obs_shape}")
        if not self.pixels and len(self.obs_shape) != 1:
            raise ValueError(f"observations must be [C, 64, 64] or [S], got {self.obs_shape}")
        z = config.latent_dim
        encoder_out = 2 * z if config.stochastic else z
        if self.pixels:
            self.encoder: nn.Module = ConvEncoder(self.obs_shape[0], tuple(config.channels),
                                                  encoder_out)
            self.decoder: nn.Module = ConvDecoder(z, tuple(config.channels))
        else:
            self.encoder = mlp([self.obs_shape[0], config.hidden, config.hidden, encoder_out],
                               "elu")
            self.decoder = mlp([z, config.hidden, config.hidden, self.obs_shape[0]], "elu")
        self.dynamics = mlp([z + act_dim, config.hidden, config.hidden, z], "elu")
        self.reward_head = mlp([z + act_dim, config.hidden, config.hidden, 1], "elu")

    # ----- model pieces (the Problem interface) --------------------------------------------
    def _prepare(self, obs: Tensor) -> Tensor:
        return pixels_to_float(obs) if self.pixels else obs.float()

    def _target(self, obs: Tensor) -> Tensor:
        """What the decoder reconstructs: the newest frame (pixels) or the observation."""
        return self._prepare(obs)[:, -3:] if self.pixels else obs.float()

    def encode_distribution(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` ``[B, Z]`` of ``q(s | o)`` (std 0 for the deterministic encoder)."""
        out = self.encoder(self._prepare(obs))
        if not self.config.stochastic:
            return out, torch.zeros_like(out)
        mean, raw_std = out.chunk(2, dim=-1)
        return mean, F.softplus(raw_std) + 1e-3

    @torch.no_grad()
    def encode(self, obs: Tensor) -> Tensor:
        """The latent state ``[B, Z]`` (the mean of ``q``) of observations ``[B, *obs_shape]``."""
        return self.encode_distribution(obs)[0]

    def step(self, latent: Tensor, action: Tensor) -> Tensor:
        """Latent dynamics ``[B, Z], [B, A] -> [B, Z]`` (residual MLP)."""
        return latent + self.dynamics(torch.cat([latent, action], dim=-1))

    def reward(self, latent: Tensor, action: Tensor, next_latent: Tensor | None = None) -> Tensor:
        """Predicted reward ``[B]`` of taking ``action`` in ``latent`` (``next_latent`` is
        accepted for the planners' reward signature and unused)."""
        return self.reward_head(torch.cat([latent, action], dim=-1)).squeeze(-1)

    def decode(self, latent: Tensor) -> Tensor:
        """Reconstruction ``[B, 3, 64, 64]`` in ``[-0.5, 0.5]`` (pixels) or ``[B, S]``."""
        return self.decoder(latent)

    # ----- training ------------------------------------------------------------------------
    def loss(self, obs: Tensor, actions: Tensor, rewards: Tensor,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, float]]:
        """The overshooting loss over sequences ``obs [B, K+1, *obs_shape]``,
        ``actions [B, K, A]``, ``rewards [B, K]``: reconstruction of ``o_0`` from ``g(o_0)``,
        and for k = 1..K the latent, reward and (``prediction_weight > 0``) decoded errors of
        the K-step open-loop prediction from ``g(o_0)``; plus the KL term for the stochastic
        encoder. The latent targets ``g(o_k)`` are held fixed (no gradient), which also spares
        the costly encoder backward pass for all but the first frame of each window."""
        batch, length = obs.shape[:2]
        horizon = length - 1
        mean, std = self.encode_distribution(obs[:, 0])
        latent = mean
        if self.config.stochastic:
            latent = mean + std * torch.randn(mean.shape, generator=generator)
        with torch.no_grad():
            later = obs[:, 1:].reshape(batch * horizon, *self.obs_shape)
            targets_latent = self.encode(later).reshape(batch, horizon, -1)
            targets = self._target(obs.reshape(batch * length, *self.obs_shape))
            targets = targets.reshape(batch, length, *targets.shape[1:])
        reconstruction = (self.decode(latent).reshape(targets[:, 0].shape) - targets[:, 0]).square()
        predicted, predicted_rewards = [], []
        for k in range(horizon):
            predicted_rewards.append(self.reward(latent, actions[:, k]))
            latent = self.step(latent, actions[:, k])
            predicted.append(latent)
        predicted = torch.stack(predicted, dim=1)  # [B, K, Z]
        terms = {
            "reconstruction": reconstruction.mean(),
            "latent": (predicted - targets_latent).square().mean(),
            "reward": (torch.stack(predicted_rewards, 1) - rewards).square().mean(),
        }
        pixel_scale = float(np.prod(targets.shape[2:]))  # per-observation sums, not means
        loss = (pixel_scale * terms["reconstruction"]
                + self.config.latent_weight * self.config.latent_dim * terms["latent"]
                + self.config.reward_weight * terms["reward"])
        if self.config.prediction_weight:
            decoded = self.decode(predicted.reshape(batch * horizon, -1)).reshape(
                targets[:, 1:].shape)
            terms["prediction"] = (decoded - targets[:, 1:]).square().mean()
            loss = loss + self.config.prediction_weight * pixel_scale * terms["prediction"]
        if self.config.stochastic:
            kl = 0.5 * (mean.square() + std.square() - 1) - torch.log(std)
            terms["kl"] = kl.sum(-1).clamp_min(self.config.free_nats).mean()
            loss = loss + self.config.kl_weight * terms["kl"]
        return loss, {name: float(value.detach()) for name, value in terms.items()}

    @torch.no_grad()
    def imagine(self, obs: Tensor, actions: Tensor) -> Tensor:
        """Decoded open-loop predictions ``[B, K, ...]`` from ``g(obs [B, ...])`` along
        ``actions [B, K, A]`` (the newest frame in ``[-0.5, 0.5]`` for pixels)."""
        latent, decoded = self.encode(obs), []
        for k in range(actions.shape[1]):
            latent = self.step(latent, actions[:, k])
            decoded.append(self.decode(latent))
        return torch.stack(decoded, dim=1)

    @torch.no_grad()
    def open_loop_error(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Per-step mean squared error ``[K]`` of decoded open-loop predictions from
        ``g(o_0)`` along ``actions [B, K, A]``, and that of copying the last observed frame
        (the baseline), on ``obs [B, K+1, ...]``."""
        length = obs.shape[1]
        targets = torch.stack([self._target(obs[:, t]) for t in range(length)], dim=1)
        decoded = self.imagine(obs[:, 0], actions).reshape(targets[:, 1:].shape)
        reduce = tuple(range(2, targets.ndim))
        model_errors = (decoded - targets[:, 1:]).square().mean(dim=(0, *reduce))
        copy_errors = (targets[:, :1] - targets[:, 1:]).square().mean(dim=(0, *reduce))
        return model_errors, copy_errors

    def problem(self, action_low: Tensor, action_high: Tensor, horizon: int) -> Problem:
        """Planning in latent space with the learned reward."""
        return Problem(self.step, self.reward, action_low=action_low, action_high=action_high,
                       horizon=horizon)
