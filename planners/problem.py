"""The planning problem and its solution, and batched evaluation of action sequences.

A model step takes ``states [B, S]`` and ``actions [B, A]`` and returns ``next_states [B, S]``;
any torch callable qualifies: an analytic model, a simulator wrapper or a learned ensemble.
Evaluating ``N`` action sequences over ``P`` particles is one model call per time step on
``B = N * P`` rows, laid out candidate-major (row ``n * P + p`` is particle ``p`` of candidate
``n``), so a model that keeps per-particle state (e.g. a fixed ensemble member) can rely on it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

Dynamics = Callable[[Tensor, Tensor], Tensor]
RewardFn = Callable[[Tensor, Tensor, Tensor], Tensor]
TerminationFn = Callable[[Tensor], Tensor]
ValueFn = Callable[[Tensor], Tensor]


class NonFiniteModelOutput(FloatingPointError):
    """The dynamics, reward or value function returned NaN or Inf during planning."""


@dataclass
class Problem:
    """Everything a planner needs: ``dynamics(states [B, S], actions [B, A]) -> [B, S]``,
    ``reward_fn(obs, act, next_obs) -> [B]``, optional ``termination_fn(next_obs) -> [B] bool``,
    action bounds ``[A]``, ``horizon`` H, ``num_particles`` P, ``discount`` and an optional
    ``terminal_value(states [B, S]) -> [B]`` added (discounted) at the end of the horizon."""

    dynamics: Dynamics
    reward_fn: RewardFn
    action_low: Tensor
    action_high: Tensor
    horizon: int
    termination_fn: TerminationFn | None = None
    terminal_value: ValueFn | None = None
    num_particles: int = 1
    discount: float = 1.0

    def __post_init__(self) -> None:
        low = torch.as_tensor(self.action_low)
        dtype = low.dtype if low.is_floating_point() else torch.get_default_dtype()
        self.action_low = low.to(dtype)
        self.action_high = torch.as_tensor(self.action_high, dtype=dtype)
        if self.action_low.ndim != 1 or self.action_low.shape != self.action_high.shape:
            raise ValueError("action_low and action_high must both be [A]; got shapes "
                             f"{tuple(self.action_low.shape)} and {tuple(self.action_high.shape)}")
        if not torch.isfinite(self.action_low).all() or not torch.isfinite(self.action_high).all():
            raise ValueError("action bounds must be finite")
        if not (self.action_low < self.action_high).all():
            raise ValueError(f"need action_low < action_high elementwise, got {self.action_low} "
                             f"and {self.action_high}")
        if int(self.horizon) != self.horizon or self.horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {self.horizon!r}")
        if int(self.num_particles) != self.num_particles or self.num_particles < 1:
            raise ValueError(
                f"num_particles must be a positive integer, got {self.num_particles!r}")
        if not 0.0 < self.discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {self.discount}")

    @property
    def action_dim(self) -> int:
        return self.action_low.shape[0]

    def clip_actions(self, actions: Tensor) -> Tensor:
        """Clamp ``actions [..., A]`` into the bounds."""
        return torch.clamp(actions, self.action_low, self.action_high)

    def check_state(self, state: Tensor) -> Tensor:
        """Validate a single state ``[S]`` and return it as a float tensor."""
        state = torch.as_tensor(state, dtype=self.action_low.dtype)
        if state.ndim != 1:
            raise ValueError(f"state must be a single state [S], got shape {tuple(state.shape)}")
        if not torch.isfinite(state).all():
            raise ValueError(f"state contains NaN or Inf: {state}")
        return state

    def check_action_sequences(self, actions: Tensor) -> None:
        expected = (self.horizon, self.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(f"action sequences must be [N, {expected[0]}, {expected[1]}] "
                             f"(candidates, horizon, action dim), got {tuple(actions.shape)}")

    def evaluate(self, state: Tensor, actions: Tensor) -> Tensor:
        """Expected return ``[N]`` of action sequences ``[N, H, A]`` from ``state [S]``, averaged
        over P particles. A particle stops accruing reward after a terminating step."""
        state = self.check_state(state)
        self.check_action_sequences(actions)
        num_candidates, num_particles = actions.shape[0], self.num_particles
        rows = num_candidates * num_particles
        states = state.expand(rows, -1)
        per_row_actions = actions.repeat_interleave(num_particles, dim=0)  # [N*P, H, A]
        total = torch.zeros(rows, dtype=state.dtype)
        alive = torch.ones(rows, dtype=torch.bool)
        weight = 1.0
        for t in range(self.horizon):
            step_actions = per_row_actions[:, t]
            next_states = self.dynamics(states, step_actions)
            _check_output("dynamics", next_states, (rows, state.shape[0]), t)
            rewards = self.reward_fn(states, step_actions, next_states)
            _check_output("reward_fn", rewards, (rows,), t)
            total = total + weight * torch.where(alive, rewards, 0.0)
            if self.termination_fn is not None:
                alive = alive & ~self.termination_fn(next_states)
            states, weight = next_states, weight * self.discount
        if self.terminal_value is not None:
            values = self.terminal_value(states)
            _check_output("terminal_value", values, (rows,), self.horizon)
            total = total + weight * torch.where(alive, values, 0.0)
        return total.view(num_candidates, num_particles).mean(dim=1)


def _check_output(name: str, value: Tensor, shape: tuple[int, ...], step: int) -> None:
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} returned shape {tuple(value.shape)} at step {step}, "
                         f"expected {shape}")
    bad = ~torch.isfinite(value)
    if bad.any():
        rows = bad.view(shape[0], -1).any(dim=1).sum().item()
        raise NonFiniteModelOutput(f"{name} returned NaN/Inf for {rows} of {shape[0]} rows at "
                                   f"planning step {step}; refusing to plan through it")


@dataclass
class Plan:
    """A planner's answer: ``actions [H, A]``, their ``expected_return`` and diagnostics."""

    actions: Tensor
    expected_return: float
    diagnostics: dict[str, Any] = field(default_factory=dict)


class Planner:
    """Base class: ``plan(state [S], problem, warm_start [H, A] | None) -> Plan``."""

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        raise NotImplementedError


def check_warm_start(warm_start: Tensor | None, problem: Problem) -> Tensor | None:
    """Validate a warm start ``[H, A]`` against ``problem`` (``None`` passes through)."""
    if warm_start is None:
        return None
    warm_start = torch.as_tensor(warm_start, dtype=problem.action_low.dtype)
    expected = (problem.horizon, problem.action_dim)
    if tuple(warm_start.shape) != expected:
        raise ValueError(f"warm_start must be {list(expected)}, got {list(warm_start.shape)}")
    return warm_start
