"""Networks and action distributions shared by the actor-critic agents.

The distributions are small hand-written classes rather than ``torch.distributions``: the
agents call them thousands of times per second on small batches, where argument validation and
generic broadcasting dominate, and every sample must come from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from mbrl.nn import ACTIVATIONS, EnsembleMLP, Normalizer, ObservationInput, mlp


class Categorical:
    """Categorical distribution over the last dimension of ``logits [B, K]``."""

    def __init__(self, logits: Tensor) -> None:
        self.log_probs = torch.log_softmax(logits, dim=-1)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        """``[B]`` action indices (Gumbel-max with noise from ``generator``)."""
        uniform = torch.rand(self.log_probs.shape, generator=generator).clamp_(1e-12, 1.0)
        return torch.argmax(self.log_probs - torch.log(-torch.log(uniform)), dim=-1)

    def mode(self) -> Tensor:
        return torch.argmax(self.log_probs, dim=-1)

    def log_prob(self, actions: Tensor) -> Tensor:
        """``[B]`` log-probabilities of ``actions [B]`` (indices, any numeric dtype)."""
        return self.log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        return -(self.log_probs.exp() * self.log_probs).sum(-1)

    def kl(self, other: Categorical) -> Tensor:
        """``KL(self || other)`` per row ``[B]``."""
        return (self.log_probs.exp() * (self.log_probs - other.log_probs)).sum(-1)

    def detach(self) -> Categorical:
        """A copy cut from the graph and from the parameters (a frozen "old" policy)."""
        return Categorical(self.log_probs.detach().clone())

    def __getitem__(self, index: Tensor) -> Categorical:
        """The distributions of the rows ``index``."""
        return Categorical(self.log_probs[index])


class DiagonalGaussian:
    """Independent Gaussians over the last dimension: ``mean [B, A]``, ``log_std [A] or [B, A]``."""

    _HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean, self.log_std = mean, log_std.expand_as(mean)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        noise = torch.randn(self.mean.shape, generator=generator)
        return self.mean + noise * self.log_std.exp()

    def mode(self) -> Tensor:
        return self.mean

    def log_prob(self, actions: Tensor) -> Tensor:
        z = (actions - self.mean) * torch.exp(-self.log_std)
        return (-0.5 * z.square() - self.log_std - self._HALF_LOG_2PI).sum(-1)

    def entropy(self) -> Tensor:
        return (self.log_std + 0.5 + self._HALF_LOG_2PI).sum(-1)

    def kl(self, other: DiagonalGaussian) -> Tensor:
        """``KL(self || other)`` per row ``[B]``."""
        var_ratio = torch.exp(2 * (self.log_std - other.log_std))
        mean_term = ((self.mean - other.mean) * torch.exp(-other.log_std)).square()
        return 0.5 * (var_ratio + mean_term - 1).sum(-1) + (other.log_std - self.log_std).sum(-1)

    def detach(self) -> DiagonalGaussian:
        """A copy cut from the graph and from the parameters (a frozen "old" policy)."""
        return DiagonalGaussian(self.mean.detach().clone(), self.log_std.detach().clone())

    def __getitem__(self, index: Tensor) -> DiagonalGaussian:
        """The distributions of the rows ``index``."""
        return DiagonalGaussian(self.mean[index], self.log_std[index])


def running_normalizer(dim: int) -> Normalizer:
    """Running statistics as PPO implementations keep them: ``(x - mean) / sqrt(var + 1e-8)``
    in float64, clamped to 10 std (values past that are outliers by construction)."""
    return Normalizer(dim, min_std=0.0, clip=10.0, variance_eps=1e-8, dtype=torch.float64)


def space_dims(observation_space: gym.Space, action_space: gym.Space) -> tuple[int, int, bool]:
    """``(obs_dim, action_dim_or_count, discrete)`` for flat Box observations and Box or
    Discrete actions; a clear error for anything else."""
    if not isinstance(observation_space, gym.spaces.Box) or len(observation_space.shape) != 1:
        raise TypeError(f"observations must be a flat Box space, got {observation_space}")
    if isinstance(action_space, gym.spaces.Discrete):
        if action_space.start != 0:
            raise ValueError(f"Discrete action spaces must start at 0, got {action_space}")
        return observation_space.shape[0], int(action_space.n), True
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        if not (np.isfinite(action_space.low).all() and np.isfinite(action_space.high).all()):
            raise ValueError(f"Box action spaces must be bounded, got {action_space}")
        return observation_space.shape[0], action_space.shape[0], False
    raise TypeError(f"actions must be Discrete or a flat Box space, got {action_space}")


class ActorCritic(nn.Module):
    """Policy and state-value function for the on-policy agents (REINFORCE, A2C, PPO).

    Categorical policy for Discrete actions, diagonal Gaussian with a state-independent learned
    log-std for Box actions. ``shared_trunk`` puts both heads on one hidden stack (004: "two
    networks vs a shared network"); otherwise they are separate MLPs, run together as one
    two-member :class:`~mbrl.nn.EnsembleMLP` (member 0 the policy; member 1 the value, which
    reads its first output column; its other columns are unused): half the ops (forward,
    backward and optimiser) of two networks one by one, which dominates on small networks (a
    PPO minibatch step with 64 x 64 networks took 0.83x the time). With
    ``normalize_observations`` running statistics (:meth:`~mbrl.nn.Normalizer.update`, clamped
    to 10 std) standardise the inputs; the agent decides when they are updated. Both networks
    take the observation without ``ignored_obs_dims`` (a task's reward-only dims,
    :attr:`obs_input`).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space,
                 hidden: tuple[int, ...] = (64, 64), activation: str = "tanh",
                 shared_trunk: bool = False, log_std_init: float = 0.0,
                 normalize_observations: bool = False,
                 ignored_obs_dims: tuple[int, ...] = ()) -> None:
        super().__init__()
        full_obs_dim, act_dim, self.discrete = space_dims(observation_space, action_space)
        self.obs_input = ObservationInput(full_obs_dim, ignored_obs_dims)
        obs_dim = self.obs_input.dim
        self.action_space = action_space
        self.obs_normalizer = running_normalizer(obs_dim) if normalize_observations else None
        hidden = list(hidden)
        if shared_trunk:
            self.trunk = nn.Sequential(mlp([obs_dim, *hidden], activation, math.sqrt(2)),
                                       ACTIVATIONS[activation]())
            self.policy_head = mlp([hidden[-1], act_dim], output_gain=0.01)
            self.value_head = mlp([hidden[-1], 1], output_gain=1.0)
            self.networks = None
        else:
            self.trunk = self.policy_head = self.value_head = None
            self.networks = EnsembleMLP(2, [obs_dim, *hidden, act_dim], activation,
                                        like_mlp=True, output_gains=(0.01, 1.0))
        self.log_std = (None if self.discrete
                        else nn.Parameter(torch.full((act_dim,), log_std_init)))
        box = not self.discrete
        self.register_buffer("action_low", torch.as_tensor(action_space.low) if box else None)
        self.register_buffer("action_high", torch.as_tensor(action_space.high) if box else None)

    def _normalized(self, obs: Tensor) -> Tensor:
        obs = self.obs_input(obs)
        return obs if self.obs_normalizer is None else self.obs_normalizer.normalize(obs)

    def _policy(self, out: Tensor) -> Categorical | DiagonalGaussian:
        return Categorical(out) if self.discrete else DiagonalGaussian(out, self.log_std)

    def distribution(self, obs: Tensor) -> Categorical | DiagonalGaussian:
        """The policy at ``obs [B, S]``."""
        obs = self._normalized(obs)
        if self.networks is not None:
            return self._policy(self.networks.member(0, obs))
        return self._policy(self.policy_head(self.trunk(obs)))

    def value(self, obs: Tensor) -> Tensor:
        """``V(obs) [B]``."""
        obs = self._normalized(obs)
        if self.networks is not None:
            return self.networks.member(1, obs)[:, 0]
        return self.value_head(self.trunk(obs)).squeeze(-1)

    def forward(self, obs: Tensor) -> tuple[Categorical | DiagonalGaussian, Tensor]:
        """``(policy, V [B])`` at ``obs [B, S]`` in one pass (both members at once, or one
        trunk)."""
        obs = self._normalized(obs)
        if self.networks is not None:
            out = self.networks(obs)
            return self._policy(out[0]), out[1, :, 0]
        features = self.trunk(obs)
        return self._policy(self.policy_head(features)), self.value_head(features).squeeze(-1)

    def env_action(self, actions: Tensor) -> np.ndarray:
        """Actions as the environment takes them: indices, or Gaussian samples clipped to the
        Box bounds (the Gaussian's support is unbounded; the stored, trained-on action is the
        unclipped sample, whose log-probability the update uses)."""
        if self.discrete:
            return actions.numpy()
        return torch.maximum(torch.minimum(actions, self.action_high), self.action_low).numpy()

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False,
            generator: torch.Generator | None = None) -> np.ndarray:
        """The policy protocol: ``obs [S] or [N, S]`` -> env actions ``[]/[A]`` or ``[N, ...]``."""
        single = np.ndim(obs) == 1
        batch = torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32)
        dist = self.distribution(batch)
        actions = self.env_action(dist.mode() if deterministic else dist.sample(generator))
        return actions[0] if single else actions
