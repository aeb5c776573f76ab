"""MuJoCo cart-pole swing-up: the pole starts hanging down and must be swung up and balanced.

Observation ``[x, cos(theta), sin(theta), x_dot, theta_dot]`` (theta = 0 is upright), action a
force command in ``[-1, 1]`` (10 N at full scale), fixed-length episodes (no termination).
The reward is :func:`swingup_reward` of the next observation and the action, so a planner can
compute it exactly from ``(obs, act, next_obs)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.utils import EzPickle

ASSET = Path(__file__).parent / "assets" / "cartpole_swingup.xml"
CTRL_COST_WEIGHT = 0.01
CENTRE_SCALE = 1.0  # metres: width of the "cart near the centre" bonus


def swingup_reward(next_obs: np.ndarray, action: np.ndarray) -> np.ndarray:
    """Reward in [-0.01, 1] per step; works on ``[..., 5]`` observations and ``[..., 1]`` actions.

    ``upright * centred - 0.01 * u^2`` with ``upright = (1 + cos theta) / 2`` and
    ``centred = (1 + exp(-(x / 1 m)^2)) / 2``; the torch twin lives in ``mbrl.envs.rewards``.
    """
    x, cos_theta = next_obs[..., 0], next_obs[..., 1]
    upright = 0.5 * (1.0 + cos_theta)
    centred = 0.5 * (1.0 + np.exp(-((x / CENTRE_SCALE) ** 2)))
    return upright * centred - CTRL_COST_WEIGHT * np.sum(np.square(action), axis=-1)


class CartPoleSwingUpEnv(MujocoEnv, EzPickle):
    """Gymnasium ``MujocoEnv`` for the swing-up task (register id ``mbrl/CartPoleSwingUp-v0``)."""

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 20}

    def __init__(self, frame_skip: int = 5, reset_noise_scale: float = 0.05, **kwargs) -> None:
        EzPickle.__init__(self, frame_skip, reset_noise_scale, **kwargs)
        self._reset_noise_scale = reset_noise_scale
        observation_space = spaces.Box(-np.inf, np.inf, shape=(5,), dtype=np.float64)
        MujocoEnv.__init__(
            self,
            str(ASSET),
            frame_skip,
            observation_space=observation_space,
            default_camera_config={"trackbodyid": 0, "distance": 9.5, "elevation": 0.0},
            **kwargs,
        )
        self.metadata = {**self.metadata, "render_fps": int(np.round(1.0 / self.dt))}

    def step(self, action: np.ndarray):
        action = np.asarray(action, dtype=np.float64)
        self.do_simulation(action, self.frame_skip)
        observation = self._get_obs()
        reward = float(swingup_reward(observation, action))
        if self.render_mode == "human":
            self.render()
        return observation, reward, False, False, {}

    def _get_obs(self) -> np.ndarray:
        x, theta = self.data.qpos
        x_dot, theta_dot = self.data.qvel
        return np.array([x, np.cos(theta), np.sin(theta), x_dot, theta_dot])

    def reset_model(self) -> np.ndarray:
        noise = self._reset_noise_scale
        qpos = np.array([0.0, np.pi]) + self.np_random.uniform(-noise, noise, size=2)
        qvel = self.np_random.uniform(-noise, noise, size=2)
        self.set_state(qpos, qvel)
        return self._get_obs()
