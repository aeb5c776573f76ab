"""Model-based PPO: ME-TRPO (Kurutach et al. 2018) with PPO, A2C or REINFORCE in place of TRPO
(reference 003 §5.6, Alg. 29 with an on-policy learner).

The policy learns only from imagined rollouts through the learned ensemble; real data serves to
fit the model and to start the imagination:

    first `random_steps` env steps: uniform random actions
    every F = refit_every env steps after that:
        refit the ensemble to all real data (elites by validation error)
        draw `validation_starts` real states; score the policy on every elite member alone
        (deterministic actions, the member's mean prediction, `validation_horizon` steps)
        repeat at most `max_updates` times:
            one on-policy update on an imagined rollout [steps_per_env, num_envs] from real
            start states, a random elite per row and model step, the task's reward and
            termination (an ended row restarts from another real state)
            every `validate_every` updates: score again; stop once fewer than
            `validation_threshold` of the members see a higher return than at the last check
        act in the real env with the current stochastic policy for the next F steps

The stopping rule is ME-TRPO's policy validation: improvement that only some members agree on
is exploitation of model error, so more real data is collected instead. Evaluation,
checkpoints, segments and logging are :class:`~mbrl.algorithms.refitting.RefittingAgentRun`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from mbrl.agents.a2c import A2CConfig
from mbrl.agents.onpolicy import OnPolicyAgent, RolloutCollector
from mbrl.agents.ppo import PPOConfig
from mbrl.agents.reinforce import ReinforceConfig
from mbrl.algorithms.model_free import ON_POLICY_AGENTS, Algo, actor_critic
from mbrl.algorithms.models import DynamicsModelConfig, ModelKind
from mbrl.algorithms.refitting import RefittingAgentRun, validate_refitting
from mbrl.models import ModelEnv, imagined_rollout
from mbrl.util.config import require_positive
from planners import NonFiniteModelOutput


def _model() -> DynamicsModelConfig:
    return DynamicsModelConfig(kind=ModelKind.ensemble, ensemble_size=7, num_elites=5,
                               hidden_size=200, num_layers=4, max_epochs=50, patience=5)


def _ppo() -> PPOConfig:
    return PPOConfig(steps_per_env=32, batch_size=1024, epochs=5, normalize_observations=True)


@dataclass
class ModelBasedPPOConfig:
    """An on-policy agent trained on imagined rollouts, stopped by policy validation."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir",
                                                      "video_every"})

    algo: Algo = Algo.ppo  # ppo | a2c | reinforce: its settings are the sub-config of that name
    task: str = "InvertedPendulum-v5"  # a registered task (its reward_fn scores imagination)
    seed: int = 0  # run seed: every random draw derives from it
    total_steps: int = 10_000  # real env steps
    random_steps: int = 500  # uniform random actions first (no model, no updates before)
    refit_every: int = 500  # F: real env steps between model refits and improvement phases
    num_envs: int = 256  # imagined rows per rollout (the agent's steps_per_env steps each)
    max_updates: int = 50  # policy updates per improvement phase at most
    validate_every: int = 5  # updates between policy validations
    validation_threshold: float = 0.7  # keep improving while this share of members improves
    validation_starts: int = 64  # real start states of the validation rollouts
    validation_horizon: int = 100  # model steps of each validation rollout
    buffer_size: int = 1_000_000  # real transitions kept (the oldest go first beyond it)
    max_model_steps: int = 1000  # an imagined episode is cut (truncated) after this many steps
    eval_every: int = 500  # env steps between deterministic evaluations
    eval_episodes: int = 10  # episodes per evaluation
    checkpoint_every: int = 1000  # env steps per segment (model_free's module docstring)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar
    video_every: int = 0  # record an episode at every k-th evaluation to videos/ (0: never)
    model: DynamicsModelConfig = field(default_factory=_model)
    reinforce: ReinforceConfig = field(default_factory=ReinforceConfig)
    a2c: A2CConfig = field(default_factory=A2CConfig)
    ppo: PPOConfig = field(default_factory=_ppo)

    def __post_init__(self) -> None:
        self.algo = Algo(self.algo)

    def validate(self) -> None:
        validate_refitting(self)
        if self.algo == Algo.sac:
            raise ValueError("model-based PPO trains an on-policy agent: algo=ppo, a2c or "
                             "reinforce (SAC on model rollouts is MBPO: mbrl train mbpo)")
        require_positive(self, "buffer_size", "num_envs", "max_updates", "validate_every",
                         "validation_starts", "validation_horizon", "max_model_steps")
        if not 0.0 <= self.validation_threshold <= 1.0:
            raise ValueError(f"validation_threshold must be in [0, 1], got "
                             f"{self.validation_threshold}")
        self.agent_config.validate()

    @property
    def agent_config(self) -> ReinforceConfig | A2CConfig | PPOConfig:
        return getattr(self, self.algo.value)


