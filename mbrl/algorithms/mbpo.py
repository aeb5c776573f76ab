"""General Dyna with a learned ensemble (reference 003 §5.6, Alg. 29; Sutton 1990), and MBPO
(Janner et al. 2019) as its policy-action setting.

SAC (continuous, or discrete for Discrete actions) trains on a mix of real transitions and short
branched rollouts through a probabilistic ensemble, started from real states:

    every env step:
        every F steps: refit the ensemble to the real buffer (elites by validation error);
                       roll k steps from `rollouts` real states through the model (a random
                       elite per row and step, the task's exact reward and termination) into
                       the model buffer, k growing linearly with env steps; the first action
                       of each rollout comes from `action_source`: the current policy (MBPO),
                       the real action stored with the start state, or uniform; later ones
                       from the policy (uniform for `uniform`)
        act in the env with SAC, store the transition in the real buffer
        G SAC updates on batches of `real_fraction` real and the rest model transitions

The model buffer holds ``model_retain`` refits' worth of rollouts. Evaluation, checkpoints,
segments and logging are the model-free off-policy run's (:mod:`mbrl.algorithms.model_free`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm.auto import tqdm

from mbrl.agents.sac import SAC, SACConfig
from mbrl.algorithms.model_free import AgentRun
from mbrl.algorithms.models import (
    DynamicsModelConfig,
    ModelKind,
    build_dynamics_model,
    fit_settings,
)
from mbrl.data import EnvStepper, ReplayBuffer
from mbrl.envs import make_task
from mbrl.models import ModelEnv, branched_rollouts
from mbrl.policies import RandomPolicy
from planners import NonFiniteModelOutput


class ActionSource(str, Enum):
    policy = "policy"
    buffer = "buffer"
    uniform = "uniform"


class FirstActions:
    """Acts ``actions [N, ...]`` at its first call, then as ``then`` (a policy)."""

    def __init__(self, actions: np.ndarray, then: Any) -> None:
        self.actions, self.then = actions, then

    def act(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        if self.actions is not None:
            actions, self.actions = self.actions, None
            return actions
        return self.then.act(obs, deterministic)


def _mbpo_model() -> DynamicsModelConfig:
    return DynamicsModelConfig(kind=ModelKind.ensemble, ensemble_size=7, num_elites=5,
                               hidden_size=200, num_layers=4, max_epochs=50, patience=5)


def _mbpo_sac() -> SACConfig:
    return SACConfig(learning_starts=0, updates_per_step=20.0)


@dataclass
class MBPOConfig:
    """MBPO's schedule: refits, branched rollouts, the rollout-length schedule and the SAC mix."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir",
                                                      "video_every"})

    task: str = "InvertedPendulum-v5"  # a registered task with a termination_fn
    seed: int = 0  # run seed: every random draw derives from it
    total_steps: int = 10_000  # real env steps
    random_steps: int = 250  # uniform random actions first (no model, no updates before)
    refit_every: int = 250  # F: env steps between model refits (and rollouts)
    rollouts: int = 400  # branched rollouts started per env step of the refit period
    min_length: int = 1  # rollout length k until schedule_start env steps
    max_length: int = 1  # k from schedule_end env steps on (linear in between)
    schedule_start: int = 0  # env step at which k starts to grow
    schedule_end: int = 1  # env step at which k reaches max_length
    model_retain: int = 5  # refits' worth of rollouts the model buffer holds
    action_source: ActionSource = ActionSource.policy  # first action of each model rollout
    real_fraction: float = 0.05  # share of real transitions in each SAC batch
    num_envs: int = 1  # one real env
    eval_every: int = 1000  # env steps between deterministic evaluations
    eval_episodes: int = 10  # episodes per evaluation
    checkpoint_every: int = 1000  # env steps per segment (model_free's module docstring)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar
    video_every: int = 0  # record an episode at every k-th evaluation to videos/ (0: never)
    model: DynamicsModelConfig = field(default_factory=_mbpo_model)
    # G = sac.updates_per_step SAC updates per env step
    sac: SACConfig = field(default_factory=_mbpo_sac)

    def __post_init__(self) -> None:
        self.action_source = ActionSource(self.action_source)

    def validate(self) -> None:
        task = make_task(self.task)
        for name in ("total_steps", "refit_every", "rollouts", "min_length", "max_length",
                     "model_retain", "eval_every", "eval_episodes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.random_steps < 2:
            raise ValueError(f"random_steps must be >= 2 (the model needs data), got "
                             f"{self.random_steps}")
        if self.max_length < self.min_length or self.schedule_end <= self.schedule_start:
            raise ValueError("need min_length <= max_length and schedule_start < schedule_end")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {self.real_fraction}")
        if self.model.kind != ModelKind.ensemble:
            raise ValueError("MBPO rolls out a probabilistic ensemble: model.kind=ensemble")
        if task.termination_fn is None:
            raise ValueError(f"MBPO needs the task's termination_fn; {task.name} has none")
        self.model.validate()
        self.sac.validate()


class MBPORun(AgentRun):
    """One MBPO run; ``train()`` continues from wherever it stopped."""

    config_class = MBPOConfig

    @classmethod
    def for_config(cls, config: MBPOConfig) -> type[MBPORun]:
        return cls

    def __init__(self, config: MBPOConfig) -> None:
        super().__init__(config)
        task = self.task
        self.agent = SAC(task.observation_space, task.action_space, config.sac, self.generator)
        self.model = build_dynamics_model(config.model, task.obs_dim, task.act_dim, task.name)
        self.model.eval()
        self.model_optimizer = torch.optim.Adam(self.model.parameters(),
                                                lr=config.model.learning_rate, fused=True)
        self.dynamics = self.model.planning_dynamics(1, "ts1")  # a random elite per row, step
        self.model_env = ModelEnv(self.dynamics, task.reward_fn, task.termination_fn)
        self.env = EnvStepper(task.make_env())
        self.real = ReplayBuffer(config.sac.buffer_size, task.obs_dim, task.act_dim)
        self.synthetic = ReplayBuffer(self.model_capacity(), task.obs_dim, task.act_dim)
        self.model_mse = math.nan

    def label(self) -> str:
        return "mbpo" if self.config.action_source == ActionSource.policy else \
            f"dyna-{self.config.action_source.value}"

    def rollout_length(self) -> int:
        """k at the current env step: ``min_length`` until ``schedule_start``, then linear."""
        config = self.config
        progress = (self.env_steps - config.schedule_start) / (config.schedule_end
                                                               - config.schedule_start)
        span = config.max_length - config.min_length
        return int(config.min_length + span * min(max(progress, 0.0), 1.0))

    def model_capacity(self) -> int:
        """Transitions of ``model_retain`` refits of the longest rollouts."""
        config = self.config
        return config.model_retain * config.rollouts * config.refit_every * config.max_length

    # ----- the loop ------------------------------------------------------------------------
    def segment(self, segment: int, end: int, bar: tqdm) -> None:
        config, agent, env = self.config, self.agent, self.env
        rng = self.seeds.numpy("sampling", segment)
        explore = RandomPolicy(self.task.action_space, self.seeds.derive("explore", segment))
        env.reset(self.seeds.derive("env", segment))
        metrics: dict[str, float] = {}
        while self.env_steps < end:
            learning = self.env_steps >= config.random_steps
            if learning and (self.env_steps - config.random_steps) % config.refit_every == 0:
                self.refit_and_roll_out()
            step = env.step((agent if learning else explore).act(env.obs))
            self.env_steps += 1
            cut = self.env_steps == end and not step.done[0]
            self.real.add(step.obs, step.actions.reshape(1, -1), step.rewards, step.next_obs,
                          step.terminated, step.truncated | cut)
            if learning:
                updates = int(config.sac.updates_per_step)
                metrics = agent.train_from(self.real, updates, rng, self.synthetic,
                                           config.real_fraction)
            bar.update(1)
            if env.episodes.returns and (step.done[0] or cut) and metrics:
                self.log_train({**metrics, "model_val_mse": self.model_mse,
                                "rollout_length": self.rollout_length(),
                                "synthetic": len(self.synthetic)}, env.episodes.pop()[0])
            self.maybe_evaluate(bar)

    def refit_and_roll_out(self) -> None:
        """Refit the ensemble to the real data, then fill the model buffer with branched
        rollouts of the current policy from real states."""
        config, keys = self.config, ("model", self.env_steps)
        result = self.model.fit(self.real, self.model_optimizer, self.seeds.numpy(*keys),
                                fit_settings(config.model), progress=config.progress)
        self.model_mse = self.model.validation_mse(result)
        rng = self.seeds.numpy("rollouts", self.env_steps)
        self.dynamics.generator = self.seeds.torch("rollouts", self.env_steps)
        starts = self.real.sample(config.rollouts * config.refit_every, rng)
        uniform = RandomPolicy(self.task.action_space, self.seeds.derive("uniform",
                                                                         self.env_steps))
        first = {ActionSource.policy: None, ActionSource.buffer: starts.act,
                 ActionSource.uniform: uniform.act(starts.obs)}[config.action_source]
        policy = self.agent if first is None else FirstActions(
            first, uniform if config.action_source == ActionSource.uniform else self.agent)
        try:
            branched_rollouts(self.model_env, policy, torch.as_tensor(starts.obs),
                              self.rollout_length(), self.synthetic)
        except NonFiniteModelOutput as error:
            raise NonFiniteModelOutput(f"MBPO at env step {self.env_steps}: {error}") from None

    # ----- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "model": self.model.state_dict(),
                "model_optimizer": self.model_optimizer.state_dict(),
                "model_mse": self.model_mse}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.model.load_state_dict(state["model"])
        self.model_optimizer.load_state_dict(state["model_optimizer"])
        self.model_mse = float(state["model_mse"])

    def buffers(self) -> dict[str, ReplayBuffer]:
        return {"real": self.real, "synthetic": self.synthetic}

    def load_buffers(self, buffers: dict[str, ReplayBuffer]) -> None:
        self.real, self.synthetic = buffers["real"], buffers["synthetic"]
