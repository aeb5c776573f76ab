"""Analytic torch dynamics, batched and differentiable, for planning with a known model.

``pendulum_dynamics`` reproduces gymnasium's Pendulum-v1 on its observations;
``cartpole_dynamics`` is the classic cart-pole (gymnasium CartPole-v1's equations, Barto et al.
1983) driven by a continuous force, which equals CartPole-v1 step for step at ``u = ±1``.
"""

from __future__ import annotations

import torch
from torch import Tensor

PENDULUM_GRAVITY, PENDULUM_DT, PENDULUM_MAX_SPEED, PENDULUM_MAX_TORQUE = 10.0, 0.05, 8.0, 2.0

CARTPOLE_GRAVITY, CARTPOLE_CART_MASS, CARTPOLE_POLE_MASS = 9.8, 1.0, 0.1
CARTPOLE_HALF_LENGTH, CARTPOLE_FORCE, CARTPOLE_DT = 0.5, 10.0, 0.02


def pendulum_dynamics(obs: Tensor, act: Tensor) -> Tensor:
    """Pendulum-v1: ``obs [B, 3] = [cos theta, sin theta, theta_dot]``, ``act [B, 1]`` torque
    (clipped to ±2 as the env does) -> next observation ``[B, 3]``."""
    theta = torch.atan2(obs[:, 1], obs[:, 0])
    torque = act[:, 0].clamp(-PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE)
    acceleration = 3 * PENDULUM_GRAVITY / 2 * torch.sin(theta) + 3.0 * torque
    speed = (obs[:, 2] + acceleration * PENDULUM_DT).clamp(-PENDULUM_MAX_SPEED, PENDULUM_MAX_SPEED)
    theta = theta + speed * PENDULUM_DT
    return torch.stack([torch.cos(theta), torch.sin(theta), speed], dim=1)


def cartpole_dynamics(states: Tensor, act: Tensor) -> Tensor:
    """Cart-pole with a continuous force ``10 * u`` (``act [B, 1]``, not clipped):
    ``states [B, 4] = [x, x_dot, theta, theta_dot]`` (theta = 0 upright) -> next ``[B, 4]``,
    explicit Euler with dt = 0.02 s as in CartPole-v1. Valid at any angle (swing-up)."""
    x, x_dot, theta, theta_dot = states.unbind(dim=1)
    force = CARTPOLE_FORCE * act[:, 0]
    total_mass = CARTPOLE_CART_MASS + CARTPOLE_POLE_MASS
    pole_moment = CARTPOLE_POLE_MASS * CARTPOLE_HALF_LENGTH
    cos, sin = torch.cos(theta), torch.sin(theta)
    temp = (force + pole_moment * theta_dot.square() * sin) / total_mass
    theta_acc = (CARTPOLE_GRAVITY * sin - cos * temp) / (
        CARTPOLE_HALF_LENGTH * (4.0 / 3.0 - CARTPOLE_POLE_MASS * cos.square() / total_mass))
    x_acc = temp - pole_moment * theta_acc * cos / total_mass
    return torch.stack([x + CARTPOLE_DT * x_dot, x_dot + CARTPOLE_DT * x_acc,
                        theta + CARTPOLE_DT * theta_dot, theta_dot + CARTPOLE_DT * theta_acc],
                       dim=1)
