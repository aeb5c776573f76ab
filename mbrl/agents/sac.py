"""Soft actor-critic for continuous and discrete actions (reference 000 eqs. 105-124;
Haarnoja et al. 2018; discrete actions: Christodoulou 2019).

Twin Q-functions with Polyak-averaged targets, automatic temperature towards a target entropy,
and either a tanh-squashed Gaussian policy with the exact log-probability of the squashed,
rescaled action (continuous) or a categorical policy whose expectations over actions are exact
sums (discrete, eqs. 117-124). :meth:`SAC.update` trains on a batch from any
:class:`ReplayBuffer`; :meth:`SAC.train_from` mixes a real and a synthetic (model-rollout)
buffer at a chosen ratio, which is how MBPO and Dyna feed it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mbrl.agents.networks import Categorical, space_dims
from mbrl.data.buffer import FIELDS, Batch, ReplayBuffer
from mbrl.nn import ACTIVATIONS, EnsembleMLP, ObservationInput, mlp
from mbrl.util.errors import check_finite_loss


@dataclass
class SACConfig:
    learning_rate: float = 3e-4  # actor, critics and temperature
    buffer_size: int = 1_000_000  # replay buffer capacity (transitions)
    batch_size: int = 256  # minibatch size
    gamma: float = 0.99  # discount
    tau: float = 0.005  # Polyak factor of the target critics
    learning_starts: int = 100  # uniform random actions (and no updates) before this many steps
    updates_per_step: float = 1.0  # update-to-data ratio (fractions accumulate)
    initial_alpha: float = 1.0  # initial entropy temperature
    autotune_alpha: bool = True  # learn the temperature towards target_entropy
    # discrete actions: alpha solved on each batch so that softmax(Q / alpha) has the target
    # entropy (the exact dual of eq. 115, as MPO solves its temperature) instead of eq. 118's
    # gradient steps, which move log alpha by about the learning rate per update
    exact_discrete_alpha: bool = True  # discrete: alpha solved per batch (False: eq. 118)
    target_entropy: float | None = None  # None: -A (continuous), scale * log K (discrete)
    target_entropy_scale: float = 0.5  # discrete default target as a fraction of log K
    hidden: tuple[int, ...] = (256, 256)  # hidden layer widths of actor and critics
    activation: str = "relu"  # relu | tanh | silu | elu

    def validate(self) -> None:
        for name in ("learning_rate", "buffer_size", "batch_size", "updates_per_step",
                     "initial_alpha"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.tau <= 1.0 or not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"tau must be in (0, 1] and gamma in [0, 1], got {self.tau}, "
                             f"{self.gamma}")
        if self.learning_starts < 0:
            raise ValueError(f"learning_starts must be >= 0, got {self.learning_starts}")


class TwinQ(EnsembleMLP):
    """Two MLP critics with stacked weights, evaluated with one batched matmul per layer.

    ``forward(x [B, D]) -> [2, B, out]``. For continuous actions ``x`` is ``[obs, act]`` and
    ``out = 1``; for discrete actions ``x`` is ``obs`` and ``out = K`` (one value per action).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...], activation: str) -> None:
        super().__init__(2, [in_dim, *hidden, out_dim], activation, like_mlp=True)


