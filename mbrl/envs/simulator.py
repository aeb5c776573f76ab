"""The MuJoCo simulator of a task as a batched planning model (MPC with the true model, as in
MuJoCo MPC).

The planner's state is MuJoCo's full physics state (``mjSTATE_FULLPHYSICS``: time, qpos, qvel,
actuator activations, ...), read from and written to a live env with :meth:`get_state` and
:meth:`set_state`. :meth:`rollout` runs all action sequences of a planning call in one
``mujoco.rollout`` call over a persistent thread pool (each env step repeats its control
``frame_skip`` times, as gymnasium does). Rewards and terminations are the task's own
functions, applied to the observations that ``task.observation_fn`` computes from qpos and qvel.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco import MujocoEnv
from mujoco import rollout as mj_rollout
from torch import Tensor

from mbrl.envs.tasks import TaskSpec
from planners import MPC, Problem

FULL_PHYSICS = mujoco.mjtState.mjSTATE_FULLPHYSICS


class MujocoSimulator:
    """Batched dynamics over full physics states ``[B, X]`` (float64) for a MuJoCo task.

    ``simulator(states [B, X], actions [B, A]) -> [B, X]`` advances one env step;
    ``rollout(states [B, X], actions [B, H, A]) -> [B, H, X]`` advances H steps in one call.
    ``num_threads`` defaults to the CPUs available to this process.
    """

    def __init__(self, task: TaskSpec, num_threads: int | None = None) -> None:
        if task.observation_fn is None:
            raise ValueError(f"task {task.name} has no observation_fn (its observation needs more "
                             "than qpos and qvel), so the simulator cannot score its plans")
        env = task.make_env()
        if not isinstance(env.unwrapped, MujocoEnv):
            raise ValueError(f"task {task.name} is not a MuJoCo env")
        self.task = task
        self.model: mujoco.MjModel = env.unwrapped.model
        self.frame_skip: int = env.unwrapped.frame_skip
        env.close()
        self.num_threads = num_threads or len(os.sched_getaffinity(0))
        self._datas = [mujoco.MjData(self.model) for _ in range(self.num_threads)]
        self._pool = mj_rollout.Rollout(nthread=self.num_threads)
        self.state_dim = mujoco.mj_stateSize(self.model, FULL_PHYSICS)
        time_size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_TIME)
        self._qpos = slice(time_size, time_size + self.model.nq)
        self._qvel = slice(self._qpos.stop, self._qpos.stop + self.model.nv)
        self._states_out: np.ndarray | None = None
        self._sensors_out: np.ndarray | None = None

    def close(self) -> None:
        self._pool.close()

    def get_state(self, env: gym.Env) -> np.ndarray:
        """The full physics state ``[X]`` of a live env of this task."""
        data = self._data_of(env)
        state = np.empty(self.state_dim)
        mujoco.mj_getState(self.model, data, state, FULL_PHYSICS)
        return state

    def set_state(self, env: gym.Env, state: np.ndarray) -> None:
        """Put a live env into the full physics state ``[X]``."""
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.state_dim,):
            raise ValueError(f"state must be [{self.state_dim}], got {state.shape}")
        data = self._data_of(env)
        mujoco.mj_setState(self.model, data, state, FULL_PHYSICS)
        mujoco.mj_forward(self.model, data)

    def _data_of(self, env: gym.Env) -> mujoco.MjData:
        unwrapped = env.unwrapped
        if not isinstance(unwrapped, MujocoEnv) or unwrapped.model.nq != self.model.nq:
            raise ValueError(f"env is not a {self.task.name} MuJoCo env")
        return unwrapped.data

    def observe(self, states: Tensor) -> Tensor:
        """The task's observations ``[..., S]`` of physics states ``[..., X]``."""
        return self.task.observation_fn(states[..., self._qpos], states[..., self._qvel])

    def rollout(self, states: Tensor, actions: Tensor) -> Tensor:
        """Physics states ``[B, H, X]`` after each of H env steps of ``actions [B, H, A]``."""
        if states.ndim != 2 or states.shape[1] != self.state_dim:
            raise ValueError(f"states must be [B, {self.state_dim}], got {tuple(states.shape)}")
        if actions.ndim != 3 or actions.shape[0] != states.shape[0] \
                or actions.shape[2] != self.model.nu:
            raise ValueError(f"actions must be [{states.shape[0]}, H, {self.model.nu}], got "
                             f"{tuple(actions.shape)}")
        batch, horizon = actions.shape[:2]
        controls = np.repeat(actions.detach().cpu().numpy().astype(np.float64), self.frame_skip,
                             axis=1)
        initial = np.ascontiguousarray(states.detach().cpu().numpy(), dtype=np.float64)
        physics = self._output_buffer(batch, horizon * self.frame_skip)
        self._pool.rollout(self.model, self._datas, initial, controls, state=physics,
                           sensordata=self._no_sensors(batch, horizon * self.frame_skip))
        every_step = physics[:, self.frame_skip - 1::self.frame_skip].copy()  # [B, H, X], owned
        return torch.from_numpy(every_step).to(states.dtype)

    def _output_buffer(self, batch: int, physics_steps: int) -> np.ndarray:
        """A reused ``[B, steps, X]`` array for the rollout's states (allocating it anew on
        every call costs as much as a sizeable part of the simulation)."""
        shape = (batch, physics_steps, self.state_dim)
        if self._states_out is None or self._states_out.shape != shape:
            self._states_out = np.empty(shape)
        return self._states_out

    def _no_sensors(self, batch: int, physics_steps: int) -> np.ndarray:
        shape = (batch, physics_steps, self.model.nsensordata)
        if self._sensors_out is None or self._sensors_out.shape != shape:
            self._sensors_out = np.empty(shape)
        return self._sensors_out

    def jacobians(self, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Derivatives of one env step at each ``(states [T, X], actions [T, A])``:
        ``d next / d state [T, X, X]`` and ``d next / d action [T, X, A]``, from MuJoCo's own
        finite differences (``mjd_transitionFD``, centred) chained over the ``frame_skip``
        physics steps. Needs ``nq == nv`` (no ball or free joints, true of every task here) and
        a non-RK4 integrator (HalfCheetah; InvertedPendulum, Hopper, Walker2d and the swing-up
        use RK4)."""
        model = self.model
        if model.nq != model.nv:
            raise ValueError("jacobians needs nq == nv (no quaternion joints)")
        if model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4:
            raise ValueError(f"{self.task.name} uses the RK4 integrator, which mjd_transitionFD "
                             "does not support; use ILQR(derivatives='finite_differences')")
        tangent = 2 * model.nv + model.na
        start = self._qpos.start  # qpos, qvel, act follow time in the full-physics layout
        data = self._datas[0]
        fx = np.zeros((len(states), self.state_dim, self.state_dim))
        fu = np.zeros((len(states), self.state_dim, model.nu))
        step_a, step_b = np.zeros((tangent, tangent)), np.zeros((tangent, model.nu))
        for t, (state, action) in enumerate(zip(states.detach().numpy().astype(np.float64),
                                                actions.detach().numpy().astype(np.float64),
                                                strict=True)):
            mujoco.mj_setState(model, data, state, FULL_PHYSICS)
            data.ctrl[:] = action
            total_a, total_b = np.eye(tangent), np.zeros((tangent, model.nu))
            for _ in range(self.frame_skip):
                mujoco.mjd_transitionFD(model, data, 1e-6, True, step_a, step_b, None, None)
                total_a, total_b = step_a @ total_a, step_a @ total_b + step_b
                mujoco.mj_step(model, data)
            fx[t] = np.eye(self.state_dim)
            fx[t, start:start + tangent, start:start + tangent] = total_a
            fu[t, start:start + tangent] = total_b
        return torch.from_numpy(fx), torch.from_numpy(fu)

    def __call__(self, states: Tensor, actions: Tensor) -> Tensor:
        return self.rollout(states, actions[:, None])[:, 0]

    def reward_fn(self, states: Tensor, actions: Tensor, next_states: Tensor) -> Tensor:
        return self.task.reward_fn(self.observe(states), actions, self.observe(next_states))

    def termination_fn(self, next_states: Tensor) -> Tensor:
        return self.task.termination_fn(self.observe(next_states))

    def problem(self, horizon: int, **kwargs: Any) -> Problem:
        """A :class:`planners.Problem` over physics states with the task's reward, termination
        and action bounds (``kwargs`` go to ``Problem``: discount, terminal_value, ...)."""
        space = self.task.action_space
        return Problem(self, self.reward_fn, torch.as_tensor(space.low, dtype=torch.float64),
                       torch.as_tensor(space.high, dtype=torch.float64), horizon,
                       termination_fn=self.termination_fn, **kwargs)


class SimulatorMPC:
    """A policy that plans from the live env's physics state with the simulator model:
    ``act(obs)`` reads the env's state (checking it matches ``obs``) and asks ``mpc`` for
    the action."""

    def __init__(self, mpc: MPC, simulator: MujocoSimulator, env: gym.Env) -> None:
        self.mpc, self.simulator, self.env = mpc, simulator, env

    def reset(self) -> None:
        self.mpc.reset()

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        state = self.simulator.get_state(self.env)
        expected = self.simulator.observe(torch.from_numpy(state)).numpy()
        if not np.allclose(expected, obs, rtol=1e-5, atol=1e-6):
            raise ValueError("obs does not match the physics state of the env given to "
                             "SimulatorMPC: act on observations from that env")
        return self.mpc.act(state, deterministic).astype(np.float32)
