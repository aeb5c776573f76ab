"""Observations of MuJoCo tasks as batched torch functions of ``(qpos [B, nq], qvel [B, nv],
sensors [B, D])``.

They let the MuJoCo simulator serve as a planning model (:mod:`mbrl.envs.simulator`): the
planner's state is the full physics state (plus the sensor readings) and the task's reward is
computed on these observations. ``sensors`` holds what a task declares in
``TaskSpec.observation_sensors`` (body positions, joint-limit forces), which the simulator adds
to its copy of the model as MuJoCo sensors. Each is tested against the env's own observation.
"""

from __future__ import annotations

import torch
from torch import Tensor


def positions_and_velocities(qpos: Tensor, qvel: Tensor, sensors: Tensor) -> Tensor:
    """InvertedPendulum-v5, and HalfCheetah-v5 with the root x position kept."""
    return torch.cat([qpos, qvel], dim=-1)


def positions_and_clipped_velocities(qpos: Tensor, qvel: Tensor, sensors: Tensor) -> Tensor:
    """Hopper-v5 and Walker2d-v5 with the root x position kept: velocities clipped to ±10."""
    return torch.cat([qpos, qvel.clamp(-10.0, 10.0)], dim=-1)


def cartpole_swingup(qpos: Tensor, qvel: Tensor, sensors: Tensor) -> Tensor:
    """Our swing-up: ``[x, cos theta, sin theta, x_dot, theta_dot]``."""
    angle = qpos[..., 1:2]
    return torch.cat([qpos[..., :1], angle.cos(), angle.sin(), qvel], dim=-1)


REACHER_SENSORS = (("framepos", "body", "fingertip"), ("framepos", "body", "target"))


def reacher(qpos: Tensor, qvel: Tensor, sensors: Tensor) -> Tensor:
    """Reacher-v5: arm angles as cos/sin, target position, arm velocities, fingertip - target
    (x, y) from the two body-position sensors."""
    angles = qpos[..., :2]
    offset = sensors[..., 0:2] - sensors[..., 3:5]
    return torch.cat([angles.cos(), angles.sin(), qpos[..., 2:], qvel[..., :2], offset], dim=-1)


PUSHER_SENSORS = (("framepos", "body", "tips_arm"), ("framepos", "body", "object"),
                  ("framepos", "body", "goal"))


def pusher(qpos: Tensor, qvel: Tensor, sensors: Tensor) -> Tensor:
    """Pusher-v5: arm positions and velocities, then tip, object and goal positions."""
    return torch.cat([qpos[..., :7], qvel[..., :7], sensors], dim=-1)


INVERTED_DOUBLE_PENDULUM_SENSORS = (("jointlimitfrc", "joint", "slider"),)


def inverted_double_pendulum(qpos: Tensor, qvel: Tensor, sensors: Tensor) -> Tensor:
    """InvertedDoublePendulum-v5: cart position, sin/cos of the hinges, clipped velocities and
    the clipped constraint force on the slider (its joint-limit force)."""
    hinges = qpos[..., 1:]
    return torch.cat([qpos[..., :1], hinges.sin(), hinges.cos(), qvel.clamp(-10.0, 10.0),
                      sensors.clamp(-10.0, 10.0)], dim=-1)
