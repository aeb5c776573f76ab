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

The model buffer holds ``model_retain`` refits' worth of rollouts. The real-data loop, refits,
evaluation, checkpoints and logging are :class:`~mbrl.algorithms.refitting.RefittingAgentRun`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar

import numpy as np
import torch

from mbrl.agents.sac import SAC, SACConfig
from mbrl.algorithms.models import DynamicsModelConfig, ModelKind
from mbrl.algorithms.refitting import RefittingAgentRun, validate_refitting
from mbrl.data import ReplayBuffer
from mbrl.envs import make_task
from mbrl.models import ModelEnv, branched_rollouts
from mbrl.policies import RandomPolicy
from mbrl.util.config import require_positive
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
        validate_refitting(self)
        require_positive(self, "rollouts", "min_length", "max_length", "model_retain")
        if self.max_length < self.min_length or self.schedule_end <= self.schedule_start:
            raise ValueError("need min_length <= max_length and schedule_start < schedule_end")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {self.real_fraction}")
        task = make_task(self.task)
        if task.termination_fn is None:
            raise ValueError(f"MBPO needs the task's termination_fn; {task.name} has none")
        self.sac.validate()


class MBPORun(RefittingAgentRun):
    """One MBPO run; ``train()`` continues from wherever it stopped."""

    config_class = MBPOConfig

    def __init__(self, config: MBPOConfig) -> None:
        super().__init__(config)
        task = self.task
        self.model_env = ModelEnv(self.dynamics, task.reward_fn, task.termination_fn)
        self.synthetic = ReplayBuffer(self.model_capacity(), task.obs_dim, task.act_dim)

    def build_agent(self) -> SAC:
        return SAC(self.task.observation_space, self.task.action_space, self.config.sac,
                   self.generator, self.task.reward_only_dims)

    def real_capacity(self) -> int:
        return self.config.sac.buffer_size

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

    # ----- learning from the model ---------------------------------------------------------
    def learn_after_step(self, rng: np.random.Generator) -> dict[str, float]:
        config = self.config
        return self.agent.train_from(self.real, int(config.sac.updates_per_step), rng,
                                     self.synthetic, config.real_fraction)

    def train_metrics(self) -> dict[str, float]:
        return {"model_val_mse": self.model_mse, "rollout_length": self.rollout_length(),
                "synthetic": len(self.synthetic)}

    def model_phase(self) -> None:
        """Fill the model buffer with branched rollouts of the current policy from real
        states."""
        config = self.config
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
    def buffers(self) -> dict[str, ReplayBuffer]:
        return {**super().buffers(), "synthetic": self.synthetic}

    def load_buffers(self, buffers: dict[str, ReplayBuffer]) -> None:
        super().load_buffers(buffers)
        self.synthetic = buffers["synthetic"]
