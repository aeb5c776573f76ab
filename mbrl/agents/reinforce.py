"""REINFORCE with causality (reference 003 Alg. 15, eq. 3.1.10; Williams 1992) and four
baselines.

- ``none``: ``grad = mean_i grad log pi(a_i|s_i) G_i`` with ``G_i`` the reward-to-go;
- ``mean``: ``G_i - mean(G)`` (003 eq. 3.1.11);
- ``optimal``: the gradient-weighted baseline of 003 eq. 3.1.17, one per parameter component
  ``b_k = sum_i g_ik^2 G_i / sum_i g_ik^2`` with ``g_i`` the per-sample score
  ``grad log pi(a_i|s_i)`` (computed with ``torch.func``), applied to the causal estimator's
  per-step terms;
- ``value``: a learned state-value baseline ``G_i - V(s_i)`` (001 "state-dependent
  baselines"), fitted to the returns in the same step.

Returns need the rest of each episode. Without a learned value, the steps of an episode still
running when the rollout ends are left out of the update (the episode's later steps, in the
next rollout, do have complete reward-to-go and are used there), and an episode cut off by a
time limit contributes its return up to the cut (nothing to bootstrap from). With the ``value``
baseline both are bootstrapped from V of the last observation instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import functional_call, grad, vmap

from mbrl.agents.networks import ActorCritic
from mbrl.agents.onpolicy import OnPolicyAgent, Rollout
from mbrl.returns import discounted_returns
from mbrl.util.errors import check_finite_loss

BASELINES = ("none", "mean", "optimal", "value")


@dataclass
class ReinforceConfig:
    learning_rate: float = 1e-3  # Adam step size
    steps_per_env: int = 500  # rollout length T per update
    gamma: float = 0.99  # discount of the returns
    baseline: str = "mean"  # none | mean | optimal | value
    value_coef: float = 0.5  # weight of the value loss (baseline=value)
    max_grad_norm: float | None = None  # clip the gradient norm to this (null: no clipping)
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths of policy and value
    activation: str = "tanh"  # tanh | relu | silu | elu
    log_std_init: float = 0.0  # initial log std of a Gaussian policy
    score_chunk: int = 4096  # samples per vmap call of the optimal baseline's per-sample scores

    def validate(self) -> None:
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        if self.learning_rate <= 0 or self.steps_per_env < 1 or self.score_chunk < 1:
            raise ValueError("learning_rate, steps_per_env and score_chunk must be positive")


def complete_episode_mask(terminated: Tensor, truncated: Tensor) -> Tensor:
    """``[T, N]`` bool: steps of episodes that end within the rollout (each env's steps up to
    and including its last episode end)."""
    ends = (terminated | truncated).long()
    # ends still to come at or after step t, counted from the back
    remaining = ends.flip(0).cumsum(0).flip(0)
    return remaining > 0


class Reinforce(OnPolicyAgent):
    def __init__(self, policy: ActorCritic, config: ReinforceConfig,
                 generator: torch.Generator) -> None:
        config.validate()
        optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, fused=True)
        super().__init__(policy, optimizer, generator, config.max_grad_norm)
        self.config = config

    def update(self, rollout: Rollout) -> dict[str, float]:
        cfg = self.config
        learned_value = cfg.baseline == "value"
        if learned_value:
            next_values = self.values(rollout)[1]
            valid = torch.ones_like(rollout.terminated)
        else:
            next_values = torch.zeros_like(rollout.rewards)
            valid = complete_episode_mask(rollout.terminated, rollout.truncated)
        returns = discounted_returns(rollout.rewards, next_values, rollout.terminated,
                                     rollout.truncated, cfg.gamma)
        if not valid.any():
            return {"samples": 0.0}
        obs, actions, returns = rollout.obs[valid], rollout.actions[valid], returns[valid]
        if cfg.baseline == "optimal":
            return self._optimal_baseline_step(obs, actions, returns)
        dist, value = self.policy(obs)
        log_probs = dist.log_prob(actions)
        metrics = {"samples": float(len(returns))}
        if cfg.baseline == "none":
            weights = returns
        elif cfg.baseline == "mean":
            weights = returns - returns.mean()
        else:
            weights = returns - value.detach()
        loss = -(log_probs * weights).mean()
        if learned_value:
            value_loss = (value - returns).square().mean()
            loss = loss + cfg.value_coef * value_loss
            metrics["value_loss"] = value_loss.item()
        metrics.update(grad_norm=float(self._step(loss)), entropy=dist.entropy().mean().item())
        return metrics

    def _optimal_baseline_step(self, obs: Tensor, actions: Tensor, returns: Tensor
                               ) -> dict[str, float]:
        """Per-sample scores, the per-component baseline of eq. 3.1.17, then one step."""
        params = {name: p.detach() for name, p in self.policy.named_parameters()
                  if not name.startswith("value_head")}

        def log_prob(p: dict[str, Tensor], state: Tensor, action: Tensor) -> Tensor:
            dist = functional_call(self.policy, p, (state[None],), strict=False)[0]
            return dist.log_prob(action[None])[0]

        scores = vmap(grad(log_prob), in_dims=(None, 0, 0))
        weighted = {name: torch.zeros_like(p) for name, p in params.items()}  # sum g^2 G
        squared = {name: torch.zeros_like(p) for name, p in params.items()}  # sum g^2
        plain = {name: torch.zeros_like(p) for name, p in params.items()}  # sum g G
        total = {name: torch.zeros_like(p) for name, p in params.items()}  # sum g
        for start in range(0, len(returns), self.config.score_chunk):
            chunk = slice(start, start + self.config.score_chunk)
            g = scores(params, obs[chunk], actions[chunk])
            r = returns[chunk]
            for name, value in g.items():
                shaped = r.reshape(-1, *([1] * (value.ndim - 1)))
                weighted[name] += (value.square() * shaped).sum(0)
                squared[name] += value.square().sum(0)
                plain[name] += (value * shaped).sum(0)
                total[name] += value.sum(0)
        self.optimizer.zero_grad(set_to_none=True)
        baseline_size = []
        for name, p in self.policy.named_parameters():
            if name not in params:
                continue
            baseline = weighted[name] / squared[name].clamp_min(1e-12)
            p.grad = -(plain[name] - baseline * total[name]) / len(returns)
            scored = squared[name] > 0  # the value network's stacked slices have no score
            baseline_size.append(baseline[scored].abs())
        norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(),
                                              self.max_grad_norm or float("inf"))
        check_finite_loss("Reinforce (gradient norm)", f"optimiser step {self.steps}",
                          float(norm), self.last_loss)
        self.optimizer.step()
        self.steps += 1
        return {"samples": float(len(returns)), "grad_norm": float(norm),
                "mean_abs_baseline": float(torch.cat(baseline_size).mean())}
