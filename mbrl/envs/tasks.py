"""Task registry: everything a planner or a model rollout needs to know about an environment.

A task is a spec, not an env subclass (DESIGN idea 2): how to make the gymnasium env, its
spaces, its episode length, and batched torch reward/termination functions that reproduce the
env's own. Locomotion tasks are made with ``exclude_current_positions_from_observation=False``
so that the forward reward (a difference of x positions) is a function of ``(obs, next_obs)``:
their observation has the root x position prepended compared with gymnasium's default.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from torch import Tensor

from mbrl.envs import observations, rewards

RewardFn = Callable[[Tensor, Tensor, Tensor], Tensor]
TerminationFn = Callable[[Tensor], Tensor]
ObservationFn = Callable[[Tensor, Tensor, Tensor], Tensor]

SWINGUP_ID = "mbrl/CartPoleSwingUp-v0"
SWINGUP_EPISODE_STEPS = 200

if SWINGUP_ID not in gym.registry:
    gym.register(
        id=SWINGUP_ID,
        entry_point="mbrl.envs.cartpole_swingup:CartPoleSwingUpEnv",
        max_episode_steps=SWINGUP_EPISODE_STEPS,
    )


@dataclass(frozen=True)
class TaskSpec:
    """A supported environment with its exact batched reward and termination functions.

    ``reward_fn(obs [B, S], act [B, A], next_obs [B, S]) -> [B]``;
    ``termination_fn(next_obs [B, S]) -> [B] bool``; for MuJoCo tasks
    ``observation_fn(qpos [B, nq], qvel [B, nv], sensors [B, D]) -> [B, S]``, with the sensors
    ``observation_sensors`` as ``(sensor type, object type, object name)`` (what the simulator
    model needs to plan with the task's reward). ``mirror = (obs_sign [S], act_sign [A])``, when
    given, is a reflection symmetry: multiplying a transition's observations and action by the
    signs gives another transition of the task with the same reward and termination.
    ``reward_only_dims`` are observation dims kept for the reward alone (the root x position of
    the locomotion tasks): the dynamics, the best action and the value do not depend on them, so
    learned models, policies and critics leave them out of their inputs (an unbounded x input
    cut SAC's HalfCheetah-v5 return at 45k env steps from 2502 to 505:
    ``experiments/results/sac_half_cheetah_x_input.json``).
    """

    name: str
    env_id: str
    reward_fn: RewardFn
    termination_fn: TerminationFn
    max_episode_steps: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    observation_fn: ObservationFn | None = None
    observation_sensors: tuple[tuple[str, str, str], ...] = ()
    mirror: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    potential: Callable[[Tensor], Tensor] | None = None
    reward_only_dims: tuple[int, ...] = ()

    def make_env(self, render_mode: str | None = None, max_episode_steps: int | None = None,
                 **kwargs: Any) -> gym.Env:
        """A fresh gymnasium env (with its TimeLimit, the task's episode length unless
        ``max_episode_steps`` is given) configured as the reward functions expect."""
        return gym.make(
            self.env_id,
            render_mode=render_mode,
            max_episode_steps=(self.max_episode_steps if max_episode_steps is None
                               else max_episode_steps),
            **{**self.env_kwargs, **kwargs},
        )

    def make_vector_env(self, num_envs: int, **kwargs: Any) -> gym.vector.VectorEnv:
        """``num_envs`` synchronous copies with same-step autoreset: a finished env resets
        within the same ``step`` and its final observation is in ``info["final_obs"]`` (what
        :class:`mbrl.data.EnvStepper` expects)."""
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        return gym.make_vec(
            self.env_id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            max_episode_steps=self.max_episode_steps,
            **{**self.env_kwargs, **kwargs},
        )

    @property
    def observation_space(self) -> gym.spaces.Box:
        return self._spaces[0]

    @property
    def action_space(self) -> gym.spaces.Space:
        return self._spaces[1]

    @property
    def discrete_actions(self) -> bool:
        return isinstance(self.action_space, gym.spaces.Discrete)

    @property
    def obs_dim(self) -> int:
        return int(np.prod(self.observation_space.shape))

    @property
    def act_dim(self) -> int:
        """Action vector length; 1 for a discrete action (its index)."""
        return 1 if self.discrete_actions else int(np.prod(self.action_space.shape))

    @functools.cached_property
    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        """The spaces of an env made by this spec (made once per spec object)."""
        env = self.make_env()
        spaces = (env.observation_space, env.action_space)
        env.close()
        return spaces


_WITH_X = {"exclude_current_positions_from_observation": False}
_X = "obs[0] is the root x position (for the reward only)"

_TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec("Pendulum-v1", "Pendulum-v1", rewards.pendulum_reward, rewards.never_terminates,
                 200),
        TaskSpec("CartPole-v1", "CartPole-v1", rewards.cartpole_reward,
                 rewards.cartpole_termination, 500, notes="discrete actions {0, 1}"),
        TaskSpec("Acrobot-v1", "Acrobot-v1", rewards.acrobot_reward, rewards.acrobot_termination,
                 500, notes="discrete torques {-1, 0, 1}", potential=rewards.acrobot_potential),
        TaskSpec("MountainCarContinuous-v0", "MountainCarContinuous-v0",
                 rewards.mountain_car_reward, rewards.mountain_car_termination, 999),
        TaskSpec("InvertedPendulum-v5", "InvertedPendulum-v5", rewards.inverted_pendulum_reward,
                 rewards.inverted_pendulum_termination, 1000,
                 observation_fn=observations.positions_and_velocities,
                 mirror=((-1.0, -1.0, -1.0, -1.0), (-1.0,))),
        TaskSpec("InvertedDoublePendulum-v5", "InvertedDoublePendulum-v5",
                 rewards.inverted_double_pendulum_reward,
                 rewards.inverted_double_pendulum_termination, 1000,
                 observation_fn=observations.inverted_double_pendulum,
                 observation_sensors=observations.INVERTED_DOUBLE_PENDULUM_SENSORS),
        TaskSpec("Reacher-v5", "Reacher-v5", rewards.reacher_reward, rewards.never_terminates, 50,
                 observation_fn=observations.reacher,
                 observation_sensors=observations.REACHER_SENSORS),
        TaskSpec("Pusher-v5", "Pusher-v5", rewards.pusher_reward, rewards.never_terminates, 100,
                 observation_fn=observations.pusher,
                 observation_sensors=observations.PUSHER_SENSORS),
        TaskSpec("HalfCheetah-v5", "HalfCheetah-v5", rewards.half_cheetah_reward,
                 rewards.never_terminates, 1000, _WITH_X, notes=_X,
                 observation_fn=observations.positions_and_velocities, reward_only_dims=(0,)),
        TaskSpec("Hopper-v5", "Hopper-v5", rewards.hopper_reward, rewards.hopper_termination,
                 1000, _WITH_X, notes=_X,
                 observation_fn=observations.positions_and_clipped_velocities,
                 reward_only_dims=(0,)),
        TaskSpec("Walker2d-v5", "Walker2d-v5", rewards.walker2d_reward,
                 rewards.walker2d_termination, 1000, _WITH_X, notes=_X,
                 observation_fn=observations.positions_and_clipped_velocities,
                 reward_only_dims=(0,)),
        TaskSpec("CartPoleSwingUp", SWINGUP_ID, rewards.cartpole_swingup_reward,
                 rewards.never_terminates, SWINGUP_EPISODE_STEPS,
                 notes="our MuJoCo cart-pole; pole starts hanging down",
                 observation_fn=observations.cartpole_swingup,
                 mirror=((-1.0, 1.0, -1.0, -1.0, -1.0), (-1.0,))),
    ]
}


def list_tasks() -> list[str]:
    """Names accepted by :func:`make_task` (the library's and those registered since)."""
    return sorted(_TASKS)


def make_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` registered under ``name`` (see :func:`list_tasks`)."""
    try:
        return _TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())} "
                         "(register your own with mbrl.envs.register_task, and on the command "
                         "line load its module with --import)") from None


def register_task(name: str, env: str | Callable[..., gym.Env], reward_fn: RewardFn,
                  termination_fn: TerminationFn = rewards.never_terminates,
                  max_episode_steps: int | None = None, overwrite: bool = False,
                  **spec_fields: Any) -> TaskSpec:
    """Make ``name`` a task every algorithm and CLI accepts: ``env`` is a gymnasium id
    (``"Swimmer-v5"``) or a factory returning a gymnasium env (called with gymnasium's keyword
    arguments: ``render_mode`` and the ``env_kwargs``); ``reward_fn(obs [B, S], act
    [B, A], next_obs [B, S]) -> [B]`` and ``termination_fn(next_obs [B, S]) -> [B] bool``
    must reproduce the env's own (check them with :func:`check_task`). ``max_episode_steps``
    defaults to the gymnasium registration's; other :class:`TaskSpec` fields (``env_kwargs``,
    ``mirror``, ``observation_fn``, ...) pass through. Re-registering a name needs
    ``overwrite=True``."""
    if name in _TASKS and not overwrite:
        raise ValueError(f"task {name!r} is already registered; pass overwrite=True to replace "
                         "it")
    for label, function, arity in (("reward_fn", reward_fn, 3),
                                   ("termination_fn", termination_fn, 1)):
        if not callable(function) or len(inspect.signature(function).parameters) != arity:
            raise TypeError(f"{label} must be a function of {arity} tensor argument(s), got "
                            f"{function!r}")
    if callable(env):
        env_id = f"mbrl/{name}"
        gym.register(id=env_id, entry_point=env, max_episode_steps=max_episode_steps)
    elif isinstance(env, str):
        env_id = env
        if env_id not in gym.registry:
            raise ValueError(f"{env_id!r} is not a registered gymnasium id")
    else:
        raise TypeError(f"env must be a gymnasium id or an env factory, got {env!r}")
    steps = (max_episode_steps if max_episode_steps is not None
             else gym.spec(env_id).max_episode_steps)
    if steps is None or steps < 1:
        raise ValueError(f"give max_episode_steps: {env_id} has no time limit of its own")
    spec = TaskSpec(name, env_id, reward_fn, termination_fn, int(steps), **spec_fields)
    outside = [d for d in spec.reward_only_dims if not 0 <= d < spec.obs_dim]
    if outside:
        raise ValueError(f"reward_only_dims {outside} of {name!r} are not among its "
                         f"{spec.obs_dim} observation dims")
    _TASKS[name] = spec
    return spec
