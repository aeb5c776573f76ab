"""TD-MPC (Hansen, Wang and Su 2022; TD-MPC2, Hansen, Su and Wang 2024): planning in a learned
latent space with a learned value at the horizon and a learned policy as the planner's prior
(reference 003 §5.3.4 latent models, Alg. 25 MPC; the model is :mod:`mbrl.models.tdmpc`).

    first `random_steps` env steps: uniform random actions; then `random_steps` updates at once
    every env step after that:
        z = h(s); plan H steps in latent space with any population planner (planners.MPC,
            warm-started from the shifted last plan) over d, R and gamma^H Q(z_H, pi(z_H)) at
            the horizon, rewards and value weighted by the continuation head's survival
            probability, with `policy_samples` sequences of pi rolled through d among the
            candidates of every iteration
        act: the plan's first action plus Gaussian noise (`exploration_std`), store it
        `updates_per_step` updates, each on B windows of H real transitions:
            model, critics: latent consistency + reward + TD + continuation losses (clipped)
            policy: SAC's objective on the unrolled latents; temperature to -A; Polyak targets

Observations are the task's states, or (``pixels``) ``frame_stack`` stacked 64 x 64 frames
rendered offscreen, encoded by convolutions (TD-MPC's pixel encoder) and stored as ``uint8``.
Evaluation plans without the exploration noise. The step loop, checkpoints, segments, identical
resumption and logging are :class:`~mbrl.algorithms.model_free.ReplayStepRun`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from mbrl.algorithms.model_free import ReplayStepRun
from mbrl.algorithms.planning import MPPIConfig, PlannerConfig, PlannerName, build_planner
from mbrl.data import EnvStepper, ReplayBuffer
from mbrl.envs import make_task
from mbrl.envs.pixels import make_observed_env
from mbrl.envs.rewards import never_terminates
from mbrl.models.tdmpc import TDMPCModel, TDMPCModelConfig
from mbrl.policies import LatentMPC
from mbrl.util.config import require_positive
from mbrl.util.errors import check_finite_loss


def _tdmpc_planner() -> PlannerConfig:
    return PlannerConfig(name=PlannerName.mppi, horizon=5, mppi=MPPIConfig(
        num_samples=256, temperature=0.1, noise_std=0.5, iterations=4, smoothing=0.0,
        normalize=True))


@dataclass
class TDMPCConfig:
    """TD-MPC on a task's states or frames: schedule, exploration, the latent model and the
    planner."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir",
                                                      "video_every"})

    task: str = "InvertedPendulum-v5"  # a registered continuous-action task
    seed: int = 0  # run seed: every random draw derives from it
    pixels: bool = False  # observe 64 x 64 rendered frames (conv encoder) instead of states
    frame_stack: int = 3  # frames per observation with pixels (TD-MPC's 3)
    action_repeat: int = 1  # simulator steps per action (an env step below is an action)
    total_steps: int = 5000  # real env steps
    random_steps: int = 500  # uniform random actions first, then as many updates at once
    updates_per_step: float = 1.0  # updates per env step after that (fractions accumulate)
    batch_size: int = 256  # windows per update
    gamma: float = 0.99  # discount of rewards, TD targets and the planner
    policy_samples: int = 24  # policy sequences among the planner's candidates (0: none)
    exploration_std: float = 0.1  # std of the training actions' noise, fraction of the half range
    buffer_size: int = 1_000_000  # real transitions kept (the oldest go first beyond it)
    eval_every: int = 1000  # env steps between deterministic evaluations
    eval_episodes: int = 10  # episodes per evaluation
    checkpoint_every: int = 1000  # env steps per segment (model_free's module docstring)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar
    video_every: int = 0  # record an episode at every k-th evaluation to videos/ (0: never)
    model: TDMPCModelConfig = field(default_factory=TDMPCModelConfig)
    planner: PlannerConfig = field(default_factory=_tdmpc_planner)  # its horizon is the windows'

    def validate(self) -> None:
        task = make_task(self.task)
        if not isinstance(task.action_space, gym.spaces.Box):
            raise ValueError(f"TD-MPC plans continuous actions; {self.task} has "
                             f"{task.action_space}")
        require_positive(self, "total_steps", "updates_per_step", "batch_size", "buffer_size",
                         "eval_every", "eval_episodes", "checkpoint_every", "frame_stack",
                         "action_repeat")
        if self.random_steps < 1:
            raise ValueError(f"random_steps must be >= 1, got {self.random_steps}")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.policy_samples < 0 or self.exploration_std < 0 or self.video_every < 0:
            raise ValueError(f"policy_samples, exploration_std and video_every must be >= 0, "
                             f"got {self.policy_samples}, {self.exploration_std}, "
                             f"{self.video_every}")
        if self.planner.name == PlannerName.categorical_cem:
            raise ValueError("TD-MPC plans continuous actions: planner.name must be "
                             "random_shooting, cem, icem or mppi")
        self.model.validate()
        self.planner.validate()


