"""The real-data loop that MBPO, general Dyna and model-based PPO share: an agent acts in one
real env, a learned ensemble is refitted to the real buffer every F env steps, and after each
refit the algorithm learns from the model (its :meth:`RefittingAgentRun.model_phase`):

    first `random_steps` env steps: uniform random actions into the real buffer
    every env step after that:
        every F = refit_every steps: refit the ensemble (elites by validation error), then
                                     the algorithm's model phase
        act in the env with the agent, store the transition in the real buffer
        the algorithm's per-step learning (MBPO: G SAC updates; model-based PPO: none)

Evaluation, checkpoints at segment boundaries, identical resumption and train logging are the
model-free runs' (:mod:`mbrl.algorithms.model_free`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from mbrl.algorithms.model_free import AgentRun
from mbrl.algorithms.models import ModelKind, build_dynamics_model, fit_settings
from mbrl.data import EnvStepper, ReplayBuffer
from mbrl.envs import make_task
from mbrl.policies import RandomPolicy
from mbrl.util.config import require_positive


def validate_refitting(config: Any) -> None:
    """The settings every refitting run has (``random_steps``, ``refit_every``, ``model``):
    refused with the field's name before a run folder exists."""
    make_task(config.task)
    require_positive(config, "total_steps", "refit_every", "eval_every",
                     "eval_episodes", "checkpoint_every")
    if config.random_steps < 2:
        raise ValueError(f"random_steps must be >= 2 (the model needs data), got "
                         f"{config.random_steps}")
    if config.video_every < 0:
        raise ValueError(f"video_every must be >= 0, got {config.video_every}")
    if config.model.kind != ModelKind.ensemble:
        raise ValueError("the model rollouts go through a probabilistic ensemble: "
                         "model.kind=ensemble")
    config.model.validate()


class RefittingAgentRun(AgentRun):
    """The loop of the module docstring. Subclasses build ``self.agent`` in :meth:`build_agent`
    and implement :meth:`model_phase`; :meth:`learn_after_step` and :meth:`real_capacity` have
    defaults. ``self.dynamics`` steps a random elite per row and model step."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        task = self.task
        self.agent = self.build_agent()
        self.model = build_dynamics_model(config.model, task)
        self.model.eval()
        self.model_optimizer = torch.optim.Adam(self.model.parameters(),
                                                lr=config.model.learning_rate, fused=True)
        self.dynamics = self.model.planning_dynamics(1, "ts1")
        self.env = EnvStepper(task.make_env())
        self.real = ReplayBuffer(self.real_capacity(), task.obs_dim, task.act_dim)
        self.model_mse = math.nan
        self.phase_metrics: dict[str, float] = {}  # of the last model phase, for train.csv

    @classmethod
    def for_config(cls, config: Any) -> type[RefittingAgentRun]:
        return cls

    # ----- what an algorithm provides ------------------------------------------------------
    def build_agent(self) -> Any:
        raise NotImplementedError

    def model_phase(self) -> None:
        """Learn from the freshly refitted model (called right after each refit)."""
        raise NotImplementedError

    def learn_after_step(self, rng: np.random.Generator) -> dict[str, float]:
        """Learning after each env step once past ``random_steps``; the metrics to log
        (default: none, and the last model phase's :attr:`phase_metrics`)."""
        return self.phase_metrics

    def train_metrics(self) -> dict[str, float]:
        """Extra columns of each train.csv row (after the agent's metrics)."""
        return {"model_val_mse": self.model_mse}

    def real_capacity(self) -> int:
        """Transitions the real buffer holds (default: ``config.buffer_size``; never sized by
        ``total_steps``, which a resume may extend)."""
        return self.config.buffer_size

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
                self.refit_model()
                self.model_phase()
            step = env.step((agent if learning else explore).act(env.obs))
            self.env_steps += 1
            cut = self.env_steps == end and not step.done[0]
            self.real.add(step.obs, step.actions.reshape(1, -1), step.rewards, step.next_obs,
                          step.terminated, step.truncated | cut)
            if learning:
                metrics = self.learn_after_step(rng)
            bar.update(1)
            if env.episodes.returns and (step.done[0] or cut) and metrics:
                self.log_train({**metrics, **self.train_metrics()}, env.episodes.pop()[0])
            self.maybe_evaluate(bar)

    def refit_model(self) -> None:
        """Refit the ensemble to the real buffer; its validation MSE goes to the train log."""
        result = self.model.fit(self.real, self.model_optimizer,
                                self.seeds.numpy("model", self.env_steps),
                                fit_settings(self.config.model), progress=self.config.progress)
        self.model_mse = self.model.validation_mse(result)

    # ----- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "model": self.model.state_dict(),
                "model_optimizer": self.model_optimizer.state_dict(),
                "model_mse": self.model_mse, "phase_metrics": self.phase_metrics}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.model.load_state_dict(state["model"])
        self.model_optimizer.load_state_dict(state["model_optimizer"])
        self.model_mse = float(state["model_mse"])
        self.phase_metrics = {k: float(v) for k, v in state.get("phase_metrics", {}).items()}

    def buffers(self) -> dict[str, ReplayBuffer]:
        return {"real": self.real}

    def load_buffers(self, buffers: dict[str, ReplayBuffer]) -> None:
        self.real = buffers["real"]

