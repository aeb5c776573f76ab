"""Returns and advantages over batched rollouts (reference 000 eqs. 23-52; 003 §4.2;
Sutton and Barto 2018 ch. 7 and 12; GAE: Schulman et al. 2016).

Every function takes time-major tensors ``[T, N]`` (T steps of N environments), step ``t``
being the transition ``(s_t, a_t, r_t, s_{t+1})``:

- ``rewards[t]``: r_t;
- ``values[t]``: V(s_t) (where needed);
- ``next_values[t]``: V(s_{t+1}) of the *true* next observation: for a ``truncated`` step that
  is the final observation of the cut-off episode (before any reset), so the return can be
  bootstrapped from it;
- ``terminated[t]``: s_{t+1} is terminal: nothing is bootstrapped after it;
- ``truncated[t]``: the episode was cut off after this step (time limit): bootstrap from
  ``next_values[t]`` and do not look past it.

At the end of the rollout (t = T-1) an unfinished episode is bootstrapped from
``next_values[T-1]``, as after a truncation. Recursions run backwards over time in one loop,
vectorised over environments.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check(gamma: float, **tensors: Tensor | None) -> tuple[int, int]:
    shape = None
    for name, tensor in tensors.items():
        if tensor is None:
            continue
        if tensor.ndim != 2:
            raise ValueError(f"{name} must be time-major [T, N], got shape {tuple(tensor.shape)}")
        if shape is None:
            shape = tensor.shape
        elif tensor.shape != shape:
            raise ValueError(f"{name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    return tuple(shape)


def _bootstrap_mask(terminated: Tensor, truncated: Tensor) -> tuple[Tensor, Tensor]:
    """``(continues [T, N], ends [T, N])``: whether V(s_{t+1}) may be used (1 unless
    terminated), and whether the episode stops after step t (terminated or truncated)."""
    terminated, truncated = terminated.bool(), truncated.bool()
    return (~terminated).to(torch.get_default_dtype()), terminated | truncated


def td_errors(rewards: Tensor, values: Tensor, next_values: Tensor, terminated: Tensor,
              gamma: float) -> Tensor:
    """One-step TD errors ``delta_t = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)``."""
    _check(gamma, rewards=rewards, values=values, next_values=next_values, terminated=terminated)
    return rewards + gamma * (~terminated.bool()) * next_values - values


def discounted_returns(rewards: Tensor, next_values: Tensor, terminated: Tensor,
                       truncated: Tensor, gamma: float) -> Tensor:
    """Monte Carlo discounted returns ``G_t = r_t + gamma G_{t+1}`` within each episode, with
    ``G`` after a truncation or at the rollout's end bootstrapped from ``next_values`` and
    zero after a termination. With ``gamma = 1`` and no bootstrapping this is the reward-to-go
    of REINFORCE with causality (003 eq. 3.1.10)."""
    _check(gamma, rewards=rewards, next_values=next_values, terminated=terminated,
           truncated=truncated)
    continues, ends = _bootstrap_mask(terminated, truncated)
    returns = torch.empty_like(rewards)
    following = next_values[-1] * continues[-1]  # the rollout's end: bootstrap
    for t in reversed(range(rewards.shape[0])):
        after = torch.where(ends[t], continues[t] * next_values[t], following)
        following = rewards[t] + gamma * after
        returns[t] = following
    return returns


def gae(rewards: Tensor, values: Tensor, next_values: Tensor, terminated: Tensor,
        truncated: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation: ``A_t = delta_t + gamma lam A_{t+1}`` within an
    episode. Returns ``(advantages, returns = advantages + values)`` (the lambda-returns,
    targets for the value function). ``lam = 0`` gives the TD errors, ``lam = 1`` the Monte
    Carlo return minus the value."""
    _check(gamma, rewards=rewards, values=values, next_values=next_values,
           terminated=terminated, truncated=truncated)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    deltas = td_errors(rewards, values, next_values, terminated, gamma)
    _, ends = _bootstrap_mask(terminated, truncated)
    carry_on = (~ends).to(deltas.dtype) * (gamma * lam)
    advantages = torch.empty_like(deltas)
    running = torch.zeros_like(deltas[0])
    for t in reversed(range(deltas.shape[0])):
        running = deltas[t] + carry_on[t] * running
        advantages[t] = running
    return advantages, advantages + values


def lambda_returns(rewards: Tensor, values: Tensor, next_values: Tensor, terminated: Tensor,
                   truncated: Tensor, gamma: float, lam: float) -> Tensor:
    """TD(lambda) returns ``G^lambda_t`` (equal to GAE advantages plus values)."""
    return gae(rewards, values, next_values, terminated, truncated, gamma, lam)[1]


def discounted_lambda_returns(rewards: Tensor, next_values: Tensor, discounts: Tensor,
                              lam: float) -> Tensor:
    """TD(lambda) returns with a discount per step, for imagined rollouts whose termination is
    a predicted probability (Dreamer, Hafner et al. 2020, eq. 6):
    ``G_t = r_t + d_t ((1 - lam) V(s_{t+1}) + lam G_{t+1})`` with ``G`` at the rollout's end
    bootstrapped from ``V``, ``d_t = gamma * P(continue after step t)``. Differentiable in
    every input. With ``d_t = gamma (1 - terminated_t)`` it equals :func:`lambda_returns`
    without truncations."""
    _check(1.0, rewards=rewards, next_values=next_values, discounts=discounts)
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    returns, following = [], next_values[-1]
    for t in reversed(range(rewards.shape[0])):
        following = rewards[t] + discounts[t] * ((1 - lam) * next_values[t] + lam * following)
        returns.append(following)
    return torch.stack(returns[::-1])


def n_step_returns(rewards: Tensor, next_values: Tensor, terminated: Tensor, truncated: Tensor,
                   gamma: float, n: int) -> Tensor:
    """n-step TD targets ``sum_{k<m} gamma^k r_{t+k} + gamma^m V(s_{t+m})`` where m <= n stops
    early at the episode's end (no bootstrap after a termination; bootstrap from the final
    observation after a truncation) or at the rollout's end."""
    horizon, _ = _check(gamma, rewards=rewards, next_values=next_values, terminated=terminated,
                        truncated=truncated)
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    continues, ends = _bootstrap_mask(terminated, truncated)
    targets = torch.empty_like(rewards)
    for t in range(horizon):
        total = torch.zeros_like(rewards[0])
        weight = torch.ones_like(rewards[0])
        open_ = torch.ones_like(rewards[0], dtype=torch.bool)  # episode still running
        for k in range(t, min(t + n, horizon)):
            total = total + torch.where(open_, weight * rewards[k], 0.0)
            last = (k == min(t + n, horizon) - 1) | ends[k]
            bootstrap = open_ & last
            total = total + torch.where(bootstrap, weight * gamma * continues[k] * next_values[k],
                                        0.0)
            open_ = open_ & ~last
            weight = weight * gamma
        targets[t] = total
    return targets
