"""The task-oriented latent dynamics model of TD-MPC (Hansen, Wang and Su 2022; TD-MPC2,
Hansen, Su and Wang 2024): an encoder ``z = h(s)``, a latent dynamics ``z' = d(z, a)``, a
reward ``R(z, a)``, twin action values ``Q(z, a)`` with Polyak targets, a tanh-Gaussian policy
``pi(z)`` and, for tasks that terminate, a continuation head ``c(z')``. Nothing decodes the
latent back to observations: it is trained only to predict rewards, values and its own future
(latent consistency), which is what planning in it needs.

Losses over a window of H real transitions (reference 003 §5.3.4 for latent models; TD-MPC's
eqs. 3-4), with ``z_0 = h(s_0)``, ``z_{t+1} = d(z_t, a_t)`` unrolled from the first state and
weights ``rho^t``:

    consistency  || z_{t+1} - sg(h(s_{t+1})) ||^2
    reward       (R(z_t, a_t) - r_t)^2
    value        sum_i (Q_i(z_t, a_t) - (r_t + gamma (1 - term_t) min_i Qtarg_i(z*, pi(z*))))^2,
                 z* = sg(h(s_{t+1}))
    continuation binary cross-entropy of c(z_{t+1}) against 1 - term_t

and the policy, on the detached ``z_t``, by SAC's objective ``alpha log pi - mean_i Q_i``
with the temperature tuned to a target entropy (Haarnoja et al. 2018). Steps of a window after
its episode ended carry no loss (the ``valid`` mask of ``ReplayBuffer.sample_sequences``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mbrl.agents.sac import SquashedGaussianActor, TwinQ
from mbrl.models.latent import ConvEncoder, pixels_to_float
from mbrl.nn import ObservationInput, mlp
from planners import Problem


@dataclass
class TDMPCModelConfig:
    """Sizes and loss weights of the latent model: TD-MPC's loss weights, horizon weighting and
    Polyak factor; networks narrower than its 512 units (and ReLU for its ELU) so that planning
    and updates take tens of milliseconds on a 2-core CPU."""

    latent_dim: int = 32  # Z
    hidden: tuple[int, ...] = (128, 128)  # hidden widths of every network
    channels: tuple[int, ...] = (32, 32, 32, 32)  # the encoder's conv widths (frames only)
    # random shifts of training frames by up to this many pixels (edge-padded, cropped back;
    # DrQ, Kostrikov, Yarats and Fergus 2021, as TD-MPC from pixels); 0: off
    shift_pixels: int = 4
    activation: str = "relu"  # relu | tanh | silu | elu
    # TD-MPC2's simplicial normalisation over groups of this size (0: off, as TD-MPC; with
    # this small a latent it slowed learning on InvertedPendulum, see the tdmpc preset)
    simnorm_group: int = 0
    learning_rate: float = 1e-3  # Adam step size of model, critics and policy
    max_grad_norm: float = 10.0  # clip the model's gradient norm
    rho: float = 0.5  # weight rho^t of a window's step t
    consistency_weight: float = 2.0  # c1
    reward_weight: float = 0.5  # c2
    value_weight: float = 0.1  # c3
    continuation_weight: float = 1.0  # weight of the continuation loss (terminating tasks)
    tau: float = 0.01  # Polyak factor of the target critics
    initial_alpha: float = 0.1  # initial policy entropy temperature

    def validate(self) -> None:
        if self.latent_dim < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"need latent_dim >= 1 and positive hidden widths, got "
                             f"{self.latent_dim}, {self.hidden}")
        if self.shift_pixels < 0:
            raise ValueError(f"shift_pixels must be >= 0, got {self.shift_pixels}")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ValueError(f"channels must be four positive conv widths, got {self.channels}")
        if self.simnorm_group < 0 or (self.simnorm_group and
                                      self.latent_dim % self.simnorm_group):
            raise ValueError(f"latent_dim ({self.latent_dim}) must be a multiple of "
                             f"simnorm_group ({self.simnorm_group}), or simnorm_group 0")
        for name in ("learning_rate", "max_grad_norm", "initial_alpha"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.rho <= 1 or not 0 < self.tau <= 1:
            raise ValueError(f"rho and tau must be in (0, 1], got {self.rho}, {self.tau}")
        for name in ("consistency_weight", "reward_weight", "value_weight",
                     "continuation_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


class SimNorm(nn.Module):
    """Softmax over consecutive groups of ``group`` latent units (TD-MPC2): each group is a
    point on a simplex, which bounds the latent and keeps long unrolls from drifting."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.group = group

    def forward(self, z: Tensor) -> Tensor:
        if not self.group:
            return z
        return F.softmax(z.unflatten(-1, (-1, self.group)), dim=-1).flatten(-2)


