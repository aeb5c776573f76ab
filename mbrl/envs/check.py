"""Check a task's reward and termination functions against its environment, as gymnasium's
env checker checks an env: transitions from random (and, if given, a policy's) actions are
scored by the functions and compared with what the env returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from mbrl.envs.tasks import TaskSpec, make_task

if TYPE_CHECKING:
    from mbrl.policies import Policy


@dataclass(frozen=True)
class TaskCheck:
    """The outcome of :func:`check_task`: the worst reward error and where, and how many
    terminations the function got wrong."""

    task: str
    transitions: int
    worst_reward_error: float
    worst_transition: int
    env_reward: float
    fn_reward: float
    terminations: int
    termination_mismatches: int
    reward_tolerance: float

    @property
    def ok(self) -> bool:
        return (self.worst_reward_error <= self.reward_tolerance
                and self.termination_mismatches == 0)

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "MISMATCH"
        return (f"{self.task}: {verdict} on {self.transitions} transitions; worst reward error "
                f"{self.worst_reward_error:.3g} at transition {self.worst_transition} (env "
                f"{self.env_reward:.6g}, reward_fn {self.fn_reward:.6g}); termination_fn wrong "
                f"on {self.termination_mismatches} of {self.transitions} ({self.terminations} "
                "real terminations)")


def check_task(task: str | TaskSpec, steps: int = 1000, seed: int = 0,
               policy: Policy | None = None, reward_tolerance: float = 1e-4) -> TaskCheck:
    """Score ``steps`` real transitions of ``task`` (uniform random actions, or ``policy``'s)
    with its ``reward_fn`` and ``termination_fn`` in float64; the functions' outputs must have
    the right shape and dtype (else a ValueError naming the function). A reward counts as
    matching within ``reward_tolerance`` (relative above 10)."""
    from mbrl.data import ReplayBuffer, collect
    from mbrl.policies import RandomPolicy

    spec = make_task(task) if isinstance(task, str) else task
    env = spec.make_env()
    buffer = ReplayBuffer(steps, spec.obs_dim, spec.act_dim, dtype=np.float64)
    actor = policy if policy is not None else RandomPolicy(env.action_space, seed=seed)
    collect(env, actor, steps=steps, buffer=buffer, seed=seed)
    env.close()
    batch = buffer.get()
    data = batch.to_torch(dtype=torch.float64)
    with torch.no_grad():
        rewards = spec.reward_fn(data["obs"], data["act"], data["next_obs"])
        terminated = spec.termination_fn(data["next_obs"])
    if tuple(rewards.shape) != (len(batch),) or not rewards.is_floating_point():
        raise ValueError(f"{spec.name}: reward_fn must return floats [{len(batch)}], got "
                         f"{rewards.dtype} {tuple(rewards.shape)}")
    if tuple(terminated.shape) != (len(batch),) or terminated.dtype != torch.bool:
        raise ValueError(f"{spec.name}: termination_fn must return bool [{len(batch)}], got "
                         f"{terminated.dtype} {tuple(terminated.shape)}")
    predicted = rewards.numpy()
    error = np.abs(predicted - batch.rew) / np.maximum(1.0, np.abs(batch.rew) / 10.0)
    worst = int(np.argmax(error))
    return TaskCheck(spec.name, len(batch), float(error[worst]), worst, float(batch.rew[worst]),
                     float(predicted[worst]), int(batch.terminated.sum()),
                     int((terminated.numpy() != batch.terminated).sum()), reward_tolerance)
