"""Run a policy in an environment (or a learned model), store transitions and report episodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from mbrl.data.buffer import ReplayBuffer
from mbrl.data.stepping import BatchedEnv, EnvStepper

if TYPE_CHECKING:
    from mbrl.policies import Policy


@dataclass
class CollectResult:
    """What one call to :func:`collect` did: transitions taken and every finished episode."""

    steps: int = 0
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.episode_returns)) if self.episode_returns else float("nan")


def collect(
    env: gym.Env | gym.vector.VectorEnv | BatchedEnv,
    policy: Policy,
    steps: int | None = None,
    episodes: int | None = None,
    rounds: int | None = None,
    buffer: ReplayBuffer | None = None,
    seed: int | None = None,
    deterministic: bool = False,
    progress: bool | str = False,
) -> CollectResult:
    """Step ``policy`` in ``env`` until ``steps`` transitions, ``episodes`` finished episodes
    or ``rounds`` steps of the whole batch (k-step model rollouts).

    ``env`` is a gymnasium env (``policy.act(obs [S]) -> [A]``), a same-step-autoreset vector
    env (``policy.act(obs [N, S]) -> [N, A]``) or an already reset :class:`BatchedEnv` such as
    a :class:`~mbrl.models.ModelEnv` rollout (``seed`` must then be None). A gymnasium env is
    reset first (seeded with ``seed``) and every episode starts from a reset, with
    ``policy.reset()`` where the policy has one. A partial episode cut off by ``steps`` is
    stored but not counted in the returns. ``progress`` shows a bar (a string names it).
    """
    limits = {"steps": steps, "episodes": episodes, "rounds": rounds}
    given = {name: value for name, value in limits.items() if value is not None}
    if len(given) != 1:
        raise ValueError(f"give exactly one of steps=, episodes= or rounds=, got {given}")
    (kind, limit), = given.items()
    if limit < 1:
        raise ValueError(f"{kind} must be >= 1, got {limit}")
    if isinstance(env, gym.Env | gym.vector.VectorEnv):
        env = EnvStepper(env)
        env.reset(seed)
    elif seed is not None:
        raise ValueError("seed= resets a gymnasium env; reset a BatchedEnv yourself")
    result = CollectResult()
    env.episodes.pop()
    _begin_episode(policy)
    done_rounds = 0
    progress_of = {"steps": lambda: result.steps, "episodes": lambda: len(result.episode_returns),
                   "rounds": lambda: done_rounds}[kind]
    bar = tqdm(total=steps, desc=progress if isinstance(progress, str) else "collect",
               unit="step", disable=not progress, leave=False)
    try:
        while progress_of() < limit:
            step = env.step(policy.act(env.obs, deterministic=deterministic))
            done_rounds += 1
            live = np.asarray(step.live)
            if buffer is not None and live.any():
                actions = np.asarray(step.actions).reshape(env.num_envs, -1)
                buffer.add(*(np.asarray(column)[live] for column in (
                    step.obs, actions, step.rewards, step.next_obs, step.terminated,
                    step.truncated)))
            new_steps = int(live.sum())
            result.steps += new_steps
            finished, lengths = env.episodes.pop()
            result.episode_returns += finished
            result.episode_lengths += lengths
            if finished:
                bar.set_postfix(episodes=len(result.episode_returns),
                                last_return=f"{finished[-1]:.1f}")
                if not env.vector:
                    _begin_episode(policy)
            bar.update(new_steps)
    finally:
        bar.close()
    if episodes is not None:  # vector envs may finish several episodes on the last step
        result.episode_returns = result.episode_returns[:episodes]
        result.episode_lengths = result.episode_lengths[:episodes]
    return result


def _begin_episode(policy: Policy) -> None:
    reset = getattr(policy, "reset", None)
    if callable(reset):
        reset()
