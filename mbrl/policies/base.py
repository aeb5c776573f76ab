"""The one policy protocol (DESIGN idea 4) and the simplest policy that follows it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class Policy(Protocol):
    """Anything that acts: ``act(obs [S] or [N, S], deterministic) -> action [A] or [N, A]``.

    Policies with per-episode state (an MPC warm start) may also define ``reset()``, which data
    collection calls at the start of every episode.
    """

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray: ...


class RandomPolicy:
    """Uniform actions from ``action_space``, drawn from an explicit generator."""

    def __init__(self, action_space: gym.Space, seed: int | None = None) -> None:
        if not isinstance(action_space, gym.spaces.Box | gym.spaces.Discrete):
            raise TypeError(f"action_space must be Box or Discrete, got {type(action_space)}")
        self.action_space = action_space
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        batch = () if np.ndim(obs) == 1 else (np.shape(obs)[0],)
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return space.start + self.rng.integers(0, space.n, size=batch)
        low, high = space.low, space.high
        return self.rng.uniform(low, high, size=batch + space.shape).astype(space.dtype)
