"""Synchronous advantage actor-critic (reference 004 "A2C"; 001 "actor-critic in practice";
Mnih et al. 2016).

Short rollouts from N synchronous environments, n-step or GAE advantages, one gradient step per
rollout on policy loss + value loss - entropy bonus; separate networks or a shared trunk
(:class:`ActorCritic`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mbrl.agents.networks import ActorCritic
from mbrl.agents.onpolicy import OnPolicyAgent, Rollout
from mbrl.returns import gae, n_step_returns


@dataclass
class A2CConfig:
    learning_rate: float = 7e-4  # optimiser step size
    optimizer: str = "rmsprop"  # rmsprop (alpha 0.99, eps 1e-5, as in A2C) | adam
    steps_per_env: int = 5  # rollout length T; n-step targets use n = T
    gamma: float = 0.99  # discount
    advantage: str = "n_step"  # n_step | gae
    gae_lambda: float = 0.95  # lambda of GAE (advantage=gae)
    normalize_advantages: bool = False  # standardise the advantages of each rollout
    entropy_coef: float = 0.0  # weight of the entropy bonus
    value_coef: float = 0.5  # weight of the value loss
    max_grad_norm: float | None = 0.5  # clip the gradient norm to this (null: no clipping)
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths
    activation: str = "tanh"  # tanh | relu | silu | elu
    shared_trunk: bool = False  # policy and value on one hidden stack
    log_std_init: float = 0.0  # initial log std of a Gaussian policy

    def validate(self) -> None:
        if self.advantage not in ("n_step", "gae"):
            raise ValueError(f"advantage must be 'n_step' or 'gae', got {self.advantage!r}")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")
        if self.learning_rate <= 0 or self.steps_per_env < 1:
            raise ValueError("learning_rate and steps_per_env must be positive")


class A2C(OnPolicyAgent):
    def __init__(self, policy: ActorCritic, config: A2CConfig, generator: torch.Generator) -> None:
        config.validate()
        if config.optimizer == "rmsprop":
            optimizer = torch.optim.RMSprop(policy.parameters(), lr=config.learning_rate,
                                            alpha=0.99, eps=1e-5)
        else:
            optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
        super().__init__(policy, optimizer, generator, config.max_grad_norm)
        self.config = config

    def update(self, rollout: Rollout) -> dict[str, float]:
        loss, metrics = self.loss(rollout)
        return {**metrics, "grad_norm": float(self._step(loss))}

    def loss(self, rollout: Rollout) -> tuple[torch.Tensor, dict[str, float]]:
        """Policy loss + ``value_coef`` x value loss - ``entropy_coef`` x entropy on one
        rollout, and its parts (A3C's workers backpropagate it themselves)."""
        cfg = self.config
        values, next_values = self.values(rollout)
        if cfg.advantage == "gae":
            advantages, targets = gae(rollout.rewards, values, next_values, rollout.terminated,
                                      rollout.truncated, cfg.gamma, cfg.gae_lambda)
        else:
            targets = n_step_returns(rollout.rewards, next_values, rollout.terminated,
                                     rollout.truncated, cfg.gamma, rollout.rewards.shape[0])
            advantages = targets - values
        advantages, targets = advantages.reshape(-1), targets.reshape(-1)
        if cfg.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        obs = rollout.obs.reshape(-1, rollout.obs.shape[-1])
        actions = rollout.actions.reshape(rollout.num_steps, *rollout.actions.shape[2:])
        dist, value = self.policy(obs)
        policy_loss = -(dist.log_prob(actions) * advantages).mean()
        value_loss = (value - targets).square().mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
        return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(),
                      "entropy": entropy.item()}
