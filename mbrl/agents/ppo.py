"""Proximal policy optimisation (reference 002 §8.2-8.7; 003 §3.3; Schulman et al. 2017;
GAE: Schulman et al. 2016).

Clipped surrogate (PPO-Clip, §8.5) or KL penalty with adaptive beta (PPO-Penalty, §8.6), GAE
advantages, value clipping (§8.7), minibatch epochs, advantage normalisation, entropy bonus,
gradient-norm clipping, running observation and reward normalisation, learning-rate and clip
annealing, and a target-KL early stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from mbrl.agents.networks import ActorCritic, running_normalizer
from mbrl.agents.onpolicy import OnPolicyAgent, Rollout
from mbrl.returns import gae


@dataclass
class PPOConfig:
    learning_rate: float = 3e-4  # Adam step size
    anneal_learning_rate: bool = False  # linear decay to 0 over training
    steps_per_env: int = 256  # rollout length T per env (8 envs: 2048 samples an update)
    batch_size: int = 64  # minibatch size
    epochs: int = 10  # passes over each rollout
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # lambda of GAE
    objective: str = "clip"  # clip | kl_penalty
    clip_range: float = 0.2  # PPO-Clip ratio range epsilon
    anneal_clip_range: bool = False  # linear decay of clip_range to 0 over training
    kl_beta: float = 1.0  # initial penalty coefficient (kl_penalty)
    kl_target: float = 0.01  # beta doubles above 1.5x, halves below 1/1.5x of it
    value_clip_range: float | None = None  # None: unclipped value loss
    normalize_advantages: bool = True  # standardise advantages per minibatch
    entropy_coef: float = 0.0  # weight of the entropy bonus
    value_coef: float = 0.5  # weight of the value loss
    max_grad_norm: float | None = 0.5  # clip the gradient norm to this (null: no clipping)
    target_kl: float | None = None  # stop the epochs once the mean KL exceeds 1.5x this
    normalize_observations: bool = True  # running observation statistics (clamped to 10 std)
    normalize_rewards: bool = False  # scale rewards by the std of the discounted return
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths
    activation: str = "tanh"  # tanh | relu | silu | elu
    shared_trunk: bool = False  # policy and value on one hidden stack
    log_std_init: float = 0.0  # initial log std of a Gaussian policy

    def validate(self) -> None:
        if self.objective not in ("clip", "kl_penalty"):
            raise ValueError(f"objective must be 'clip' or 'kl_penalty', got {self.objective!r}")
        for name in ("learning_rate", "steps_per_env", "batch_size", "epochs", "clip_range",
                     "kl_beta", "kl_target"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


class RewardScaler:
    """Divides rewards by the running std of each env's discounted return (the reward
    normalisation of PPO implementations); the return statistics carry across rollouts."""

    def __init__(self, num_envs: int, gamma: float) -> None:
        self.gamma = gamma
        self.statistics = running_normalizer(1)
        self.running_return = torch.zeros(num_envs, dtype=torch.float64)

    def __call__(self, rewards: Tensor, ends: Tensor) -> Tensor:
        """Update with ``rewards [T, N]`` (``ends [T, N]``: episode over after the step) and
        return them scaled."""
        for t in range(rewards.shape[0]):
            self.running_return = self.running_return * self.gamma + rewards[t]
            self.statistics.update(self.running_return[:, None])
            self.running_return[ends[t]] = 0.0
        std = torch.sqrt(self.statistics.var + self.statistics.variance_eps).float()
        return rewards / std

    def state_dict(self) -> dict[str, Any]:
        return {"statistics": self.statistics.state_dict(), "running_return": self.running_return}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.statistics.load_state_dict(state["statistics"])
        self.running_return = state["running_return"].clone()


class PPO(OnPolicyAgent):
    """PPO on :class:`Rollout` batches, whether collected from environments or from a model."""

    def __init__(self, policy: ActorCritic, config: PPOConfig, generator: torch.Generator,
                 num_envs: int) -> None:
        config.validate()
        optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, eps=1e-5,
                                     fused=True)
        super().__init__(policy, optimizer, generator, config.max_grad_norm)
        self.config = config
        self.clip_range = config.clip_range
        self.kl_beta = config.kl_beta
        self.reward_scaler = RewardScaler(num_envs, config.gamma) if config.normalize_rewards \
            else None

    def begin_update(self, progress: float) -> None:
        """Anneal the learning rate and clip range linearly with training ``progress`` in [0, 1]."""
        remaining = max(1.0 - progress, 0.0)
        if self.config.anneal_learning_rate:
            for group in self.optimizer.param_groups:
                group["lr"] = self.config.learning_rate * remaining
        if self.config.anneal_clip_range:
            self.clip_range = self.config.clip_range * remaining

    def update(self, rollout: Rollout) -> dict[str, float]:
        cfg = self.config
        rewards = rollout.rewards
        if self.reward_scaler is not None:
            rewards = self.reward_scaler(rewards, rollout.terminated | rollout.truncated)
        obs = rollout.obs.reshape(-1, rollout.obs.shape[-1])
        with torch.no_grad():  # the frozen old policy and values in one pass
            old_dist, old_values = self.policy(obs)
            next_values = self.policy.value(rollout.next_obs.reshape(obs.shape))
        shape = rollout.rewards.shape
        advantages, returns = gae(rewards, old_values.reshape(shape), next_values.reshape(shape),
                                  rollout.terminated, rollout.truncated, cfg.gamma,
                                  cfg.gae_lambda)
        actions = rollout.actions.reshape(rollout.num_steps, *rollout.actions.shape[2:])
        old_log_probs = rollout.log_probs.reshape(-1)
        advantages, returns = advantages.reshape(-1), returns.reshape(-1)
        old_dist = old_dist.detach()

        stats: dict[str, list[Tensor]] = {k: [] for k in
                                         ("policy_loss", "value_loss", "entropy", "kl",
                                          "clip_fraction", "grad_norm")}
        stopped_early = False
        for _ in range(cfg.epochs):
            order = torch.randperm(rollout.num_steps, generator=self.generator)
            for start in range(0, rollout.num_steps, cfg.batch_size):
                index = order[start:start + cfg.batch_size]
                dist, value = self.policy(obs[index])
                log_ratio = dist.log_prob(actions[index]) - old_log_probs[index]
                ratio = log_ratio.exp()
                with torch.set_grad_enabled(cfg.objective == "kl_penalty"):
                    kl = old_dist[index].kl(dist).mean()
                if cfg.target_kl is not None and kl.item() > 1.5 * cfg.target_kl:
                    stopped_early = True
                    break
                advantage = advantages[index]
                if cfg.normalize_advantages and len(index) > 1:
                    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
                if cfg.objective == "clip":
                    clipped = ratio.clamp(1 - self.clip_range, 1 + self.clip_range)
                    policy_loss = -torch.minimum(ratio * advantage, clipped * advantage).mean()
                else:
                    policy_loss = -(ratio * advantage).mean() + self.kl_beta * kl
                value_loss = self._value_loss(value, old_values[index], returns[index])
                entropy = dist.entropy().mean()
                loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
                stats["grad_norm"].append(self._step(loss))
                stats["policy_loss"].append(policy_loss.detach())
                stats["value_loss"].append(value_loss.detach())
                stats["entropy"].append(entropy.detach())
                stats["kl"].append(kl.detach())
                stats["clip_fraction"].append(
                    ((ratio.detach() - 1).abs() > self.clip_range).float().mean())
            if stopped_early:
                break
        # statistics stay tensors in the loop: one conversion at the end, not one per minibatch
        metrics = {k: float(torch.stack(v).mean()) if v else float("nan")
                   for k, v in stats.items()}
        if cfg.objective == "kl_penalty" and stats["kl"]:
            self._adapt_beta(metrics["kl"])
        explained = 1 - (returns - old_values).var() / returns.var().clamp_min(1e-8)
        metrics.update(explained_variance=float(explained), kl_beta=self.kl_beta,
                       stopped_early=float(stopped_early),
                       learning_rate=self.optimizer.param_groups[0]["lr"])
        return metrics

    def after_update(self, rollout: Rollout) -> None:
        """Refresh the observation statistics with the rollout just trained on (they stay fixed
        while a rollout is collected and trained on, so the old log-probabilities stay exact)."""
        if self.policy.obs_normalizer is not None:
            self.policy.obs_normalizer.update(self.policy.obs_input(rollout.obs))

    def _value_loss(self, value: Tensor, old_value: Tensor, target: Tensor) -> Tensor:
        """Squared error, or with value clipping the max of the clipped and unclipped errors
        (002 §8.7)."""
        if self.config.value_clip_range is None:
            return (value - target).square().mean()
        clip = self.config.value_clip_range
        clipped = old_value + (value - old_value).clamp(-clip, clip)
        return torch.maximum((value - target).square(), (clipped - target).square()).mean()

    def _adapt_beta(self, kl: float) -> None:
        """PPO-Penalty: a KL far above the target strengthens the penalty, far below weakens it."""
        if kl > 1.5 * self.config.kl_target:
            self.kl_beta *= 2.0
        elif kl < self.config.kl_target / 1.5:
            self.kl_beta /= 2.0

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(kl_beta=self.kl_beta, clip_range=self.clip_range)
        if self.reward_scaler is not None:
            state["reward_scaler"] = self.reward_scaler.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.kl_beta, self.clip_range = state["kl_beta"], state["clip_range"]
        if self.reward_scaler is not None:
            self.reward_scaler.load_state_dict(state["reward_scaler"])
