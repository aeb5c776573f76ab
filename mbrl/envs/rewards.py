"""Batched torch reward and termination functions that reproduce each task's own.

Every reward function has the signature ``reward_fn(obs [B, S], act [B, A], next_obs [B, S]) ->
[B]`` and every termination function ``termination_fn(next_obs [B, S]) -> [B] bool``. They are
checked against real environment transitions in ``tests/envs/test_rewards.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from mbrl.envs.cartpole_swingup import CENTRE_SCALE, CTRL_COST_WEIGHT


def never_terminates(next_obs: Tensor) -> Tensor:
    """Termination for tasks that only end by time limit: all False, shape ``[B]``."""
    return torch.zeros(next_obs.shape[0], dtype=torch.bool, device=next_obs.device)


def _square_sum(act: Tensor) -> Tensor:
    return act.square().sum(dim=-1)


# --- classic control ---------------------------------------------------------------------------

PENDULUM_MAX_TORQUE = 2.0


def pendulum_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Pendulum-v1: ``-(angle^2 + 0.1 thdot^2 + 0.001 u^2)`` of the state *before* the step."""
    theta = torch.atan2(obs[:, 1], obs[:, 0])  # already in [-pi, pi]: angle_normalize is a no-op
    u = act[:, 0].clamp(-PENDULUM_MAX_TORQUE, PENDULUM_MAX_TORQUE)
    return -(theta.square() + 0.1 * obs[:, 2].square() + 0.001 * u.square())


CARTPOLE_X_THRESHOLD = 2.4
CARTPOLE_THETA_THRESHOLD = 12 * 2 * math.pi / 360


def cartpole_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """CartPole-v1: +1 on every step, including the one that terminates."""
    return torch.ones(obs.shape[0], dtype=obs.dtype, device=obs.device)


def cartpole_termination(next_obs: Tensor) -> Tensor:
    """CartPole-v1: cart beyond +-2.4 m or pole beyond +-12 degrees."""
    x, theta = next_obs[:, 0], next_obs[:, 2]
    return (x.abs() > CARTPOLE_X_THRESHOLD) | (theta.abs() > CARTPOLE_THETA_THRESHOLD)


def acrobot_tip_height(obs: Tensor) -> Tensor:
    """Acrobot-v1: the free end's height ``-cos(t1) - cos(t1 + t2)`` in link lengths, -2 hanging
    to 2 upright (observation ``[cos t1, sin t1, cos t2, sin t2, dt1, dt2]``)."""
    cos1, sin1, cos2, sin2 = obs[:, 0], obs[:, 1], obs[:, 2], obs[:, 3]
    return -cos1 - (cos1 * cos2 - sin1 * sin2)


def acrobot_termination(next_obs: Tensor) -> Tensor:
    """Acrobot-v1: the free end above the bar, tip height > 1."""
    return acrobot_tip_height(next_obs) > 1.0


def acrobot_potential(obs: Tensor) -> Tensor:
    """Acrobot-v1 shaping potential: tip height - 1, in [-3, 0] on non-goal states and 0 at the
    goal's absorbing state, so shaping never makes waiting below the bar beat reaching it."""
    return acrobot_tip_height(obs) - 1.0


def acrobot_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Acrobot-v1: -1 on every step that does not reach the goal, 0 on the one that does."""
    return -(~acrobot_termination(next_obs)).to(next_obs.dtype)


def mountain_car_termination(next_obs: Tensor) -> Tensor:
    """MountainCarContinuous-v0: position >= 0.45 with non-negative velocity."""
    return (next_obs[:, 0] >= 0.45) & (next_obs[:, 1] >= 0.0)


def mountain_car_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """MountainCarContinuous-v0: ``100 * reached_goal - 0.1 * a^2`` (unclipped action)."""
    goal = mountain_car_termination(next_obs).to(obs.dtype)
    return 100.0 * goal - 0.1 * act[:, 0].square()


# --- MuJoCo -----------------------------------------------------------------------------------


def inverted_pendulum_termination(next_obs: Tensor) -> Tensor:
    """InvertedPendulum-v5: non-finite state or pole angle beyond 0.2 rad."""
    return ~torch.isfinite(next_obs).all(dim=-1) | (next_obs[:, 1].abs() > 0.2)


def inverted_pendulum_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """InvertedPendulum-v5: 1 while alive, 0 on the terminating step."""
    return (~inverted_pendulum_termination(next_obs)).to(obs.dtype)


IDP_POLE_LENGTH = 0.6


def _idp_tip(next_obs: Tensor) -> tuple[Tensor, Tensor]:
    """Tip site (x, z) of the double pendulum from ``[x, sin th1, sin th2, cos th1, cos th2,
    ...]``."""
    x, s1, s2, c1, c2 = next_obs[:, :5].unbind(dim=-1)
    s12 = s1 * c2 + c1 * s2
    c12 = c1 * c2 - s1 * s2
    tip_x = x + IDP_POLE_LENGTH * (s1 + s12)
    tip_z = IDP_POLE_LENGTH * (c1 + c12)
    return tip_x, tip_z


def inverted_double_pendulum_termination(next_obs: Tensor) -> Tensor:
    """InvertedDoublePendulum-v5: tip height at or below 1 m."""
    return _idp_tip(next_obs)[1] <= 1.0


def inverted_double_pendulum_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """InvertedDoublePendulum-v5: ``10 * alive - (0.01 x^2 + (z - 2)^2) - (1e-3 w1^2 + 5e-3 w2^2)``.

    The joint velocities come from the observation, which gymnasium clips to +-10 rad/s; the
    env's own penalty uses the unclipped ones, so the two differ only past that speed.
    """
    tip_x, tip_z = _idp_tip(next_obs)
    alive = (tip_z > 1.0).to(obs.dtype)
    distance_penalty = 0.01 * tip_x.square() + (tip_z - 2.0).square()
    velocity_penalty = 1e-3 * next_obs[:, 6].square() + 5e-3 * next_obs[:, 7].square()
    return 10.0 * alive - distance_penalty - velocity_penalty


def reacher_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Reacher-v5: ``-|fingertip - target| - |a|^2`` with the planar offset in ``obs[8:10]``."""
    return -next_obs[:, 8:10].norm(dim=-1) - _square_sum(act)


