"""The recurrent state-space model of PlaNet (Hafner et al. 2019) with DreamerV2's KL balancing
(Hafner et al. 2021); reference 003 §5.3.4 and Alg. 26 for latent models.

The model state is ``(h_t, s_t)``: a deterministic recurrent path ``h_t = GRU(h_{t-1},
[s_{t-1}, a_{t-1}])`` and a diagonal-Gaussian stochastic latent with a prior ``p(s_t | h_t)``
(for imagination) and a posterior ``q(s_t | h_t, e_t)`` from the observation's embedding
``e_t`` (for filtering). Heads read the feature ``[h_t, s_t]``: the decoder ``p(o_t | h_t,
s_t)``, the reward of the transition that led to the state, and, for terminating tasks, the
probability that the episode continues from it.

The loss is the negative ELBO over a window of ``T`` transitions (``T + 1`` frames):

    sum_t  -log p(o_t | h_t, s_t)  -log p(r_t | h_{t+1}, s_{t+1})  -log p(c_t | ...)
         + beta * KL_balanced( q(s_t | h_t, e_t) || p(s_t | h_t) )

with unit-variance Gaussian image and reward likelihoods (summed over pixels, as PlaNet), the
KL balanced as ``alpha KL(sg(q) || p) + (1 - alpha) KL(q || sg(p))`` (the prior learns faster
than the posterior is regularised) and not penalised below ``free_nats`` (PlaNet).

A planning state is the vector ``[h, s]`` ``[B, D + S]``: :meth:`RSSM.imagine_step` is a
batched ``planners.Problem`` dynamics over it (a prior sample from a given generator, or the
prior mean), so every population planner plans in it unchanged (:meth:`RSSM.problem`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mbrl.models.latent import ConvDecoder, ConvEncoder, pixels_to_float
from mbrl.nn import mlp
from planners import Problem
from planners.problem import ValueFn


@dataclass
class RSSMConfig:
    """Sizes and loss settings (PlaNet's sizes but narrower convolutions for a CPU)."""

    deterministic_dim: int = 200  # D: GRU state
    stochastic_dim: int = 30  # S: Gaussian latent
    hidden: int = 200  # width of the prior, posterior, reward and continuation MLPs
    embed_dim: int = 256  # observation embedding (the conv encoder's output, or the MLP's)
    channels: tuple[int, ...] = (16, 32, 64, 128)  # conv widths (pixels)
    min_std: float = 0.1  # floor of the prior and posterior standard deviations
    free_nats: float = 3.0  # KL below this (per step, mean over the batch) is not penalised
    kl_balance: float = 0.8  # alpha: the share of the KL gradient that trains the prior
    kl_weight: float = 1.0  # beta
    reward_weight: float = 1.0  # weight of the reward log-likelihood
    continuation_weight: float = 1.0  # weight of the continuation log-likelihood
    learning_rate: float = 6e-4  # Adam step size
    max_grad_norm: float = 100.0  # clip the gradient norm

    def validate(self) -> None:
        for name in ("deterministic_dim", "stochastic_dim", "hidden", "embed_dim"):
            if int(getattr(self, name)) != getattr(self, name) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if len(self.channels) != 4:
            raise ValueError(f"channels must list 4 conv widths, got {self.channels}")
        if not self.min_std > 0 or self.free_nats < 0 or not 0 <= self.kl_balance <= 1:
            raise ValueError(f"need min_std > 0, free_nats >= 0 and kl_balance in [0, 1], got "
                             f"{self.min_std}, {self.free_nats}, {self.kl_balance}")
        for name in ("kl_weight", "reward_weight", "continuation_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.max_grad_norm <= 0:
            raise ValueError("learning_rate and max_grad_norm must be > 0")


def gaussian_kl(mean_q: Tensor, std_q: Tensor, mean_p: Tensor, std_p: Tensor) -> Tensor:
    """``KL(N(mean_q, std_q) || N(mean_p, std_p))`` of diagonal Gaussians, summed over the
    last dimension: ``[..., S] -> [...]``."""
    ratio = (std_q / std_p).square()
    return 0.5 * (ratio + ((mean_q - mean_p) / std_p).square() - 1 - ratio.log()).sum(-1)


# frames per encoder or decoder call: on a 2-core CPU the PlaNet-sized convolutions ran forward
# and backward over 2,550 frames in 30-60% less time in chunks of 100-128 than in one call
CONV_CHUNK = 128


class RSSM(nn.Module):
    """The module docstring's model over observations ``obs_shape`` (``(C, 64, 64)`` uint8
    pixels, the decoder predicting the newest frame's 3 channels, or ``(S_obs,)`` vectors) and
    ``act_dim`` continuous actions."""

    def __init__(self, obs_shape: tuple[int, ...], act_dim: int, config: RSSMConfig,
                 terminates: bool = False) -> None:
        super().__init__()
        config.validate()
        self.config, self.obs_shape, self.act_dim = config, tuple(obs_shape), int(act_dim)
        self.terminates = terminates
        self.pixels = len(self.obs_shape) == 3
        if self.pixels and self.obs_shape[1:] != (64, 64):
            raise ValueError(f"pixel observations must be [C, 64, 64], got {self.obs_shape}")
        if not self.pixels and len(self.obs_shape) != 1:
            raise ValueError(f"observations must be [C, 64, 64] or [S], got {self.obs_shape}")
        d, s, hidden = config.deterministic_dim, config.stochastic_dim, config.hidden
        self.feature_dim = d + s
        if self.pixels:
            self.encoder: nn.Module = ConvEncoder(self.obs_shape[0], tuple(config.channels),
                                                  config.embed_dim)
            self.decoder: nn.Module = ConvDecoder(d + s, tuple(config.channels))
        else:
            self.encoder = mlp([self.obs_shape[0], hidden, config.embed_dim], "elu")
            self.decoder = mlp([d + s, hidden, hidden, self.obs_shape[0]], "elu")
        self.input = nn.Sequential(nn.Linear(s + act_dim, hidden), nn.ELU())
        self.cell = nn.GRUCell(hidden, d)
        self.prior_head = mlp([d, hidden, 2 * s], "elu")
        self.posterior_head = mlp([d + config.embed_dim, hidden, 2 * s], "elu")
        self.reward_head = mlp([d + s, hidden, hidden, 1], "elu")
        self.continuation_head = mlp([d + s, hidden, hidden, 1], "elu")

    # ----- the model's pieces --------------------------------------------------------------
    def initial_state(self, batch: int) -> Tensor:
        """``[B, D + S]`` zeros: the state before the first observation."""
        return torch.zeros(batch, self.feature_dim)

    def split(self, state: Tensor) -> tuple[Tensor, Tensor]:
        """``state [..., D + S]`` -> ``(h [..., D], s [..., S])``."""
        d = self.config.deterministic_dim
        return state[..., :d], state[..., d:]

    def _gaussian(self, out: Tensor) -> tuple[Tensor, Tensor]:
        mean, raw_std = out.chunk(2, dim=-1)
        return mean, F.softplus(raw_std) + self.config.min_std

    def recurrent(self, state: Tensor, action: Tensor) -> Tensor:
        """``h_t`` ``[B, D]`` from the state ``[B, D + S]`` at t - 1 and ``a_{t-1} [B, A]``."""
        h, s = self.split(state)
        return self.cell(self.input(torch.cat([s, action], -1)), h)

    def prior(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` ``[B, S]`` of ``p(s_t | h_t)``."""
        return self._gaussian(self.prior_head(h))

    def posterior(self, h: Tensor, embed: Tensor) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` ``[B, S]`` of ``q(s_t | h_t, e_t)``."""
        return self._gaussian(self.posterior_head(torch.cat([h, embed], -1)))

    def embed(self, obs: Tensor) -> Tensor:
        """``obs [N, *obs_shape] -> e [N, embed_dim]``."""
        if len(obs) <= CONV_CHUNK:
            return self.encoder(self._prepare(obs))
        return torch.cat([self.encoder(self._prepare(chunk)) for chunk in obs.split(CONV_CHUNK)])

    def _prepare(self, obs: Tensor) -> Tensor:
        return pixels_to_float(obs) if self.pixels else obs.float()

    def reconstruction_error(self, states: Tensor, obs: Tensor) -> Tensor:
        """``0.5 sum ||decoder(state) - o||^2`` over ``states [N, D + S]`` and their
        observations ``obs [N, *obs_shape]`` (the newest frame of pixels), summed over rows:
        decoded and compared in chunks of :data:`CONV_CHUNK` rows."""
        target = obs[:, -3:] if self.pixels else obs
        return sum(0.5 * F.mse_loss(self.decoder(s), self._prepare(o), reduction="sum")
                   for s, o in zip(states.split(CONV_CHUNK), target.split(CONV_CHUNK),
                                   strict=True))

    def reward(self, state: Tensor) -> Tensor:
        """``[B]``: the reward of the transition that reached ``state``."""
        return self.reward_head(state).squeeze(-1)

    def continuation_logit(self, state: Tensor) -> Tensor:
        """``[B]`` logits of 'the episode goes on from ``state``'."""
        return self.continuation_head(state).squeeze(-1)

    # ----- filtering and imagination -------------------------------------------------------
    def observe_step(self, state: Tensor, action: Tensor, embed: Tensor,
                     generator: torch.Generator | None = None, sample: bool = True
                     ) -> tuple[Tensor, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """One filtering step: the new state ``[B, D + S]`` (``s_t`` from the posterior:
        reparameterised sample, or its mean), the prior's and the posterior's ``(mean, std)``."""
        h = self.recurrent(state, action)
        prior, posterior = self.prior(h), self.posterior(h, embed)
        s = posterior[0] + posterior[1] * torch.randn(posterior[0].shape, generator=generator) \
            if sample else posterior[0]
        return torch.cat([h, s], -1), prior, posterior

    def imagine_step(self, state: Tensor, action: Tensor,
                     generator: torch.Generator | None = None, sample: bool = True) -> Tensor:
        """The planning dynamics ``[B, D + S], [B, A] -> [B, D + S]``: ``s_t`` from the prior
        (a reparameterised sample with ``generator``, or the mean)."""
        h = self.recurrent(state, action)
        mean, std = self.prior(h)
        s = mean + std * torch.randn(mean.shape, generator=generator) if sample else mean
        return torch.cat([h, s], -1)

    def observe(self, obs: Tensor, actions: Tensor, generator: torch.Generator | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Filter windows ``obs [B, T+1, ...]`` with ``actions [B, T, A]`` (``a_t`` leads from
        frame t to t + 1): posterior states ``[B, T+1, D + S]`` and the prior's and posterior's
        means and stds ``[B, T+1, S]`` (at t = 0 the prior is that of the zero state)."""
        batch, length = obs.shape[:2]
        embeds = self.embed(obs.flatten(0, 1)).unflatten(0, (batch, length))
        state = self.initial_state(batch)
        zero_action = torch.zeros(batch, self.act_dim)
        states, priors, posteriors = [], [], []
        for t in range(length):
            action = zero_action if t == 0 else actions[:, t - 1]
            state, prior, posterior = self.observe_step(state, action, embeds[:, t], generator)
            states.append(state)
            priors.append(torch.stack(prior))
            posteriors.append(torch.stack(posterior))
        priors_t, posteriors_t = torch.stack(priors, 2), torch.stack(posteriors, 2)
        return (torch.stack(states, 1), priors_t[0], priors_t[1], posteriors_t[0],
                posteriors_t[1])

    # ----- training ------------------------------------------------------------------------
    def loss(self, obs: Tensor, actions: Tensor, rewards: Tensor,
             continues: Tensor | None = None, generator: torch.Generator | None = None,
             valid: Tensor | None = None) -> tuple[Tensor, Tensor, dict[str, float]]:
        """The negative ELBO of the module docstring, averaged over windows and steps, for
        ``obs [B, T+1, ...]``, ``actions [B, T, A]``, ``rewards [B, T]``, (terminating tasks)
        ``continues [B, T]`` (0 where the transition ended the episode) and ``valid [B, T]``
        (0 for placeholder steps past an episode's end, left out of every term; default all
        1). Also the posterior states of the real frames ``[N, D + S]`` (for the actor-critic:
        ``N = B (T + 1)`` when every step is valid) and the terms."""
        config = self.config
        states, prior_mean, prior_std, post_mean, post_std = self.observe(obs, actions, generator)
        if valid is None:
            valid = torch.ones(rewards.shape, dtype=torch.bool)
        valid = valid.bool()
        frames = torch.cat([torch.ones_like(valid[:, :1]), valid], 1)  # [B, T+1]: real frames
        real_states = states[frames]
        reconstruction = self.reconstruction_error(real_states, obs[frames]) / len(real_states)
        reward = 0.5 * (self.reward(states[:, 1:][valid]) - rewards[valid]).square().mean()
        kl_prior = gaussian_kl(post_mean.detach(), post_std.detach(), prior_mean, prior_std)
        kl_posterior = gaussian_kl(post_mean, post_std, prior_mean.detach(), prior_std.detach())
        weights = frames.float()
        rows = weights.sum(0)  # real windows at each step, [T+1]

        def balanced(kl: Tensor) -> Tensor:  # [B, T+1] -> per step over real rows, free nats
            return ((kl * weights).sum(0) / rows.clamp_min(1)).clamp_min(config.free_nats)

        per_step = (config.kl_balance * balanced(kl_prior) +
                    (1 - config.kl_balance) * balanced(kl_posterior))
        kl = per_step[rows > 0].mean()
        total = reconstruction + config.reward_weight * reward + config.kl_weight * kl
        terms = {"reconstruction": reconstruction, "reward": reward,
                 "kl": kl_posterior.detach()[frames].mean()}
        if self.terminates:
            if continues is None:
                raise ValueError("a terminating task's RSSM needs continues [B, T] in its loss")
            continuation = F.binary_cross_entropy_with_logits(
                self.continuation_logit(states[:, 1:][valid]), continues[valid].float())
            total = total + config.continuation_weight * continuation
            terms["continuation"] = continuation
        return total, real_states, {name: float(value.detach()) for name, value in terms.items()}

    # ----- planning ------------------------------------------------------------------------
    def problem(self, action_low: Tensor, action_high: Tensor, horizon: int,
                generator: torch.Generator | None = None, sample: bool = True,
                terminal_value: ValueFn | None = None, discount: float = 1.0) -> Problem:
        """Planning over states ``[D + S]`` with :meth:`imagine_step` (prior samples from
        ``generator``, or the prior mean when not ``sample``) and the learned reward; for a
        terminating task the continuation head ends a row (``c < 0.5``)."""
        return Problem(lambda state, action: self.imagine_step(state, action, generator, sample),
                       lambda state, action, next_state: self.reward(next_state),
                       torch.as_tensor(action_low, dtype=torch.float32),
                       torch.as_tensor(action_high, dtype=torch.float32), horizon,
                       termination_fn=(lambda state: self.continuation_logit(state) < 0)
                       if self.terminates else None,
                       terminal_value=terminal_value, discount=discount,
                       state_dim=self.feature_dim)


class RSSMFilter:
    """The posterior state of a live episode: ``reset()`` at its start, ``update(obs,
    previous action)`` after each observation (the posterior mean, so acting is
    deterministic given the observations). Gives policies that plan or act from the RSSM's
    state the observation-to-state map they need."""

    def __init__(self, model: RSSM) -> None:
        self.model = model
        self.state: Tensor | None = None
        self.previous_action: Tensor | None = None

    def reset(self) -> None:
        self.state, self.previous_action = None, None

    @torch.no_grad()
    def update(self, obs: np.ndarray | Tensor) -> Tensor:
        """The state ``[D + S]`` after observing ``obs [*obs_shape]``."""
        model = self.model
        if self.state is None:
            self.state = model.initial_state(1)
            self.previous_action = torch.zeros(1, model.act_dim)
        embed = model.embed(torch.as_tensor(np.asarray(obs))[None])
        self.state, _, _ = model.observe_step(self.state, self.previous_action, embed,
                                              sample=False)
        return self.state[0]

    def record_action(self, action: np.ndarray) -> None:
        self.previous_action = torch.as_tensor(np.asarray(action), dtype=torch.float32
                                               ).reshape(1, -1)
