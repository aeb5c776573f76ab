"""Pixel observations: a task rendered offscreen at ``size x size``, optionally frame-stacked.

MuJoCo tasks render at the requested size directly (set ``MUJOCO_GL=egl`` or ``osmesa`` on a
machine without a display); classic-control tasks render with pygame at their own size and are
resized with an antialiasing filter (PIL). Rewards, terminations and truncations are the
environment's own.
"""

from __future__ import annotations

import os
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.envs.registration import load_env_creator
from PIL import Image

from mbrl.envs.tasks import make_task

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # pygame renders offscreen, no display needed


class PixelObservation(gym.Wrapper):
    """Observations are the last ``frame_stack`` rendered frames, oldest first, as one
    channels-first ``uint8`` array ``[3 * frame_stack, size, size]``. The wrapped env must have
    ``render_mode="rgb_array"``. The underlying (state) observation stays available in
    ``info["state"]``."""

    def __init__(self, env: gym.Env, size: int = 64, frame_stack: int = 1) -> None:
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(f"the env must render rgb_array frames, got render_mode="
                             f"{env.render_mode!r}")
        if size < 8 or frame_stack < 1:
            raise ValueError(f"need size >= 8 and frame_stack >= 1, got {size}, {frame_stack}")
        self.size, self.frame_stack = int(size), int(frame_stack)
        self.observation_space = gym.spaces.Box(0, 255, (3 * frame_stack, size, size), np.uint8)
        self._frames: deque[np.ndarray] = deque(maxlen=frame_stack)

    def _frame(self) -> np.ndarray:
        image = np.asarray(self.env.render())
        if image.shape[:2] != (self.size, self.size):
            image = np.asarray(Image.fromarray(image).resize((self.size, self.size),
                                                              Image.Resampling.BOX))
        return np.ascontiguousarray(image.transpose(2, 0, 1))

    def _observation(self) -> np.ndarray:
        return np.concatenate(self._frames, axis=0)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        state, info = self.env.reset(**kwargs)
        frame = self._frame()
        for _ in range(self.frame_stack):
            self._frames.append(frame)
        return self._observation(), {**info, "state": state}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        state, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(self._frame())
        return self._observation(), reward, terminated, truncated, {**info, "state": state}


class ActionRepeat(gym.Wrapper):
    """Each action is applied ``repeat`` times (fewer steps if the episode ends); the reward is
    the sum over the repeats. The usual way to give pixel world models actions whose effect is
    visible from one observation to the next (PlaNet)."""

    def __init__(self, env: gym.Env, repeat: int) -> None:
        super().__init__(env)
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        self.repeat = int(repeat)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


def make_pixel_env(task_name: str, size: int = 64, frame_stack: int = 1,
                   action_repeat: int = 1, **kwargs: Any) -> gym.Env:
    """The task's env (its episode length and reward configuration) with pixel observations,
    rendered only once per (repeated) action."""
    task = make_task(task_name)
    creator = load_env_creator(gym.spec(task.env_id).entry_point)
    if isinstance(creator, type) and issubclass(creator, MujocoEnv):
        kwargs = {"width": size, "height": size, **kwargs}
    env = task.make_env(render_mode="rgb_array", **kwargs)
    if action_repeat > 1:
        env = ActionRepeat(env, action_repeat)
    return PixelObservation(env, size, frame_stack)


def make_observed_env(task_name: str, pixels: bool, size: int = 64, frame_stack: int = 1,
                      action_repeat: int = 1, render_mode: str | None = None) -> gym.Env:
    """The task's env with ``action_repeat``, observing frames (:func:`make_pixel_env`,
    rendered ``rgb_array`` already) or its states (rendered in ``render_mode``)."""
    if pixels:
        return make_pixel_env(task_name, size, frame_stack, action_repeat)
    env = make_task(task_name).make_env(render_mode=render_mode)
    return ActionRepeat(env, action_repeat) if action_repeat > 1 else env
