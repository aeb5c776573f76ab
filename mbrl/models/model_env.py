"""A learned model and a task's reward/termination functions as a batched environment
(reference 003 §5.3, §5.6 Alg. 29): the source of imagined data for MBPO, Dyna and model-based
PPO, through the same :class:`~mbrl.data.BatchedEnv` interface as a real vector env.

Two ways rows end. With ``restart`` (a function giving fresh start states, e.g. drawn from the
real buffer), a row whose episode terminates, or is cut at ``max_steps``, restarts at once
(same-step autoreset, as in a gymnasium vector env), so every row of every step is a live
transition: what on-policy rollouts (``RolloutCollector``) need. Without it a terminated row
stays ended (``Step.live`` is False from then on): k-step branched rollouts (MBPO) keep only
their live transitions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from mbrl.data.stepping import EpisodeStats, Step
from planners import NonFiniteModelOutput

Dynamics = Callable[[Tensor, Tensor], Tensor]


class ModelEnv:
    """``reset(start_obs [N, S])`` then ``step(actions [N, A]) -> Step`` of torch tensors.

    NaN/Inf from the model or the reward raises :class:`planners.NonFiniteModelOutput` naming
    the function, the model step and the rows. ``max_steps`` cuts episodes (``truncated``)."""

    vector = True

    def __init__(self, dynamics: Dynamics, reward_fn: Callable[[Tensor, Tensor, Tensor], Tensor],
                 termination_fn: Callable[[Tensor], Tensor] | None = None,
                 restart: Callable[[int], Tensor] | None = None,
                 max_steps: int | None = None) -> None:
        if max_steps is not None and max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")
        self.dynamics, self.reward_fn, self.termination_fn = dynamics, reward_fn, termination_fn
        self.restart, self.max_steps = restart, max_steps
        self.obs: Tensor | None = None
        self.num_envs = 0
        self.steps = 0
        self.episodes = EpisodeStats(0)

    def reset(self, start_obs: Tensor) -> Tensor:
        start_obs = torch.as_tensor(start_obs)
        if start_obs.ndim != 2:
            raise ValueError(f"start_obs must be [N, S], got shape {tuple(start_obs.shape)}")
        if not torch.isfinite(start_obs).all():
            raise ValueError("start_obs contains NaN or Inf")
        self.obs = start_obs.clone()
        self.num_envs = start_obs.shape[0]
        self._live = torch.ones(self.num_envs, dtype=torch.bool)
        self._age = torch.zeros(self.num_envs, dtype=torch.long)
        self.episodes = EpisodeStats(self.num_envs)
        self.steps = 0
        return self.obs

    def step(self, actions: Tensor | np.ndarray) -> Step:
        if self.obs is None:
            raise RuntimeError("call reset(start_obs) before step()")
        actions = torch.as_tensor(actions, dtype=self.obs.dtype)
        if actions.ndim == 1:  # discrete action indices [N]
            actions = actions[:, None]
        if actions.ndim != 2 or actions.shape[0] != self.num_envs:
            raise ValueError(f"actions must be [{self.num_envs}, A], got "
                             f"{tuple(actions.shape)}")
        obs, live = self.obs, self._live
        with torch.no_grad():
            next_obs = self.dynamics(obs, actions)
            rewards = self.reward_fn(obs, actions, next_obs)
            for name, value in (("dynamics", next_obs), ("reward_fn", rewards)):
                bad = ~torch.isfinite(value.reshape(value.shape[0], -1)).all(dim=1) & live
                if bad.any():
                    raise NonFiniteModelOutput(
                        f"{name} returned NaN/Inf for {int(bad.sum())} of {len(bad)} rows at "
                        f"model step {self.steps}")
            terminated = (self.termination_fn(next_obs).bool() if self.termination_fn
                          else torch.zeros_like(live))
        self._age = self._age + 1
        truncated = (self._age >= self.max_steps if self.max_steps is not None
                     else torch.zeros_like(live)) & ~terminated
        step = Step(obs, actions, torch.where(live, rewards, 0.0),
                    torch.where(live[:, None], next_obs, obs), terminated & live,
                    truncated & live, live)
        self.episodes.record(step.rewards.double().numpy(), step.done.numpy(), live.numpy())
        ended = step.done
        if self.restart is not None and ended.any():
            next_obs = next_obs.clone()
            next_obs[ended] = self.restart(int(ended.sum())).to(next_obs.dtype)
            self._age = torch.where(ended, 0, self._age)
        elif self.restart is None:
            self._live = live & ~ended
        self.obs = torch.where(self._live[:, None], next_obs, obs)
        self.steps += 1
        return step
