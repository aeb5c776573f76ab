"""The MuJoCo simulator of a task as a batched planning model (MPC with the true model, as in
MuJoCo MPC).

The planner's state is MuJoCo's full physics state (``mjSTATE_FULLPHYSICS``: time, qpos, qvel,
actuator activations, ...) followed by the readings of the sensors the task's observation needs
(``task.observation_sensors``: body positions for Reacher and Pusher, the slider's constraint
force for InvertedDoublePendulum; added to the simulator's copy of the model), read from and
written to a live env with :meth:`get_state` and :meth:`set_state`. :meth:`rollout` runs all
action sequences of a planning call in one ``mujoco.rollout`` call over a persistent thread
pool (each env step repeats its control ``frame_skip`` times, as gymnasium does). Rewards and
terminations are the task's own functions, applied to the observations that
``task.observation_fn`` computes from qpos, qvel and the sensors.
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
from planners import Problem

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
        self.model: mujoco.MjModel = _with_sensors(env.unwrapped, task.observation_sensors)
        self.frame_skip: int = env.unwrapped.frame_skip
        env.close()
        self.num_threads = num_threads or len(os.sched_getaffinity(0))
        self._datas = [mujoco.MjData(self.model) for _ in range(self.num_threads)]
        self._pool = mj_rollout.Rollout(nthread=self.num_threads)
        self.physics_dim = mujoco.mj_stateSize(self.model, FULL_PHYSICS)
        self.state_dim = self.physics_dim + self.model.nsensordata
        self._sensor_lag = _lagged_sensor_columns(self.model, task.observation_sensors)
        time_size = mujoco.mj_stateSize(self.model, mujoco.mjtState.mjSTATE_TIME)
        self._qpos = slice(time_size, time_size + self.model.nq)
        self._qvel = slice(self._qpos.stop, self._qpos.stop + self.model.nv)
        self._states_out: np.ndarray | None = None
        self._sensors_out: np.ndarray | None = None

    def close(self) -> None:
        self._pool.close()

    def get_state(self, env: gym.Env) -> np.ndarray:
        """The state ``[X]`` of a live env of this task: its full physics state, then the
        observation sensors as the env reports them."""
        data = self._data_of(env)
        state = np.empty(self.state_dim)
        mujoco.mj_getState(self.model, data, state[:self.physics_dim], FULL_PHYSICS)
        state[self.physics_dim:] = _sensor_readings(env.unwrapped, self.task.observation_sensors)
        return state

    def set_state(self, env: gym.Env, state: np.ndarray) -> None:
        """Put a live env into the physics part of ``state [X]``."""
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (self.state_dim,):
            raise ValueError(f"state must be [{self.state_dim}], got {state.shape}")
        data = self._data_of(env)
        mujoco.mj_setState(env.unwrapped.model, data, state[:self.physics_dim], FULL_PHYSICS)
        mujoco.mj_forward(env.unwrapped.model, data)

    def _data_of(self, env: gym.Env) -> mujoco.MjData:
        unwrapped = env.unwrapped
        if not isinstance(unwrapped, MujocoEnv) or unwrapped.model.nq != self.model.nq:
            raise ValueError(f"env is not a {self.task.name} MuJoCo env")
        return unwrapped.data

    def observe(self, states: Tensor) -> Tensor:
        """The task's observations ``[..., S]`` of states ``[..., X]``."""
        return self.task.observation_fn(states[..., self._qpos], states[..., self._qvel],
                                        states[..., self.physics_dim:])

    def rollout(self, states: Tensor, actions: Tensor) -> Tensor:
        """Physics states ``[B, H, X]`` after each of H env steps of ``actions [B, H, A]``."""
        if states.ndim != 2 or states.shape[1] != self.state_dim:
            raise ValueError(f"states must be [B, {self.state_dim}], got {tuple(states.shape)}")
        if actions.ndim != 3 or actions.shape[0] != states.shape[0] \
                or actions.shape[2] != self.model.nu:
            raise ValueError(f"actions must be [{states.shape[0]}, H, {self.model.nu}], got "
                             f"{tuple(actions.shape)}")
        batch, horizon = actions.shape[:2]
        skip = self.frame_skip
        controls = np.repeat(actions.detach().cpu().numpy().astype(np.float64), skip, axis=1)
        if self._sensor_lag.any():  # one more physics step, to read sensors at the final state
            controls = np.concatenate([controls, controls[:, -1:]], axis=1)
        initial = np.ascontiguousarray(states[:, :self.physics_dim].detach().cpu().numpy(),
                                       dtype=np.float64)
        physics, sensors = self._output_buffers(batch, controls.shape[1])
        self._pool.rollout(self.model, self._datas, initial, controls, state=physics,
                           sensordata=sensors)
        end_of_step = slice(skip - 1, horizon * skip, skip)
        # sensors recorded with a physics step are computed before its integration: that is
        # what a gymnasium env reports after do_simulation (stale by one substep), except for
        # positions under RK4, where the env reports its last integration stage, which the next
        # step's reading (at the final state) matches to about 1e-6
        if not self.model.nsensordata:
            return torch.from_numpy(physics[:, end_of_step].copy()).to(states.dtype)
        readings = sensors[:, end_of_step]
        if self._sensor_lag.any():
            final = sensors[:, skip:horizon * skip + 1:skip]
            readings = np.where(self._sensor_lag, final, readings)
        every_step = np.concatenate([physics[:, end_of_step], readings], axis=2)
        return torch.from_numpy(every_step).to(states.dtype)  # [B, H, X], a new array

    def _output_buffers(self, batch: int, physics_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Reused ``[B, steps, physics]`` and ``[B, steps, sensors]`` arrays for the rollout's
        outputs (allocating them anew on every call costs a sizeable part of the simulation)."""
        shape = (batch, physics_steps)
        if self._states_out is None or self._states_out.shape[:2] != shape:
            self._states_out = np.empty((*shape, self.physics_dim))
            self._sensors_out = np.empty((*shape, self.model.nsensordata))
        return self._states_out, self._sensors_out

    def jacobians(self, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Derivatives of one env step at each ``(states [T, X], actions [T, A])``:
        ``d next / d state [T, X, X]`` and ``d next / d action [T, X, A]``, from MuJoCo's own
        finite differences (``mjd_transitionFD``, centred) chained over the ``frame_skip``
        physics steps. Needs ``nq == nv`` (no ball or free joints, true of every task here) and
        a non-RK4 integrator (HalfCheetah; InvertedPendulum, Hopper, Walker2d and the swing-up
        use RK4)."""
        model = self.model
        if model.nq != model.nv or model.nsensordata:
            raise ValueError("jacobians needs nq == nv (no quaternion joints) and a task "
                             "without observation sensors")
        if model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4:
            raise ValueError(f"{self.task.name} uses the RK4 integrator, which mjd_transitionFD "
                             "does not support; use ILQR(derivatives='finite_differences')")
        tangent = 2 * model.nv + model.na
        start = self._qpos.start  # qpos, qvel, act follow time in the full-physics layout
        data = self._datas[0]
        fx = np.zeros((len(states), self.state_dim, self.state_dim))  # state_dim == physics
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


_SENSOR_TYPES = {"framepos": mujoco.mjtSensor.mjSENS_FRAMEPOS,
                 "jointlimitfrc": mujoco.mjtSensor.mjSENS_JOINTLIMITFRC}
# "body" means the body frame (xpos, what gymnasium's get_body_com returns): MuJoCo's XBODY
_OBJECT_TYPES = {"body": mujoco.mjtObj.mjOBJ_XBODY, "joint": mujoco.mjtObj.mjOBJ_JOINT}


def _with_sensors(env: MujocoEnv, sensors: tuple[tuple[str, str, str], ...]) -> mujoco.MjModel:
    """The env's model, recompiled from its XML with the observation sensors added when the
    task declares any (the dynamics are unchanged: sensors only read)."""
    if not sensors:
        return env.model
    spec = mujoco.MjSpec.from_file(env.fullpath)
    for sensor_type, object_type, name in sensors:
        spec.add_sensor(type=_SENSOR_TYPES[sensor_type], objtype=_OBJECT_TYPES[object_type],
                        objname=name)
    return spec.compile()


def _lagged_sensor_columns(model: mujoco.MjModel,
                           sensors: tuple[tuple[str, str, str], ...]) -> np.ndarray:
    """Boolean ``[D]``: sensor columns to read one physics step later (positions under RK4)."""
    rk4 = model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
    return np.concatenate([np.full(3 if kind == "framepos" else 1, rk4 and kind == "framepos")
                           for kind, _, _ in sensors]) if sensors else np.zeros(0, bool)


def _sensor_readings(env: MujocoEnv, sensors: tuple[tuple[str, str, str], ...]) -> np.ndarray:
    """What the declared sensors read, taken from the env's own data (which has no sensors):
    a body's frame position, or the constraint force on a joint's degree of freedom."""
    readings = []
    for sensor_type, _, name in sensors:
        if sensor_type == "framepos":
            readings.append(env.data.body(name).xpos)
        else:
            dof = env.model.jnt_dofadr[env.model.joint(name).id]
            readings.append(env.data.qfrc_constraint[dof:dof + 1])
    return np.concatenate(readings) if readings else np.empty(0)