class ModelBasedPPORun(RefittingAgentRun):
    """One model-based on-policy run; ``train()`` continues from wherever it stopped."""

    config_class = ModelBasedPPOConfig

    def __init__(self, config: ModelBasedPPOConfig) -> None:
        super().__init__(config)
        task = self.task
        self.restart_rng = np.random.default_rng(0)  # reseeded before each improvement phase
        self.model_env = ModelEnv(self.dynamics, task.reward_fn, task.termination_fn,
                                  restart=self.real_states, max_steps=config.max_model_steps)
        self.collector = RolloutCollector(self.model_env, self.agent.policy, self.generator)

    def build_agent(self) -> OnPolicyAgent:
        config = self.config
        return ON_POLICY_AGENTS[config.algo](actor_critic(self.task, config.agent_config),
                                             config, self.generator)

    def label(self) -> str:
        return f"mb-{self.config.algo.value}"

    def real_states(self, count: int) -> Tensor:
        """``count`` observations ``[count, S]`` drawn from the real buffer."""
        return torch.as_tensor(self.real.sample(count, self.restart_rng).obs)

    # ----- learning from the model ---------------------------------------------------------
    def model_phase(self) -> None:
        """Improve the policy on imagined rollouts until policy validation says stop."""
        config, agent = self.config, self.agent
        self.restart_rng = self.seeds.numpy("restarts", self.env_steps)
        self.dynamics.generator = self.seeds.torch("imagination", self.env_steps)
        validation_starts = self.real_states(config.validation_starts)
        reference = self.validation_returns(validation_starts)  # [E], at the last check
        improved, metrics = 1.0, {}
        for update in range(1, config.max_updates + 1):
            agent.begin_update(self.env_steps / config.total_steps)
            try:
                rollout = imagined_rollout(self.collector, self.real_states(config.num_envs),
                                           config.agent_config.steps_per_env)
            except NonFiniteModelOutput as error:
                raise NonFiniteModelOutput(f"model-based {config.algo.value} at env step "
                                           f"{self.env_steps}, update {update}: {error}"
                                           ) from None
            metrics = agent.update(rollout)
            agent.after_update(rollout)
            if update % config.validate_every == 0:
                returns = self.validation_returns(validation_starts)
                improved = float((returns > reference).double().mean())
                if improved < config.validation_threshold:
                    break
                reference = returns
        self.phase_metrics = {**metrics, "policy_updates": update, "improved_fraction": improved,
                              "validation_return": float(reference.mean())}

    @torch.no_grad()
    def validation_returns(self, starts: Tensor) -> Tensor:
        """Mean return ``[E]`` of the deterministic policy under each elite member alone (its
        mean prediction), ``validation_horizon`` steps from every row of ``starts [N, S]``."""
        task, returns = self.task, []
        for member in self.model.elite_members():
            env = ModelEnv(lambda s, a, m=member: self.model.sample_next(m, s, a, None),
                           task.reward_fn, task.termination_fn)
            env.reset(starts)
            total = torch.zeros(len(starts), dtype=torch.float64)
            for _ in range(self.config.validation_horizon):
                step = env.step(self.agent.act(env.obs.numpy(), deterministic=True))
                total += step.rewards.double()
            returns.append(total.mean())
        return torch.stack(returns)