class TDMPCAgent:
    """The latent model, its optimisers and the planning policy (the policy protocol):
    ``act(obs [S] or frames [C, 64, 64])`` plans from ``h(obs)``; noise is added unless
    ``deterministic``."""

    def __init__(self, task: Any, obs_shape: tuple[int, ...], config: TDMPCConfig,
                 generator: torch.Generator) -> None:
        space = task.action_space
        self.model = TDMPCModel(obs_shape, space, config.model,
                                terminates=task.termination_fn is not never_terminates,
                                ignored_obs_dims=() if config.pixels else task.reward_only_dims)
        self.optimizers = self.model.optimizers()
        self.generator = generator
        problem = self.model.problem(config.planner.horizon, config.gamma,
                                     config.policy_samples, generator)
        self.mpc = LatentMPC(self.model.planning_state, build_planner(config.planner, generator),
                             problem)
        self.noise = config.exploration_std * (space.high - space.low) / 2
        self.low, self.high = space.low, space.high

    def reset(self) -> None:
        self.mpc.reset()

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        action = self.mpc.act(np.asarray(obs, np.float32))
        if deterministic or not self.noise.any():
            return action
        noise = torch.randn(action.shape, generator=self.generator).numpy() * self.noise
        return np.clip(action + noise, self.low, self.high).astype(np.float32)

    def update(self, buffer: ReplayBuffer, batch_size: int, horizon: int, gamma: float,
               rng: np.random.Generator, where: str) -> dict[str, float]:
        """One update of model, critics, policy and temperature on windows from ``buffer``."""
        model, optimizers = self.model, self.optimizers
        windows, valid = buffer.sample_sequences(batch_size, horizon, rng)
        data = windows.to_torch()
        loss, latents, metrics = model.loss(data["obs"], data["act"], data["rew"],
                                            data["next_obs"], data["terminated"],
                                            torch.as_tensor(valid), gamma, self.generator)
        check_finite_loss("TD-MPC model", where, loss.item(), math.nan)
        optimizers["model"].zero_grad(set_to_none=True)
        loss.backward()
        metrics["model_grad_norm"] = float(torch.nn.utils.clip_grad_norm_(
            optimizers["model"].param_groups[0]["params"], model.config.max_grad_norm))
        optimizers["model"].step()
        model.critic.requires_grad_(False)  # the policy's gradient flows through Q, not into it
        try:
            actor_loss, alpha_loss, policy_metrics = model.policy_loss(latents, self.generator)
            check_finite_loss("TD-MPC policy", where, actor_loss.item(), math.nan)
            for name, part in (("actor", actor_loss), ("alpha", alpha_loss)):
                optimizers[name].zero_grad(set_to_none=True)
                part.backward()
                optimizers[name].step()
        finally:
            model.critic.requires_grad_(True)
        model.update_targets()
        return {"model_loss": loss.item(), **metrics, "actor_loss": actor_loss.item(),
                **policy_metrics}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "generator": self.generator.get_state(),
                **{f"{name}_optimizer": o.state_dict() for name, o in self.optimizers.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.generator.set_state(state["generator"])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[f"{name}_optimizer"])


class TDMPCRun(ReplayStepRun):
    """One run of the module docstring's loop; ``train()`` continues from wherever it stopped."""

    config_class = TDMPCConfig
    seed_keys = ("windows", "explore", "env")

    def __init__(self, config: TDMPCConfig) -> None:
        super().__init__(config)
        self.env = EnvStepper(self.evaluation_env())
        shape = self.env.env.observation_space.shape
        self.agent = TDMPCAgent(self.task, shape, config, self.generator)
        self.buffer = ReplayBuffer(config.buffer_size, shape, self.task.act_dim,
                                   obs_dtype=np.uint8 if config.pixels else np.float32)

    @classmethod
    def for_config(cls, config: TDMPCConfig) -> type[TDMPCRun]:
        return cls

    def label(self) -> str:
        return "tdmpc"

    def evaluation_env(self, render_mode: str | None = None) -> gym.Env:
        """The task's env as the config observes it: for training too, and for videos."""
        config = self.config
        return make_observed_env(config.task, config.pixels, 64, config.frame_stack,
                                 config.action_repeat, render_mode)

    def acting_randomly(self) -> bool:
        return self.env_steps < self.config.random_steps

    def update_credit(self, acted_randomly: bool) -> float:
        config = self.config
        if self.env_steps == config.random_steps:  # TD-MPC's pretraining on the seed data
            return float(config.random_steps)
        return 0.0 if acted_randomly else config.updates_per_step

    def update_agent(self, rng: np.random.Generator) -> dict[str, float]:
        config = self.config
        return self.agent.update(self.buffer, config.batch_size, config.planner.horizon,
                                 config.gamma, rng, f"env step {self.env_steps}")

    def start_episode(self) -> None:
        self.agent.reset()
