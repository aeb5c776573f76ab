"""On-policy rollouts from vector environments or learned models, and the base of REINFORCE,
A2C and PPO."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from mbrl.agents.networks import ActorCritic
from mbrl.data.stepping import BatchedEnv, EnvStepper
from mbrl.util.errors import check_finite_loss


@dataclass
class Rollout:
    """``T`` steps of ``N`` environments, time-major. ``next_obs`` is the true next observation
    (the final one of an episode that ended at that step, before the autoreset).

    ``obs, next_obs [T, N, S]``; ``actions [T, N]`` (indices) or ``[T, N, A]``;
    ``log_probs, rewards [T, N]``; ``terminated, truncated [T, N]`` bool.
    """

    obs: Tensor
    actions: Tensor
    log_probs: Tensor
    rewards: Tensor
    next_obs: Tensor
    terminated: Tensor
    truncated: Tensor

    @property
    def num_steps(self) -> int:
        return self.rewards.numel()

    @classmethod
    def from_transitions(cls, obs: Tensor, actions: Tensor, log_probs: Tensor, rewards: Tensor,
                         next_obs: Tensor, terminated: Tensor, truncated: Tensor) -> Rollout:
        """A rollout from data generated elsewhere (e.g. a learned model), checking shapes."""
        steps, envs = rewards.shape
        for name, value, dims in [("obs", obs, 3), ("next_obs", next_obs, 3),
                                  ("log_probs", log_probs, 2), ("terminated", terminated, 2),
                                  ("truncated", truncated, 2)]:
            if value.ndim != dims or value.shape[:2] != (steps, envs):
                raise ValueError(f"{name} must be [{steps}, {envs}{', S' if dims == 3 else ''}]"
                                 f", got {tuple(value.shape)}")
        if actions.shape[:2] != (steps, envs):
            raise ValueError(f"actions must start with [{steps}, {envs}], "
                             f"got {tuple(actions.shape)}")
        return cls(obs, actions, log_probs, rewards, next_obs, terminated.bool(), truncated.bool())


class RolloutCollector:
    """Rolls an :class:`ActorCritic` through a batched env: a synchronous vector env (same-step
    autoreset) or a :class:`~mbrl.models.ModelEnv` with ``restart``, imagined data taking the
    same path as real data.

    The env keeps its current observations between calls, so consecutive rollouts continue the
    same episodes; reset it (``collector.env.reset(seed)`` / ``model_env.reset(start_obs)``)
    to start fresh ones. Finished episodes' returns and lengths accumulate in
    ``env.episodes`` until :meth:`pop_episodes`.
    """

    def __init__(self, env: gym.vector.VectorEnv | BatchedEnv, policy: ActorCritic,
                 generator: torch.Generator) -> None:
        if isinstance(env, gym.Env):
            raise TypeError(f"env must be a vector env or a BatchedEnv, got {type(env).__name__}")
        self.env = EnvStepper(env) if isinstance(env, gym.vector.VectorEnv) else env
        if not self.env.vector:
            raise TypeError("RolloutCollector steps a batch of envs: use a vector env")
        self.policy, self.generator = policy, generator

    def pop_episodes(self) -> tuple[list[float], list[int]]:
        """Returns and lengths of the episodes finished since the last call."""
        return self.env.episodes.pop()

    @torch.no_grad()
    def collect(self, steps_per_env: int) -> Rollout:
        """``steps_per_env`` steps of every env with actions sampled from the policy."""
        if self.env.obs is None:
            raise RuntimeError("reset the env before collect()")
        if steps_per_env < 1:
            raise ValueError(f"steps_per_env must be >= 1, got {steps_per_env}")
        columns: dict[str, list[Any]] = {k: [] for k in
                                         ("obs", "actions", "log_probs", "rewards", "next_obs",
                                          "terminated", "truncated")}
        for _ in range(steps_per_env):
            obs = torch.as_tensor(self.env.obs, dtype=torch.float32)
            dist = self.policy.distribution(obs)
            actions = dist.sample(self.generator)
            step = self.env.step(self.policy.env_action(actions))
            if not bool(np.all(np.asarray(step.live))):
                raise ValueError("an on-policy rollout needs every row live: give the ModelEnv "
                                 "a restart function")
            for key, value in [("obs", obs), ("actions", actions),
                               ("log_probs", dist.log_prob(actions)), ("rewards", step.rewards),
                               ("next_obs", step.next_obs), ("terminated", step.terminated),
                               ("truncated", step.truncated)]:
                columns[key].append(value)
        stacked = {k: torch.stack([torch.as_tensor(v) for v in values])
                   for k, values in columns.items()}
        for key in ("rewards", "next_obs"):
            stacked[key] = stacked[key].float()
        return Rollout(**stacked)


class OnPolicyAgent:
    """Shared state of the on-policy agents: the actor-critic, its optimiser and the generator
    that samples actions and minibatches. Subclasses implement :meth:`update`."""

    def __init__(self, policy: ActorCritic, optimizer: torch.optim.Optimizer,
                 generator: torch.Generator, max_grad_norm: float | None) -> None:
        if max_grad_norm is not None and max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be positive or None, got {max_grad_norm}")
        self.policy, self.optimizer, self.generator = policy, optimizer, generator
        self.max_grad_norm = max_grad_norm
        self.steps, self.last_loss = 0, float("nan")  # optimiser steps, the last one's loss

    def update(self, rollout: Rollout) -> dict[str, float]:
        raise NotImplementedError

    def begin_update(self, progress: float) -> None:
        """Hook called before each update with the training progress in [0, 1] (schedules)."""

    def after_update(self, rollout: Rollout) -> None:
        """Hook called after each update (normalisation statistics)."""

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        return self.policy.act(obs, deterministic, self.generator)

    def _step(self, loss: Tensor) -> Tensor:
        """One optimiser step on ``loss``; returns the gradient norm before clipping. A NaN/Inf
        loss or gradient raises :class:`~mbrl.util.errors.TrainingDiverged` before the step."""
        check_finite_loss(type(self).__name__, f"optimiser step {self.steps}", loss.item(),
                          self.last_loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return self._clip_and_step(loss.item())

    def apply_gradients(self, gradients: list[Tensor], loss: float) -> Tensor:
        """One optimiser step with ``gradients`` (one per parameter, computed elsewhere on the
        loss ``loss``: A3C's workers), clipped and checked as :meth:`_step` does."""
        check_finite_loss(type(self).__name__, f"optimiser step {self.steps}", loss,
                          self.last_loss)
        parameters = list(self.policy.parameters())
        if len(gradients) != len(parameters):
            raise ValueError(f"got {len(gradients)} gradients for {len(parameters)} parameters")
        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter.grad = gradient
        return self._clip_and_step(loss)

    def _clip_and_step(self, loss: float) -> Tensor:
        name = type(self).__name__
        norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(),
                                              self.max_grad_norm or float("inf"))
        check_finite_loss(f"{name} (gradient norm)", f"optimiser step {self.steps}",
                          float(norm), self.last_loss)
        self.optimizer.step()
        self.steps, self.last_loss = self.steps + 1, loss
        return norm.detach()

    @torch.no_grad()
    def values(self, rollout: Rollout) -> tuple[Tensor, Tensor]:
        """``(V(s_t), V(s_{t+1}))``, each ``[T, N]``, in two batched calls."""
        shape = rollout.rewards.shape
        flat = lambda x: x.reshape(-1, x.shape[-1])  # noqa: E731
        return (self.policy.value(flat(rollout.obs)).reshape(shape),
                self.policy.value(flat(rollout.next_obs)).reshape(shape))

    def state_dict(self) -> dict[str, Any]:
        return {"policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "steps": self.steps,
                "last_loss": self.last_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.steps, self.last_loss = int(state["steps"]), float(state["last_loss"])