def random_shift(frames: Tensor, pad: int, generator: torch.Generator | None = None) -> Tensor:
    """Each frame of ``frames [..., C, H, W]`` shifted by its own integer offsets in ``[-pad,
    pad]`` along both axes, the border repeated where it moves in (DrQ's augmentation)."""
    flat = frames.reshape(-1, *frames.shape[-3:]).float()
    count, height, width = flat.shape[0], flat.shape[-2], flat.shape[-1]
    padded = F.pad(flat, (pad, pad, pad, pad), mode="replicate")
    offsets = torch.randint(0, 2 * pad + 1, (2, count, 1), generator=generator)
    rows = (torch.arange(height) + offsets[0])[:, :, None]  # [N, H, 1]
    cols = (torch.arange(width) + offsets[1])[:, None, :]  # [N, 1, W]
    shifted = padded[torch.arange(count)[:, None, None], :, rows, cols]  # [N, H, W, C]
    return shifted.permute(0, 3, 1, 2).reshape(frames.shape)


class TDMPCModel(nn.Module):
    """Encoder, latent dynamics, reward, continuation, twin Q (+ targets) and policy over
    observations ``obs [B, S]`` (``obs_shape`` an int: an MLP encoder) or frames ``[B, C, 64,
    64]`` (``obs_shape`` ``(C, 64, 64)``, pixel values 0-255: a conv encoder, as TD-MPC's from
    pixels) and actions ``[B, A]`` in ``action_space``; :meth:`loss` and :meth:`policy_loss`
    train it, :meth:`problem` plans in it. The vector encoder does not take
    ``ignored_obs_dims`` (a task's reward-only dims)."""

    def __init__(self, obs_shape: int | tuple[int, ...], action_space: gym.spaces.Box,
                 config: TDMPCModelConfig, terminates: bool,
                 ignored_obs_dims: tuple[int, ...] = ()) -> None:
        super().__init__()
        z, a, hidden, act = config.latent_dim, action_space.shape[0], config.hidden, \
            config.activation
        self.config, self.terminates, self.act_dim = config, terminates, a
        shape = tuple(obs_shape) if isinstance(obs_shape, tuple | list) else (obs_shape,)
        self.pixels = len(shape) == 3
        if not self.pixels and len(shape) != 1 or self.pixels and shape[1:] != (64, 64):
            raise ValueError(f"TD-MPC encodes vectors [S] or frames [C, 64, 64], got {shape}")
        if self.pixels and ignored_obs_dims:
            raise ValueError("ignored_obs_dims apply to vector observations, not frames")
        self.obs_input = ObservationInput(shape[0], ignored_obs_dims)
        norm = SimNorm(config.simnorm_group)
        self.encoder = nn.Sequential(
            ConvEncoder(shape[0], tuple(config.channels), z) if self.pixels
            else mlp([self.obs_input.dim, *hidden, z], act), norm)
        self.dynamics = nn.Sequential(mlp([z + a, *hidden, z], act), norm)
        self.reward_head = mlp([z + a, *hidden, 1], act)
        self.continuation_head = mlp([z, *hidden, 1], act)
        self.critic = TwinQ(z + a, 1, hidden, act)
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor = SquashedGaussianActor(z, action_space, hidden, act)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(config.initial_alpha)))
        self.target_entropy = -float(a)
        self.register_buffer("action_low", torch.as_tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("action_high",
                             torch.as_tensor(action_space.high, dtype=torch.float32))

    # ----- the model's functions -----------------------------------------------------------
    def encode(self, obs: Tensor) -> Tensor:
        """``obs [B, S]`` (or frames ``[B, C, 64, 64]``) ``-> z [B, Z]``."""
        return self.encoder(pixels_to_float(obs) if self.pixels else self.obs_input(obs.float()))

    def next(self, z: Tensor, action: Tensor) -> Tensor:
        """``z [B, Z], a [B, A] -> z' [B, Z]``."""
        return self.dynamics(torch.cat([z, action], -1))

    def reward(self, z: Tensor, action: Tensor) -> Tensor:
        """``[B]`` predicted rewards."""
        return self.reward_head(torch.cat([z, action], -1)).squeeze(-1)

    def continuation_logit(self, z_next: Tensor) -> Tensor:
        """``[B]`` logits of 'the episode goes on after reaching z_next'."""
        return self.continuation_head(z_next).squeeze(-1)

    def q(self, z: Tensor, action: Tensor, target: bool = False) -> Tensor:
        """Both critics ``[2, B]``."""
        return (self.target_critic if target else self.critic)(
            torch.cat([z, action], -1)).squeeze(-1)

    # ----- training ------------------------------------------------------------------------
    def loss(self, obs: Tensor, actions: Tensor, rewards: Tensor, next_obs: Tensor,
             terminated: Tensor, valid: Tensor, gamma: float,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, dict[str, float]]:
        """The module docstring's weighted model loss on windows ``obs [B, H, S]``, ``actions
        [B, H, A]``, ``rewards, terminated, valid [B, H]``; also the unrolled latents
        ``[H, B, Z]`` (detached, for the policy) and the loss terms for logging."""
        config, horizon, first = self.config, obs.shape[1], obs[:, 0]  # only s_0 is encoded
        if self.pixels and config.shift_pixels:
            first = random_shift(first, config.shift_pixels, generator)
            next_obs = random_shift(next_obs, config.shift_pixels, generator)
        with torch.no_grad():
            targets = self.encode(next_obs.flatten(0, 1)).unflatten(0, obs.shape[:2])
            next_actions, _ = self.actor.sample(targets.flatten(0, 1), generator)
            next_q = self.q(targets.flatten(0, 1), next_actions, target=True).min(0).values
            td_targets = rewards + gamma * (~terminated).float() * next_q.view(rewards.shape)
        weights = valid.float() * config.rho ** torch.arange(horizon, dtype=torch.float32)
        weights = weights / weights.sum(1, keepdim=True)  # each window's steps sum to one
        z, latents = self.encode(first), []
        terms = {name: torch.zeros(()) for name in ("consistency", "reward", "value",
                                                    "continuation")}
        for t in range(horizon):
            latents.append(z.detach())
            w, a = weights[:, t], actions[:, t]
            q = self.q(z, a)
            terms["reward"] += (w * (self.reward(z, a) - rewards[:, t]).square()).sum()
            terms["value"] += (w * (q - td_targets[:, t]).square().sum(0)).sum()
            z = self.next(z, a)
            terms["consistency"] += (w * (z - targets[:, t]).square().mean(-1)).sum()
            if self.terminates:
                terms["continuation"] += (w * F.binary_cross_entropy_with_logits(
                    self.continuation_logit(z), (~terminated[:, t]).float(),
                    reduction="none")).sum()
        batch = obs.shape[0]
        total = (config.consistency_weight * terms["consistency"] + config.reward_weight *
                 terms["reward"] + config.value_weight * terms["value"] +
                 config.continuation_weight * terms["continuation"]) / batch
        logged = {f"{name}_loss": float(value.detach()) / batch for name, value in terms.items()}
        return total, torch.stack(latents), logged

    def policy_loss(self, latents: Tensor, generator: torch.Generator | None = None
                    ) -> tuple[Tensor, Tensor, dict[str, float]]:
        """SAC's actor and temperature losses on the detached unrolled latents ``[H, B, Z]``
        (step t weighted by rho^t)."""
        horizon = latents.shape[0]
        flat = latents.flatten(0, -2)
        actions, log_probs = self.actor.sample(flat, generator)
        q = self.q(flat, actions).mean(0)
        alpha = self.log_alpha.exp().detach()
        step_weights = self.config.rho ** torch.arange(horizon, dtype=torch.float32)
        step_weights = step_weights.repeat_interleave(flat.shape[0] // horizon)
        actor_loss = (step_weights * (alpha * log_probs - q)).sum() / step_weights.sum()
        alpha_loss = -(self.log_alpha * (log_probs.detach() + self.target_entropy)).mean()
        return actor_loss, alpha_loss, {"policy_entropy": float(-log_probs.detach().mean()),
                                        "alpha": float(alpha)}

    @torch.no_grad()
    def update_targets(self) -> None:
        for target, online in zip(self.target_critic.parameters(), self.critic.parameters(),
                                  strict=True):
            target.lerp_(online, self.config.tau)

    # ----- planning ------------------------------------------------------------------------
    def planning_state(self, obs: Tensor) -> Tensor:
        """``obs [B, S]`` -> the planning state: ``z [B, Z]``, with the probability of being
        alive (1) appended ``[B, Z + 1]`` for terminating tasks."""
        z = self.encode(obs)
        return torch.cat([z, torch.ones(len(z), 1)], -1) if self.terminates else z

    def problem(self, horizon: int, gamma: float, num_policy_samples: int,
                generator: torch.Generator) -> Problem:
        """Planning over :meth:`planning_state`: the learned dynamics and reward, the policy's
        value ``mean_i Q_i(z_H, pi(z_H))`` at the horizon, and ``num_policy_samples``
        sequences of the policy rolled through the dynamics as proposals (0: none).

        For a terminating task the state carries the probability ``p_t`` of being alive,
        ``p_{t+1} = p_t sigmoid(c(z_{t+1}))``, which weights each reward and the terminal
        value: the expected return under the predicted survival (as Dreamer weights imagined
        returns, Hafner et al. 2020), where a hard termination at ``c < 0.5`` would ignore
        every risk below one half.
        """
        terminates = self.terminates

        def split(state: Tensor) -> tuple[Tensor, Tensor]:
            if not terminates:
                return state, torch.ones(len(state))
            return state[:, :-1], state[:, -1]

        def dynamics(state: Tensor, action: Tensor) -> Tensor:
            z, alive = split(state)
            z_next = self.next(z, action)
            if not terminates:
                return z_next
            survival = torch.sigmoid(self.continuation_logit(z_next))
            return torch.cat([z_next, (alive * survival)[:, None]], -1)

        def reward(state: Tensor, action: Tensor, next_state: Tensor) -> Tensor:
            z, alive = split(state)
            return alive * self.reward(z, action)

        def terminal_value(state: Tensor) -> Tensor:
            z, alive = split(state)
            return alive * self.q(z, self.actor.deterministic(z)).mean(0)

        def proposals(state: Tensor) -> Tensor:
            z, actions = split(state[None])[0].expand(num_policy_samples, -1), []
            for _ in range(horizon):
                actions.append(self.actor.sample(z, generator)[0])
                z = self.next(z, actions[-1])
            return torch.stack(actions, 1)

        return Problem(dynamics, reward, self.action_low, self.action_high, horizon,
                       terminal_value=terminal_value, discount=gamma,
                       state_dim=self.config.latent_dim + terminates,
                       proposals=proposals if num_policy_samples else None)

    def optimizers(self) -> dict[str, Any]:
        """Adam for the model with critics, for the policy, and for the temperature."""
        lr = self.config.learning_rate
        model_parameters = [p for name, p in self.named_parameters()
                            if not name.startswith(("actor.", "target_critic.", "log_alpha"))]
        return {"model": torch.optim.Adam(model_parameters, lr=lr),
                "actor": torch.optim.Adam(self.actor.parameters(), lr=lr),
                "alpha": torch.optim.Adam([self.log_alpha], lr=lr)}
