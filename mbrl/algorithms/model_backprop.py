"""Backpropagation through a learned model into the policy (reference 003 Alg. 27 and §5.5.1;
the value-bootstrapped actor of SVG(H), Heess et al. 2015, and Dreamer, Hafner et al. 2020).

    first `random_steps` env steps: uniform random actions
    every F = refit_every env steps after that:
        refit the ensemble to all real data (elites by validation error)
        repeat `updates_per_refit` times:
            B real start states; one elite member for this rollout
            H steps of  a_t = pi(s_t) (reparameterised tanh-Gaussian),
                        s_t+1 = member(s_t, a_t) (reparameterised Gaussian head),
                        r_t = the task's exact reward_fn, alive_t from its termination_fn
            J = sum_t gamma^t alive_t r_t + gamma^H alive_H V(s_H)  (value_bootstrap)
            actor: gradient ascent on mean J through the whole rollout (BPTT), the gradient
                   norm clipped to `max_grad_norm` (§5.5.1: long chains explode or vanish)
            value: regress V(s_t) on the rollout's detached returns to the horizon
        act in the real env with the current stochastic policy for the next F steps

Evaluation, checkpoints, segments and logging are
:class:`~mbrl.algorithms.refitting.RefittingAgentRun`'s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from mbrl.agents.sac import SquashedGaussianActor
from mbrl.algorithms.models import DynamicsModelConfig, ModelKind
from mbrl.algorithms.refitting import RefittingAgentRun, validate_refitting
from mbrl.envs import make_task
from mbrl.nn import mlp
from mbrl.util.config import require_positive
from mbrl.util.errors import check_finite_loss


def _model() -> DynamicsModelConfig:
    return DynamicsModelConfig(kind=ModelKind.ensemble, ensemble_size=5, num_elites=5,
                               hidden_size=200, num_layers=3, max_epochs=50, patience=5)


@dataclass
class ModelBackpropConfig:
    """A policy trained by backpropagation through imagined rollouts of a learned ensemble."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir",
                                                      "video_every"})

    task: str = "Pendulum-v1"  # a registered continuous-action task (reward_fn differentiable)
    seed: int = 0  # run seed: every random draw derives from it
    total_steps: int = 3000  # real env steps
    random_steps: int = 200  # uniform random actions first (no model, no updates before)
    refit_every: int = 200  # F: real env steps between model refits and policy phases
    updates_per_refit: int = 200  # actor and value steps after each refit
    horizon: int = 15  # H: imagined steps of each rollout
    batch_size: int = 256  # real start states per rollout
    gamma: float = 0.99  # discount of the imagined rewards and the bootstrap
    value_bootstrap: bool = True  # add gamma^H V(s_H) to the rollout's return
    max_grad_norm: float | None = 10.0  # clip the actor's gradient norm (null: no clipping)
    learning_rate: float = 1e-3  # Adam step size of actor and value
    hidden: tuple[int, ...] = (64, 64)  # hidden layer widths of actor and value
    buffer_size: int = 1_000_000  # real transitions kept (the oldest go first beyond it)
    eval_every: int = 200  # env steps between deterministic evaluations
    eval_episodes: int = 10  # episodes per evaluation
    checkpoint_every: int = 1000  # env steps per segment (model_free's module docstring)
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar
    video_every: int = 0  # record an episode at every k-th evaluation to videos/ (0: never)
    model: DynamicsModelConfig = field(default_factory=_model)

    def validate(self) -> None:
        validate_refitting(self)
        if not isinstance(make_task(self.task).action_space, gym.spaces.Box):
            raise ValueError(f"backprop through the model needs continuous actions; "
                             f"{self.task} has {make_task(self.task).action_space}")
        require_positive(self, "updates_per_refit", "horizon", "batch_size", "buffer_size")
        if not 0.0 <= self.gamma <= 1.0 or self.learning_rate <= 0:
            raise ValueError(f"need gamma in [0, 1] and learning_rate > 0, got {self.gamma}, "
                             f"{self.learning_rate}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"max_grad_norm must be > 0 or null, got {self.max_grad_norm}")


class PathwiseAgent:
    """The policy (tanh-Gaussian, reparameterised) and the state value it bootstraps with."""

    def __init__(self, observation_space: gym.spaces.Box, action_space: gym.spaces.Box,
                 config: ModelBackpropConfig, generator: torch.Generator) -> None:
        obs_dim = int(np.prod(observation_space.shape))
        self.actor = SquashedGaussianActor(obs_dim, action_space, tuple(config.hidden), "tanh")
        self.value = mlp([obs_dim, *config.hidden, 1], "tanh")
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.learning_rate)
        self.value_optimizer = torch.optim.Adam(self.value.parameters(), lr=config.learning_rate)
        self.generator = generator

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """The policy protocol: ``obs [S] or [N, S]`` -> env actions."""
        single = np.ndim(obs) == 1
        batch = torch.as_tensor(np.atleast_2d(obs), dtype=torch.float32)
        actions = (self.actor.deterministic(batch) if deterministic
                   else self.actor.sample(batch, self.generator)[0]).numpy()
        return actions[0] if single else actions

    def state_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.state_dict(), "value": self.value.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "value_optimizer": self.value_optimizer.state_dict(),
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in ("actor", "value", "actor_optimizer", "value_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.generator.set_state(state["generator"])


def imagined_return(actor: nn.Module, step: Any, reward_fn: Any, termination_fn: Any,
                    value: nn.Module | None, starts: Tensor, horizon: int, gamma: float,
                    generator: torch.Generator
                    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor]:
    """Differentiable ``J [B]`` of ``horizon`` imagined steps from ``starts [B, S]``, with
    ``step(s, a) -> s'`` a reparameterised model step; also the ``H + 1`` visited states, the
    rewards ``[H, B]`` (zero once terminated) and whether each row is alive at the end
    ``[B]`` (for the value's targets)."""
    states, rewards, alive, s = [], [], torch.ones(len(starts)), starts
    for _ in range(horizon):
        action, _ = actor.sample(s, generator)
        s_next = step(s, action)
        states.append(s)
        rewards.append(alive * reward_fn(s, action, s_next))
        alive = alive * (~termination_fn(s_next)).float()
        s = s_next
    discounts = gamma ** torch.arange(horizon, dtype=torch.float32)[:, None]
    total = (discounts * torch.stack(rewards)).sum(0)
    if value is not None:
        total = total + gamma ** horizon * alive * value(s).squeeze(-1)
    return total, [*states, s], torch.stack(rewards), alive


class ModelBackpropRun(RefittingAgentRun):
    """One run of the module docstring's loop; ``train()`` continues from wherever it stopped."""

    config_class = ModelBackpropConfig

    def build_agent(self) -> PathwiseAgent:
        return PathwiseAgent(self.task.observation_space, self.task.action_space, self.config,
                             self.generator)

    def label(self) -> str:
        return "model-backprop"

    def model_phase(self) -> None:
        """``updates_per_refit`` actor and value steps on imagined rollouts."""
        config, agent, task = self.config, self.agent, self.task
        rng = self.seeds.numpy("starts", self.env_steps)
        generator = self.seeds.torch("imagination", self.env_steps)
        elites = self.model.elite_members()
        self.model.requires_grad_(False)  # gradients flow through the model, not into it
        try:
            for update in range(config.updates_per_refit):
                member = elites[int(rng.integers(len(elites)))]
                starts = torch.as_tensor(self.real.sample(config.batch_size, rng).obs)
                total, states, rewards, alive = imagined_return(
                    agent.actor, lambda s, a, m=member: self.model.sample_next(m, s, a,
                                                                               generator),
                    task.reward_fn, task.termination_fn,
                    agent.value if config.value_bootstrap else None, starts, config.horizon,
                    config.gamma, generator)
                actor_loss = -total.mean()
                where = f"env step {self.env_steps}, update {update}"
                check_finite_loss("model backprop actor", where, actor_loss.item(), math.nan)
                agent.actor_optimizer.zero_grad(set_to_none=True)
                actor_loss.backward()
                grad_norm = float(torch.nn.utils.get_total_norm(
                    [p.grad for p in agent.actor.parameters() if p.grad is not None]))
                if config.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(agent.actor.parameters(),
                                                   config.max_grad_norm)
                agent.actor_optimizer.step()
                value_loss = self.value_step(states, rewards.detach(), alive)
        finally:
            self.model.requires_grad_(True)
        self.phase_metrics = {"actor_loss": actor_loss.item(), "value_loss": value_loss,
                              "actor_grad_norm": grad_norm, "imagined_return":
                              total.detach().mean().item()}

    def value_step(self, states: list[Tensor], rewards: Tensor, alive: Tensor) -> float:
        """Regress ``V(s_t)`` on the discounted rewards to the horizon plus the discounted
        (detached) value there, for every step ``t`` of the rollout."""
        config, agent = self.config, self.agent
        with torch.no_grad():
            target = alive * agent.value(states[-1]).squeeze(-1)
            targets = []
            for reward in rewards.flip(0):
                target = reward + config.gamma * target
                targets.append(target)
            targets = torch.stack(targets[::-1])  # [H, B]
        predicted = agent.value(torch.stack(states[:-1]).detach()).squeeze(-1)
        loss = 0.5 * (predicted - targets).square().mean()
        agent.value_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        agent.value_optimizer.step()
        return loss.item()