def pusher_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Pusher-v5: ``-|obj - goal| - 0.5 |obj - tip| - 0.1 |a|^2`` from ``obs[14:23]``."""
    tip, obj, goal = next_obs[:, 14:17], next_obs[:, 17:20], next_obs[:, 20:23]
    return -(obj - goal).norm(dim=-1) - 0.5 * (obj - tip).norm(dim=-1) - 0.1 * _square_sum(act)


def forward_velocity(obs: Tensor, next_obs: Tensor, dt: float) -> Tensor:
    """x velocity of the root from the x position kept in ``obs[:, 0]``, shape ``[B]``."""
    return (next_obs[:, 0] - obs[:, 0]) / dt


HALF_CHEETAH_DT = 0.05


def half_cheetah_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """HalfCheetah-v5 (x position in the observation): ``x_velocity - 0.1 |a|^2``."""
    return forward_velocity(obs, next_obs, HALF_CHEETAH_DT) - 0.1 * _square_sum(act)


HOPPER_DT = 0.008


def hopper_termination(next_obs: Tensor) -> Tensor:
    """Hopper-v5 (x in obs): unhealthy if z <= 0.7, |angle| >= 0.2 or |obs[2:]| >= 100.

    The velocities in the observation are clipped to +-10 by gymnasium, so the +-100 velocity
    bound is only visible through the joint angles; random and learned policies stay far below.
    """
    z, angle = next_obs[:, 1], next_obs[:, 2]
    state_ok = (next_obs[:, 2:].abs() < 100.0).all(dim=-1)
    healthy = state_ok & (z > 0.7) & (angle > -0.2) & (angle < 0.2)
    return ~healthy


def hopper_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Hopper-v5 (x in obs): ``x_velocity + 1 * healthy - 1e-3 |a|^2``."""
    healthy = (~hopper_termination(next_obs)).to(obs.dtype)
    return forward_velocity(obs, next_obs, HOPPER_DT) + healthy - 1e-3 * _square_sum(act)


WALKER_DT = 0.008


def walker2d_termination(next_obs: Tensor) -> Tensor:
    """Walker2d-v5 (x in obs): unhealthy unless 0.8 < z < 2 and -1 < angle < 1."""
    z, angle = next_obs[:, 1], next_obs[:, 2]
    healthy = (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)
    return ~healthy


def walker2d_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """Walker2d-v5 (x in obs): ``x_velocity + 1 * healthy - 1e-3 |a|^2``."""
    healthy = (~walker2d_termination(next_obs)).to(obs.dtype)
    return forward_velocity(obs, next_obs, WALKER_DT) + healthy - 1e-3 * _square_sum(act)


def cartpole_swingup_reward(obs: Tensor, act: Tensor, next_obs: Tensor) -> Tensor:
    """mbrl/CartPoleSwingUp-v0: torch twin of :func:`mbrl.envs.cartpole_swingup.swingup_reward`."""
    x, cos_theta = next_obs[:, 0], next_obs[:, 1]
    upright = 0.5 * (1.0 + cos_theta)
    centred = 0.5 * (1.0 + torch.exp(-(x / CENTRE_SCALE).square()))
    return upright * centred - CTRL_COST_WEIGHT * _square_sum(act)
