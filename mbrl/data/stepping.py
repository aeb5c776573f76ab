"""Stepping an environment, the one loop body every data source shares.

:class:`EnvStepper` steps a gymnasium env, or a synchronous vector env with same-step autoreset,
and returns each step as a batched :class:`Step` whose ``next_obs`` is the true next observation
(the final one of an episode that just ended, before its reset); it resets a single env when
an episode ends and keeps the returns and lengths of finished episodes (:class:`EpisodeStats`).
:class:`mbrl.models.ModelEnv` offers the same interface over a learned model, so data
collection (:func:`mbrl.data.collect`), on-policy rollouts (``RolloutCollector``) and the
algorithms' own step loops run on real and imagined data through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
from torch import Tensor

Array = np.ndarray | Tensor


@dataclass(frozen=True)
class Step:
    """One step of ``N`` envs: ``obs [N, S]``, ``actions [N, A]`` (or indices ``[N]``),
    ``rewards [N]``, ``next_obs [N, S]`` (true next observations), ``terminated [N]``,
    ``truncated [N]`` and ``live [N]``: the rows that were a real transition (a model rollout's
    rows stay ended once they terminate; an env's rows are always live)."""

    obs: Array
    actions: Array
    rewards: Array
    next_obs: Array
    terminated: Array
    truncated: Array
    live: Array

    @property
    def done(self) -> Array:
        """Rows whose episode ended at this step."""
        return (self.terminated | self.truncated) & self.live


class EpisodeStats:
    """Running returns and lengths of ``num_envs`` episodes; finished ones accumulate until
    :meth:`pop`."""

    def __init__(self, num_envs: int) -> None:
        self.num_envs = num_envs
        self.restart()

    def restart(self) -> None:
        """Start afresh: running episodes are abandoned (not counted), finished ones not yet
        popped are dropped."""
        self.returns, self.lengths = [], []
        self._return = np.zeros(self.num_envs)
        self._length = np.zeros(self.num_envs, dtype=np.int64)

    def record(self, rewards: np.ndarray, done: np.ndarray, live: np.ndarray) -> None:
        """Add one step's ``rewards [N]`` of the ``live`` rows; close the ``done`` episodes."""
        self._return[live] += rewards[live]
        self._length[live] += 1
        for i in np.flatnonzero(done):
            self.returns.append(float(self._return[i]))
            self.lengths.append(int(self._length[i]))
        self._return[done], self._length[done] = 0.0, 0

    def pop(self) -> tuple[list[float], list[int]]:
        """Returns and lengths of the episodes finished since the last call."""
        out = (self.returns, self.lengths)
        self.returns, self.lengths = [], []
        return out


class BatchedEnv(Protocol):
    """What the stepping consumers need: ``num_envs``, the current ``obs`` (``[S]`` for a single
    env, ``[N, S]`` otherwise), ``vector`` (whether actions are batched), ``step(actions)``
    and the finished ``episodes``."""

    num_envs: int
    vector: bool
    obs: Array
    episodes: EpisodeStats

    def step(self, actions: Any) -> Step: ...


class EnvStepper:
    """A gymnasium env (or a same-step-autoreset vector env) as a :class:`BatchedEnv`."""

    def __init__(self, env: gym.Env | gym.vector.VectorEnv) -> None:
        self.env = env
        self.vector = isinstance(env, gym.vector.VectorEnv)
        if self.vector and env.metadata.get("autoreset_mode") != gym.vector.AutoresetMode.SAME_STEP:
            raise ValueError("vector envs must use same-step autoreset "
                             "(TaskSpec.make_vector_env(n) does), got "
                             f"{env.metadata.get('autoreset_mode')}")
        self.num_envs = env.num_envs if self.vector else 1
        self.episodes = EpisodeStats(self.num_envs)
        self._live = np.ones(self.num_envs, dtype=bool)
        self.obs: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start fresh episodes (see :meth:`EpisodeStats.restart`)."""
        self.obs, _ = self.env.reset(seed=seed)
        self.episodes.restart()
        return self.obs

    def step(self, actions: Any) -> Step:
        """Step with ``actions`` (``[A]`` or an index for a single env, ``[N, ...]`` for a vector
        env); a single env is reset as soon as its episode ends."""
        if self.obs is None:
            raise RuntimeError("call reset() before step()")
        next_obs, reward, terminated, truncated, info = self.env.step(actions)
        if self.vector:
            obs, true_next = self.obs, next_obs
            if "final_obs" in info:
                true_next = next_obs.copy()
                ended = info["_final_obs"]
                true_next[ended] = np.stack(info["final_obs"][ended])
            step = Step(obs, np.asarray(actions), reward, true_next, terminated, truncated,
                        self._live)
            self.obs = next_obs
        else:
            step = Step(np.asarray(self.obs)[None], np.asarray(actions)[None],
                        np.asarray([reward]), np.asarray(next_obs)[None],
                        np.asarray([terminated]), np.asarray([truncated]), self._live)
            self.obs = self.env.reset()[0] if terminated or truncated else next_obs
        self.episodes.record(np.asarray(step.rewards, dtype=np.float64), step.done, self._live)
        return step
