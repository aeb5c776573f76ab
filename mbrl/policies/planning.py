"""Policies that plan: MPC from a live MuJoCo env's physics state with the true simulator, and
MPC in the latent space of a learned world model. (MPC through any batched model is
``planners.MPC`` itself; these add what their model needs to start a plan.)"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from mbrl.envs.simulator import MujocoSimulator
from planners import MPC, Planner, Problem


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


class LatentMPC:
    """MPC in latent space: ``encode(obs [N, ...]) -> [N, Z]`` maps the observation to the
    planning state (e.g. ``model.encode``), any planner plans over a ``problem`` on those states
    (e.g. ``model.problem(...)``), act. Follows the policy protocol."""

    def __init__(self, encode: Callable[[Tensor], Tensor], planner: Planner,
                 problem: Problem) -> None:
        self.encode = encode
        self.mpc = MPC(planner, problem)

    def reset(self) -> None:
        self.mpc.reset()

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        latent = self.encode(torch.as_tensor(np.asarray(obs))[None])[0]
        return self.mpc.act(latent.numpy(), deterministic)
