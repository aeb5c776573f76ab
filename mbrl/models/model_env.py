"""A learned model and a task's reward/termination functions as a batched environment
(reference 003 §5.3): the source of synthetic rollouts for MBPO and Dyna."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from planners import NonFiniteModelOutput

Dynamics = Callable[[Tensor, Tensor], Tensor]


class ModelEnv:
    """``reset(start_obs [B, S])`` then ``step(actions [B, A]) -> (next_obs [B, S], rewards [B],
    terminated [B] bool)``. Rows that terminated stay terminated: their later rewards are 0 and
    their observations frozen, so a rollout can keep stepping the whole batch. NaN/Inf from the
    model or reward raises :class:`planners.NonFiniteModelOutput` naming the step and rows."""

    def __init__(self, dynamics: Dynamics, reward_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
                 termination_fn: Callable[[Tensor], Tensor] | None = None) -> None:
        self.dynamics, self.reward_fn, self.termination_fn = dynamics, reward_fn, termination_fn
        self._obs: Tensor | None = None
        self._done: Tensor | None = None
        self.steps = 0

    def reset(self, start_obs: Tensor) -> Tensor:
        start_obs = torch.as_tensor(start_obs)
        if start_obs.ndim != 2:
            raise ValueError(f"start_obs must be [B, S], got shape {tuple(start_obs.shape)}")
        if not torch.isfinite(start_obs).all():
            raise ValueError("start_obs contains NaN or Inf")
        self._obs = start_obs.clone()
        self._done = torch.zeros(start_obs.shape[0], dtype=torch.bool)
        self.steps = 0
        return self._obs.clone()

    def step(self, actions: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if self._obs is None:
            raise RuntimeError("call reset(start_obs) before step()")
        actions = torch.as_tensor(actions, dtype=self._obs.dtype)
        if actions.ndim != 2 or actions.shape[0] != self._obs.shape[0]:
            raise ValueError(f"actions must be [{self._obs.shape[0]}, A], got "
                             f"{tuple(actions.shape)}")
        with torch.no_grad():
            next_obs = self.dynamics(self._obs, actions)
            rewards = self.reward_fn(self._obs, actions, next_obs)
            for name, value in (("dynamics", next_obs), ("reward_fn", rewards)):
                bad = ~torch.isfinite(value.reshape(value.shape[0], -1)).all(dim=1) & ~self._done
                if bad.any():
                    raise NonFiniteModelOutput(
                        f"{name} returned NaN/Inf for {int(bad.sum())} of {len(bad)} rows at "
                        f"model step {self.steps}")
            terminated = (self.termination_fn(next_obs).bool() if self.termination_fn
                          else torch.zeros_like(self._done))
        rewards = torch.where(self._done, torch.zeros_like(rewards), rewards)
        next_obs = torch.where(self._done[:, None], self._obs, next_obs)
        self._done = self._done | terminated
        self._obs, self.steps = next_obs, self.steps + 1
        return next_obs.clone(), rewards, self._done.clone()
