"""Rollouts in a learned model: the seam where planners' and agents' data meet models.

:func:`branched_rollouts` rolls any policy (the one policy protocol) from a batch of real start
states through a :class:`ModelEnv` for k steps into a replay buffer (MBPO's and Dyna's synthetic
data, Janner et al. 2019; Sutton 1990). :func:`imagined_rollout` rolls an actor-critic through
it into an on-policy :class:`~mbrl.agents.onpolicy.Rollout` with log-probabilities (model-based
PPO, A2C, REINFORCE) through the same ``RolloutCollector`` real envs use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from torch import Tensor

from mbrl.data.buffer import ReplayBuffer
from mbrl.data.collect import CollectResult, collect
from mbrl.models.model_env import ModelEnv

if TYPE_CHECKING:
    from mbrl.policies import Policy


class Collector(Protocol):
    """What :func:`imagined_rollout` needs: ``mbrl.agents.RolloutCollector`` (the models layer
    does not import the agents)."""

    env: Any

    def collect(self, steps_per_env: int) -> Any: ...


def branched_rollouts(env: ModelEnv, policy: Policy, start_obs: Tensor, steps: int,
                      buffer: ReplayBuffer, deterministic: bool = False) -> CollectResult:
    """``steps`` model steps of ``policy`` from every row of ``start_obs [N, S]``; the live
    transitions (a row stops at its termination) go into ``buffer``."""
    if env.restart is not None:
        raise ValueError("branched rollouts stop at terminations: use a ModelEnv without "
                         "restart")
    env.reset(start_obs)
    return collect(env, policy, rounds=steps, buffer=buffer, deterministic=deterministic)


def imagined_rollout(collector: Collector, start_obs: Tensor, steps: int) -> Any:
    """An on-policy rollout ``[steps, N]`` of ``collector.policy`` through ``collector.env``
    (a :class:`ModelEnv` with ``restart``) from ``start_obs [N, S]``."""
    if not isinstance(collector.env, ModelEnv) or collector.env.restart is None:
        raise ValueError("an imagined on-policy rollout needs a ModelEnv with restart, so that "
                         "every row stays live")
    collector.env.reset(start_obs)
    return collector.collect(steps)