class SquashedGaussianActor(nn.Module):
    """``a = low + (tanh(u) + 1) (high - low) / 2`` with ``u ~ N(mu(s), sigma(s))``.

    The log-probability is exact for the rescaled action: the Gaussian log-density of ``u``
    minus ``sum log(1 - tanh(u)^2)`` (written as ``2 (log 2 - u - softplus(-2u))`` to stay finite)
    minus ``sum log((high - low) / 2)``. The log-std is clamped to [-20, 2] (the network's raw
    output, not an action), as is standard for SAC.
    """

    LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0

    def __init__(self, obs_dim: int, action_space: gym.spaces.Box, hidden: tuple[int, ...],
                 activation: str) -> None:
        super().__init__()
        act_dim = action_space.shape[0]
        self.trunk = nn.Sequential(mlp([obs_dim, *hidden], activation), ACTIVATIONS[activation]())
        self.mean_head = nn.Linear(hidden[-1], act_dim)
        self.log_std_head = nn.Linear(hidden[-1], act_dim)
        low = torch.as_tensor(action_space.low, dtype=torch.float32)
        high = torch.as_tensor(action_space.high, dtype=torch.float32)
        self.register_buffer("scale", (high - low) / 2)
        self.register_buffer("offset", (high + low) / 2)

    def _mean_log_std(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.trunk(obs)
        log_std = self.log_std_head(hidden).clamp(self.LOG_STD_MIN, self.LOG_STD_MAX)
        return self.mean_head(hidden), log_std

    def sample(self, obs: Tensor, generator: torch.Generator | None = None
               ) -> tuple[Tensor, Tensor]:
        """Reparameterised ``(actions [B, A], log_probs [B])``."""
        mean, log_std = self._mean_log_std(obs)
        noise = torch.randn(mean.shape, generator=generator)
        u = mean + noise * log_std.exp()
        gaussian = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_det = 2 * (math.log(2) - u - F.softplus(-2 * u)) + torch.log(self.scale)
        return self.offset + self.scale * torch.tanh(u), gaussian - log_det.sum(-1)

    def deterministic(self, obs: Tensor) -> Tensor:
        return self.offset + self.scale * torch.tanh(self._mean_log_std(obs)[0])


class CategoricalActor(nn.Module):
    """``pi(.|s) = softmax(logits(s))`` over ``K`` actions."""

    def __init__(self, obs_dim: int, num_actions: int, hidden: tuple[int, ...],
                 activation: str) -> None:
        super().__init__()
        self.logits = mlp([obs_dim, *hidden, num_actions], activation)

    def forward(self, obs: Tensor) -> Categorical:
        return Categorical(self.logits(obs))


def solve_log_alpha(q_values: Tensor, target_entropy: float, iterations: int = 30,
                    bounds: tuple[float, float] = (-20.0, 10.0)) -> float:
    """``log alpha`` at which the Boltzmann policies ``softmax(q_values / alpha)`` (``[B, K]``)
    have mean entropy ``target_entropy``, by bisection: that entropy rises with alpha. Values
    too flat for the target give the lower bound, a target above what any alpha reaches the
    upper one.

    This is the temperature eq. 115 asks for, solved exactly for the policy eq. 119 trains
    towards, so it needs no learning rate and follows the critic's scale at once (in Acrobot-v1
    the values of the three actions differ by ~0.01 while eq. 118's steps take ~15,000 updates
    to bring alpha from 1 to that scale, the policy staying uniform meanwhile)."""
    low, high = bounds
    centred = q_values - q_values.max(-1, keepdim=True).values
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        log_probs = torch.log_softmax(centred * math.exp(-middle), -1)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
        if entropy > target_entropy:
            high = middle
        else:
            low = middle
    return 0.5 * (low + high)


class SAC:
    """Soft actor-critic; discrete when the action space is ``Discrete``. Actor and critics take
    the observation without ``ignored_obs_dims`` (a task's reward-only dims, :attr:`obs_input`):
    :meth:`soft_target`, :meth:`q_values` and :meth:`actor_loss` are on those inputs."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space, config: SACConfig,
                 generator: torch.Generator, ignored_obs_dims: tuple[int, ...] = ()) -> None:
        config.validate()
        full_obs_dim, act_dim, self.discrete = space_dims(observation_space, action_space)
        self.obs_input = ObservationInput(full_obs_dim, ignored_obs_dims)
        obs_dim = self.obs_input.dim
        self.config, self.generator, self.action_space = config, generator, action_space
        hidden, activation = tuple(config.hidden), config.activation
        if self.discrete:
            self.actor: nn.Module = CategoricalActor(obs_dim, act_dim, hidden, activation)
            self.critic = TwinQ(obs_dim, act_dim, hidden, activation)
            default_target = config.target_entropy_scale * math.log(act_dim)
        else:
            self.actor = SquashedGaussianActor(obs_dim, action_space, hidden, activation)
            self.critic = TwinQ(obs_dim + act_dim, 1, hidden, activation)
            default_target = -float(act_dim)
        self.target_entropy = (default_target if config.target_entropy is None
                               else config.target_entropy)
        self.target_critic = TwinQ(obs_dim + (0 if self.discrete else act_dim),
                                   act_dim if self.discrete else 1, hidden, activation)
        self.target_critic.load_state_dict(self.critic.state_dict())
        self.target_critic.requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.initial_alpha), requires_grad=True)
        lr = config.learning_rate
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=lr, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=lr, fused=True)
        self.alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=lr)
        self.updates = 0
        self.last_losses: dict[str, float] = {}  # of the last update, for divergence messages

    @property
    def alpha(self) -> float:
        return float(self.log_alpha.detach().exp())

    # ----- acting -------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """The policy protocol: ``obs [S] or [N, S]`` -> env actions."""
        single = np.ndim(obs) == 1
        batch = self.obs_input(torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32))
        if self.discrete:
            dist = self.actor(batch)
            actions = (dist.mode() if deterministic else dist.sample(self.generator)).numpy()
        elif deterministic:
            actions = self.actor.deterministic(batch).numpy()
        else:
            actions = self.actor.sample(batch, self.generator)[0].numpy()
        return actions[0] if single else actions

    # ----- learning -----------------------------------------------------------------------
    @torch.no_grad()
    def soft_target(self, rew: Tensor, next_obs: Tensor, terminated: Tensor) -> Tensor:
        """``y = r + gamma (1 - terminated) V_soft(s')`` ``[B]`` from the target critics: eq. 122
        with one sampled next action (continuous), eq. 124 summed over actions (discrete)."""
        alpha = self.log_alpha.exp()
        if self.discrete:
            next_dist = self.actor(next_obs)
            next_q = self.target_critic(next_obs).min(0).values
            probs = next_dist.log_probs.exp()
            soft_value = (probs * (next_q - alpha * next_dist.log_probs)).sum(-1)
        else:
            next_act, next_log_prob = self.actor.sample(next_obs, self.generator)
            next_q = self.target_critic(torch.cat([next_obs, next_act], -1)).min(0).values
            soft_value = next_q.squeeze(-1) - alpha * next_log_prob
        return rew + self.config.gamma * (~terminated).float() * soft_value

    def q_values(self, obs: Tensor, act: Tensor) -> Tensor:
        """Both critics at ``(obs [B, S], act [B, A] or indices [B, 1])``: ``[2, B]``."""
        if self.discrete:
            index = act.long().reshape(1, -1, 1).expand(2, -1, 1)
            return self.critic(obs).gather(-1, index).squeeze(-1)
        return self.critic(torch.cat([obs, act], -1)).squeeze(-1)

    @property
    def exact_alpha(self) -> bool:
        return self.discrete and self.config.autotune_alpha and self.config.exact_discrete_alpha

    def actor_loss(self, obs: Tensor) -> tuple[Tensor, Tensor]:
        """``(J_pi, entropy estimate [B])``: eq. 119 (discrete, exact expectation) or eq. 109
        with a reparameterised action (continuous), against the smaller critic. With
        :attr:`exact_alpha` the temperature is first solved on these states' values."""
        if self.discrete:
            dist = self.actor(obs)
            probs = dist.log_probs.exp()
            q_all = self.critic(obs).min(0).values.detach()
            if self.exact_alpha:
                with torch.no_grad():
                    self.log_alpha.fill_(solve_log_alpha(q_all, self.target_entropy))
            alpha = self.log_alpha.exp().detach()
            loss = (probs * (alpha * dist.log_probs - q_all)).sum(-1).mean()
            return loss, -(probs * dist.log_probs).sum(-1).detach()
        alpha = self.log_alpha.exp().detach()
        new_act, log_prob = self.actor.sample(obs, self.generator)
        self.critic.requires_grad_(False)  # the actor's loss needs only dQ/da
        try:
            q_new = self.critic(torch.cat([obs, new_act], -1)).min(0).values.squeeze(-1)
        finally:
            self.critic.requires_grad_(True)
        return (alpha * log_prob - q_new).mean(), -log_prob.detach()

    def update(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One gradient step of critics, actor and temperature on a batch (from
        :meth:`Batch.to_torch`), then the Polyak target update."""
        obs, next_obs = self.obs_input(batch["obs"]), self.obs_input(batch["next_obs"])
        target = self.soft_target(batch["rew"], next_obs, batch["terminated"])
        errors = self.q_values(obs, batch["act"]) - target
        critic_loss = 0.5 * errors.square().mean(1).sum()
        self._step("critic", critic_loss, self.critic_optimizer)
        actor_loss, entropy = self.actor_loss(obs)
        self._step("actor", actor_loss, self.actor_optimizer)

        metrics = {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(),
                   "entropy": entropy.mean().item(), "alpha": self.alpha}
        if self.config.autotune_alpha and not self.exact_alpha:  # eq. 118
            alpha_loss = (self.log_alpha * (entropy - self.target_entropy)).mean()
            self._step("temperature", alpha_loss, self.alpha_optimizer)
        with torch.no_grad():
            torch._foreach_lerp_(list(self.target_critic.parameters()),
                                 list(self.critic.parameters()), self.config.tau)
        self.updates += 1
        self.last_losses = {"critic": metrics["critic_loss"], "actor": metrics["actor_loss"]}
        return metrics

    def _step(self, part: str, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """One optimiser step of ``part``; a NaN/Inf loss or gradient raises
        :class:`~mbrl.util.errors.TrainingDiverged` before it (the weights stay as they were)."""
        where, last = f"update {self.updates}", self.last_losses.get(part, float("nan"))
        check_finite_loss(f"SAC {part}", where, loss.item(), last)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]
                 if p.grad is not None]
        check_finite_loss(f"SAC {part} (gradient norm)", where,
                          float(torch.nn.utils.get_total_norm(grads)), last)
        optimizer.step()

    def train_from(self, buffer: ReplayBuffer, updates: int, rng: np.random.Generator,
                   synthetic: ReplayBuffer | None = None, real_fraction: float = 1.0
                   ) -> dict[str, float]:
        """``updates`` steps on batches of ``real_fraction`` real transitions from ``buffer`` and
        the rest from ``synthetic`` (model rollouts); returns the last step's metrics."""
        if not 0.0 <= real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {real_fraction}")
        num_real = round(real_fraction * self.config.batch_size)
        if num_real < self.config.batch_size and synthetic is None:
            raise ValueError("real_fraction < 1 needs a synthetic buffer")
        metrics: dict[str, float] = {}
        for _ in range(updates):
            parts = []
            if num_real:
                parts.append(buffer.sample(num_real, rng))
            if num_real < self.config.batch_size:
                parts.append(synthetic.sample(self.config.batch_size - num_real, rng))
            batch = parts[0] if len(parts) == 1 else Batch(
                *(np.concatenate([getattr(p, f) for p in parts]) for f in FIELDS))
            metrics = self.update(batch.to_torch())
        return metrics

    # ----- persistence --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "target_critic": self.target_critic.state_dict(),
                "log_alpha": self.log_alpha.detach().clone(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(),
                "alpha_optimizer": self.alpha_optimizer.state_dict(),
                "generator": self.generator.get_state(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("actor", "critic", "target_critic", "actor_optimizer", "critic_optimizer",
                     "alpha_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.generator.set_state(state["generator"])
        self.updates = int(state["updates"])
