"""Dreamer (Hafner et al. 2020): an actor and a critic learned from imagined rollouts in a
recurrent state-space model's latent space (reference 003 Alg. 27 in latent space), so the
policy acts without planning.

The loop is :mod:`mbrl.algorithms.world_model_loop`'s; after every model update:

    starts: the update's posterior states [h, s] (detached), every real window position
    imagine H steps: a_t ~ pi(s_t) (reparameterised tanh-Gaussian), s_{t+1} from the prior
        (reparameterised), r_t = R(s_{t+1}), d_t = gamma * P(continue | s_{t+1})
        (gamma alone for tasks that never terminate)
    G^lambda_t = r_t + d_t ((1 - lam) v(s_{t+1}) + lam G_{t+1})  (mbrl.returns, target critic)
    actor: ascend sum_t w_t (G^lambda_t + eta H[pi(.|s_t)]) by backpropagation through the
        model's dynamics (pathwise gradients), w_t = prod_{k<t} d_k (detached); the model's
        own weights are frozen for this step
    critic: regress v(s_t) on the detached G^lambda_t with the same weights; the target critic
        follows by Polyak averaging
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mbrl.agents.sac import SquashedGaussianActor
from mbrl.algorithms.world_model_loop import WorldModelRun, WorldModelRunConfig
from mbrl.nn import mlp
from mbrl.returns import discounted_lambda_returns
from mbrl.util.errors import check_finite_loss


@dataclass
class DreamerConfig(WorldModelRunConfig):
    """The shared loop's settings and the actor-critic's (Dreamer's values unless noted)."""

    imagination_horizon: int = 15  # H
    gamma: float = 0.99  # discount
    lam: float = 0.95  # lambda of the returns
    entropy_weight: float = 1e-4  # eta
    actor_learning_rate: float = 8e-5  # Adam step size of the actor
    critic_learning_rate: float = 8e-5  # Adam step size of the critic
    actor_critic_hidden: tuple[int, ...] = (200, 200)  # hidden widths of actor and critic
    max_grad_norm: float = 100.0  # clip the actor's and the critic's gradient norms
    critic_tau: float = 0.02  # Polyak factor of the target critic

    def validate(self) -> None:
        super().validate()
        if self.imagination_horizon < 1:
            raise ValueError(f"imagination_horizon must be >= 1, got "
                             f"{self.imagination_horizon}")
        if not 0 < self.gamma <= 1 or not 0 <= self.lam <= 1 or not 0 < self.critic_tau <= 1:
            raise ValueError(f"need gamma and critic_tau in (0, 1], lam in [0, 1]; got "
                             f"{self.gamma}, {self.critic_tau}, {self.lam}")
        for name in ("actor_learning_rate", "critic_learning_rate", "max_grad_norm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {self.entropy_weight}")


def imagine(model: Any, actor: SquashedGaussianActor, starts: Tensor, horizon: int,
            generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """``horizon`` imagined steps from ``starts [N, F]``: the states ``[H+1, N, F]``, the
    actions' log-probabilities ``[H, N]`` and the actions ``[H, N, A]``, differentiable with
    respect to the actor through the model's prior (reparameterised)."""
    states, log_probs, actions, state = [starts], [], [], starts
    for _ in range(horizon):
        action, log_prob = actor.sample(state, generator)
        state = model.imagine_step(state, action, generator)
        states.append(state)
        log_probs.append(log_prob)
        actions.append(action)
    return torch.stack(states), torch.stack(log_probs), torch.stack(actions)


class DreamerRun(WorldModelRun):
    """One Dreamer run; ``train()`` continues from wherever it stopped."""

    config_class = DreamerConfig

    def __init__(self, config: DreamerConfig) -> None:
        super().__init__(config)
        features, hidden = self.model.feature_dim, tuple(config.actor_critic_hidden)
        self.actor = SquashedGaussianActor(features, self.space, hidden, "elu")
        self.critic = mlp([features, *hidden, 1], "elu")
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(),
                                                lr=config.actor_learning_rate)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(),
                                                 lr=config.critic_learning_rate)

    def label(self) -> str:
        return "dreamer"

    @torch.no_grad()
    def act_from_state(self, state: Tensor, deterministic: bool) -> np.ndarray:
        if deterministic:
            return self.actor.deterministic(state[None])[0].numpy()
        return self.actor.sample(state[None], self.act_generator)[0][0].numpy()

    def learn(self, states: Tensor, generator: torch.Generator, where: str
              ) -> dict[str, float]:
        config, model = self.config, self.model
        model.requires_grad_(False)  # gradients flow through the model, not into it
        try:
            imagined, log_probs, _ = imagine(model, self.actor, states,
                                             config.imagination_horizon, generator)
            rewards = model.reward(imagined[1:])
            if model.terminates:
                discounts = config.gamma * torch.sigmoid(model.continuation_logit(imagined[1:]))
            else:
                discounts = torch.full_like(rewards, config.gamma)
            returns = discounted_lambda_returns(
                rewards, self.target_critic(imagined[1:]).squeeze(-1), discounts, config.lam)
            weights = torch.cat([torch.ones_like(discounts[:1]),
                                 torch.cumprod(discounts[:-1], 0)]).detach()
            actor_loss = -(weights * (returns - config.entropy_weight * log_probs)).mean()
            check_finite_loss("Dreamer actor", where, actor_loss.item(), math.nan)
            self.actor_optimizer.zero_grad(set_to_none=True)
            actor_loss.backward()
            torch.nn.utils.clip_grad_norm_(self.actor.parameters(), config.max_grad_norm)
            self.actor_optimizer.step()
        finally:
            model.requires_grad_(True)
        values = self.critic(imagined[:-1].detach()).squeeze(-1)
        critic_loss = 0.5 * (weights * (values - returns.detach()).square()).mean()
        check_finite_loss("Dreamer critic", where, critic_loss.item(), math.nan)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.critic.parameters(), config.max_grad_norm)
        self.critic_optimizer.step()
        with torch.no_grad():
            for target, online in zip(self.target_critic.parameters(),
                                      self.critic.parameters(), strict=True):
                target.lerp_(online, config.critic_tau)
        return {"actor_loss": actor_loss.item(), "critic_loss": critic_loss.item(),
                "imagined_return": float(returns[0].detach().mean()),
                "policy_entropy": float(-log_probs.detach().mean())}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(),
                "target_critic": self.target_critic.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for name in ("actor", "critic", "target_critic", "actor_optimizer",
                     "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
