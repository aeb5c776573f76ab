"""Observations of MuJoCo tasks as batched torch functions of ``(qpos [B, nq], qvel [B, nv])``.

They let the MuJoCo simulator serve as a planning model (:mod:`mbrl.envs.simulator`): the
planner's state is the full physics state and the task's reward is computed on these
observations. Tasks whose observation needs more than positions and velocities (contact or
constraint forces, site positions) have none; each is tested against the env's own.
"""

from __future__ import annotations

import torch
from torch import Tensor


def positions_and_velocities(qpos: Tensor, qvel: Tensor) -> Tensor:
    """InvertedPendulum-v5, and HalfCheetah-v5 with the root x position kept."""
    return torch.cat([qpos, qvel], dim=-1)


def positions_and_clipped_velocities(qpos: Tensor, qvel: Tensor) -> Tensor:
    """Hopper-v5 and Walker2d-v5 with the root x position kept: velocities clipped to ±10."""
    return torch.cat([qpos, qvel.clamp(-10.0, 10.0)], dim=-1)


def cartpole_swingup(qpos: Tensor, qvel: Tensor) -> Tensor:
    """Our swing-up: ``[x, cos theta, sin theta, x_dot, theta_dot]``."""
    angle = qpos[..., 1:2]
    return torch.cat([qpos[..., :1], angle.cos(), angle.sin(), qvel], dim=-1)
