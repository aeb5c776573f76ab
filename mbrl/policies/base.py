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
    """Uniform actions from ``action_space``, drawn from an explicit generator. Observations
    have ``obs_ndim`` dimensions (3 for pixels); one more means a batch of them."""

    def __init__(self, action_space: gym.Space, seed: int | None = None,
                 obs_ndim: int = 1) -> None:
        if not isinstance(action_space, gym.spaces.Box | gym.spaces.Discrete):
            raise TypeError(f"action_space must be Box or Discrete, got {type(action_space)}")
        self.action_space, self.obs_ndim = action_space, obs_ndim
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        batch = () if np.ndim(obs) == self.obs_ndim else (np.shape(obs)[0],)
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return space.start + self.rng.integers(0, space.n, size=batch)
        low, high = space.low, space.high
        return self.rng.uniform(low, high, size=batch + space.shape).astype(space.dtype)
