"""Run a policy in a (vector) environment, store transitions and report episode statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from mbrl.data.buffer import ReplayBuffer
from mbrl.policies import Policy, RandomPolicy


@dataclass
class CollectResult:
    """What one call to :func:`collect` did: env steps taken and every finished episode."""

    steps: int = 0
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.episode_returns)) if self.episode_returns else float("nan")


def collect(
    env: gym.Env | gym.vector.VectorEnv,
    policy: Policy,
    steps: int | None = None,
    episodes: int | None = None,
    buffer: ReplayBuffer | None = None,
    seed: int | None = None,
    deterministic: bool = False,
    progress: bool | str = False,
) -> CollectResult:
    """Step ``policy`` in ``env`` until ``steps`` transitions or ``episodes`` finished episodes.

    Works with a single env (``policy.act(obs [S]) -> [A]``) and with a gymnasium vector env
    (``policy.act(obs [N, S]) -> [N, A]``, next-step or same-step autoreset). Every episode starts
    from a reset (seeded with ``seed`` on the first one); a partial episode cut off by ``steps``
    is stored but not counted in the returns. ``progress`` shows a bar (a string names it).
    """
    if (steps is None) == (episodes is None):
        raise ValueError("give exactly one of steps= or episodes=")
    limit = steps if steps is not None else episodes
    if limit < 1:
        raise ValueError(f"steps/episodes must be >= 1, got {limit}")
    vector = isinstance(env, gym.vector.VectorEnv)
    num_envs = env.num_envs if vector else 1
    same_step = vector and env.metadata.get("autoreset_mode") == gym.vector.AutoresetMode.SAME_STEP
    if vector and not same_step and env.metadata.get("autoreset_mode") not in (
            None, gym.vector.AutoresetMode.NEXT_STEP):
        raise ValueError(f"unsupported autoreset mode {env.metadata.get('autoreset_mode')}")

    result = CollectResult()
    returns, lengths = np.zeros(num_envs), np.zeros(num_envs, dtype=np.int64)
    skip = np.zeros(num_envs, dtype=bool)  # next-step autoreset: this step only resets
    obs, _ = env.reset(seed=seed)
    _begin_episode(policy)
    bar = tqdm(total=steps, desc=progress if isinstance(progress, str) else "collect",
               unit="step", disable=not progress, leave=False)
    try:
        while (result.steps if steps is not None else len(result.episode_returns)) < limit:
            action = policy.act(obs, deterministic=deterministic)
            next_obs, reward, terminated, truncated, info = env.step(action)
            if not vector:
                action, reward = np.asarray(action)[None], np.asarray([reward])
                terminated, truncated = np.asarray([terminated]), np.asarray([truncated])
                obs_b, next_b = np.asarray(obs)[None], np.asarray(next_obs)[None]
            else:
                obs_b, next_b = obs, next_obs
                if same_step and "final_obs" in info:
                    done = info["_final_obs"]
                    next_b = next_obs.copy()
                    next_b[done] = np.stack(info["final_obs"][done])
            live = ~skip
            if buffer is not None and live.any():
                act_b = np.asarray(action).reshape(num_envs, -1)
                buffer.add(obs_b[live], act_b[live], reward[live], next_b[live],
                           terminated[live], truncated[live])
            returns[live] += reward[live]
            lengths[live] += 1
            new_steps = int(live.sum())
            result.steps += new_steps
            done = live & (terminated | truncated)
            for i in np.flatnonzero(done):
                result.episode_returns.append(float(returns[i]))
                result.episode_lengths.append(int(lengths[i]))
                bar.set_postfix(episodes=len(result.episode_returns),
                                last_return=f"{returns[i]:.1f}")
                returns[i], lengths[i] = 0.0, 0
            bar.update(new_steps)
            if vector:
                skip = done if not same_step else np.zeros_like(done)
                obs = next_obs
            elif done[0]:
                obs, _ = env.reset()
                _begin_episode(policy)
            else:
                obs = next_obs
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


__all__ = ["CollectResult", "RandomPolicy", "collect"]
