"""The planning problem and its solution, and batched evaluation of action sequences.

A model step takes ``states [B, S]`` and ``actions [B, A]`` and returns ``next_states [B, S]``;
any torch callable qualifies: an analytic model, a simulator wrapper or a learned ensemble.
Evaluating ``N`` action sequences over ``P`` particles is one model call per time step on
``B = N * P`` rows, laid out candidate-major (row ``n * P + p`` is particle ``p`` of candidate
``n``), so a model that keeps per-particle state (e.g. a fixed ensemble member) can rely on it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

Dynamics = Callable[[Tensor, Tensor], Tensor]
RewardFn = Callable[[Tensor, Tensor, Tensor], Tensor]
TerminationFn = Callable[[Tensor], Tensor]
ValueFn = Callable[[Tensor], Tensor]
ProposalFn = Callable[[Tensor], Tensor]


class NonFiniteModelOutput(FloatingPointError):
    """The dynamics, reward or value function returned NaN or Inf during planning."""


@dataclass
class Problem:
    """Everything a planner needs: ``dynamics(states [B, S], actions [B, A]) -> [B, S]``,
    ``reward_fn(obs, act, next_obs) -> [B]`` (floating point), optional
    ``termination_fn(next_obs) -> [B] bool``, action bounds ``[A]``, ``horizon`` H,
    ``num_particles`` P, ``discount`` and an optional ``terminal_value(states [B, S]) -> [B]``
    added (discounted) at the end of the horizon.

    **The objective.** With rewards ``r_t`` and ``gamma = discount``, a row (one particle of one
    candidate) that survives all H steps scores

        sum_{t<H} gamma^t r_t  +  gamma^H terminal_value(s_H)

    and a row whose step ``tau`` (0-based) reaches a terminal state ``s_{tau+1}`` scores

        sum_{t<=tau} gamma^t r_t  -  gamma^tau termination_penalty
                                  +  gamma^(tau+1) termination_value(s_{tau+1})

    i.e. the terminating step's reward counts, nothing after it does, and the absorbing state
    after termination is worth ``termination_value`` (0 when None: the standard episodic MDP)
    where a surviving row gets ``terminal_value``. By default (no penalty, no terminal value)
    terminating at the last planned step therefore scores the same as surviving it, so a
    receding-horizon controller can drift towards "terminate just beyond the horizon", one step
    closer every replan. The standard remedies: a ``termination_penalty`` (e.g. the reward the
    row would have collected alive; a reward of ``-termination_penalty`` at the terminating
    step), or a ``terminal_value`` for the survivors (a critic: terminated rows get
    ``termination_value``, 0 by default, instead), or an explicit ``termination_value``.

    **State size.** ``state_dim`` (optional) is S: states of another size are rejected before
    they reach the dynamics. Without it, the first evaluation whose dynamics returned next
    states of the state's own size fixes S for this problem, and later states of another size
    are rejected the same way.

    **Proposals.** ``proposals(state [S]) -> [K, H, A]`` (optional) supplies action sequences
    of the user's choosing, e.g. a learned policy rolled through the model (the policy prior of
    TD-MPC, Hansen, Wang and Su 2022): every population planner evaluates them beside its own
    samples in each iteration of a plan, so they compete for the elites (CEM, iCEM, categorical
    CEM), the importance weights (MPPI) or the best (random shooting). They are drawn once per
    ``plan`` call and checked like a warm start (shape, finite, inside the bounds).

    **Discrete actions.** With ``num_actions`` K (build it with :meth:`Problem.discrete`) an
    action is an index in ``0 .. K-1``, a float ``[B, 1]`` column for the dynamics and the
    reward, with bounds ``[0]`` and ``[K-1]``; ``CategoricalCEM``, ``RandomShooting`` and MPC
    plan it, the continuous planners refuse it.

    ``compile=True`` runs the whole evaluation (H model steps, rewards, terminations) through
    ``torch.compile`` as one fused program: for small analytic or learned torch models, where
    per-op overhead dominates, it is several times faster, after a one-off compilation of
    seconds per batch shape. Models with a ``rollout`` method (simulators) are not compiled.
    """

    dynamics: Dynamics
    reward_fn: RewardFn
    action_low: Tensor
    action_high: Tensor
    horizon: int
    termination_fn: TerminationFn | None = None
    terminal_value: ValueFn | None = None
    num_particles: int = 1
    discount: float = 1.0
    compile: bool = False
    termination_penalty: float = 0.0
    termination_value: ValueFn | None = None
    state_dim: int | None = None
    num_actions: int | None = None
    proposals: ProposalFn | None = None

    @classmethod
    def discrete(cls, dynamics: Dynamics, reward_fn: RewardFn, num_actions: int, horizon: int,
                 **settings: Any) -> Problem:
        """A problem over ``num_actions`` discrete choices: an action is the index ``k`` in
        ``0 .. K-1``, given to the dynamics and the reward as a float ``[B, 1]`` column (how a
        model learned from a ``Discrete`` env's transitions sees it)."""
        _check_num_actions(num_actions)
        return cls(dynamics, reward_fn, torch.tensor([0.0]), torch.tensor([num_actions - 1.0]),
                   horizon, num_actions=num_actions, **settings)

    def __post_init__(self) -> None:
        self._compiled_score: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None
        self._known_state_dim: int | None = None  # S, once the dynamics has confirmed it
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
        try:
            penalty = float(self.termination_penalty)
        except (TypeError, ValueError):
            penalty = math.nan
        if not math.isfinite(penalty):
            raise ValueError("termination_penalty must be a finite number (a reward of "
                             f"-termination_penalty at the terminating step), got "
                             f"{self.termination_penalty!r}")
        self.termination_penalty = penalty
        if self.termination_value is not None and not callable(self.termination_value):
            raise TypeError("termination_value must be a callable states [B, S] -> [B] (the value "
                            f"of the state a row terminates in), got "
                            f"{type(self.termination_value).__name__}")
        if self.num_actions is not None:
            self.num_actions = _check_num_actions(self.num_actions)
            if self.action_low.tolist() != [0.0] or self.action_high.tolist() != [
                    self.num_actions - 1.0]:
                raise ValueError("a discrete problem's actions are indices: action_low [0] and "
                                 f"action_high [num_actions - 1 = {self.num_actions - 1}] "
                                 "(Problem.discrete sets them)")
        if self.proposals is not None and not callable(self.proposals):
            raise TypeError("proposals must be a callable state [S] -> action sequences "
                            f"[K, H, A], got {type(self.proposals).__name__}")
        if self.state_dim is not None:
            if isinstance(self.state_dim, bool) or int(self.state_dim) != self.state_dim \
                    or self.state_dim < 1:
                raise ValueError(f"state_dim must be a positive integer, got {self.state_dim!r}")
            self.state_dim = int(self.state_dim)

    @property
    def action_dim(self) -> int:
        return self.action_low.shape[0]

    @property
    def is_discrete(self) -> bool:
        return self.num_actions is not None

    def require_continuous(self, planner: str) -> None:
        """Refuse a discrete problem in a planner of continuous actions, naming those that
        plan discrete ones."""
        if self.is_discrete:
            raise ValueError(f"{planner} plans continuous actions; this problem has "
                             f"{self.num_actions} discrete ones: use CategoricalCEM, "
                             "RandomShooting or MCTS")

    def clip_actions(self, actions: Tensor) -> Tensor:
        """Clamp ``actions [..., A]`` into the bounds."""
        return torch.clamp(actions, self.action_low, self.action_high)

    def check_state(self, state: Tensor) -> Tensor:
        """Validate a single state ``[S]`` and return it as a float tensor: one dimension, of
        size ``state_dim`` (or the size the dynamics confirmed earlier), all finite."""
        state = torch.as_tensor(state, dtype=self.action_low.dtype)
        if state.ndim != 1:
            raise ValueError(f"state must be a single state [S], got shape {tuple(state.shape)}")
        expected, source = self.state_dim, "Problem(state_dim=...)"
        if expected is None:
            expected, source = self._known_state_dim, "the size the dynamics accepted earlier"
        if expected is not None and state.shape[0] != expected:
            raise ValueError(f"state must be [S] with S = {expected} ({source}), got shape "
                             f"{tuple(state.shape)}")
        if not torch.isfinite(state).all():
            raise ValueError(f"state contains NaN or Inf: {state}")
        return state

    def _confirm_state_dim(self, state_dim: int) -> None:
        """The dynamics returned next states of the states' own size ``state_dim``."""
        if self._known_state_dim is None and not torch.compiler.is_compiling():
            self._known_state_dim = int(state_dim)

    def check_action_sequences(self, actions: Tensor) -> None:
        expected = (self.horizon, self.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(f"action sequences must be [N, {expected[0]}, {expected[1]}] "
                             f"(candidates, horizon, action dim), got {tuple(actions.shape)}")

    def proposed(self, state: Tensor) -> Tensor | None:
        """The ``proposals`` for ``state [S]`` as ``[K, H, A]``, checked (None without them)."""
        if self.proposals is None:
            return None
        with torch.no_grad():
            sequences = torch.as_tensor(self.proposals(self.check_state(state)))
        return check_sequences(sequences, self, "proposals")

    def evaluate(self, state: Tensor, actions: Tensor) -> Tensor:
        """Expected return ``[N]`` of action sequences ``[N, H, A]`` from ``state [S]``, averaged
        over P particles. A particle stops accruing reward after a terminating step.

        The model is stepped H times on all ``N * P`` rows (or called once if it offers
        ``rollout``); reward and termination are then evaluated in one call each over all
        ``N * P * H`` transitions. NaN/Inf anywhere raises :class:`NonFiniteModelOutput` naming
        the function and planning step that produced it.
        """
        state = self.check_state(state)
        self.check_action_sequences(actions)
        num_candidates, num_particles = actions.shape[0], self.num_particles
        states = state.expand(num_candidates * num_particles, -1)
        per_row_actions = actions if num_particles == 1 else \
            actions.repeat_interleave(num_particles, dim=0)  # [N*P, H, A]
        total, finite = self._scorer()(states, per_row_actions)
        if not bool(finite):
            self._locate_non_finite(states, per_row_actions)
        self._confirm_state_dim(state.shape[0])
        if num_particles == 1:
            return total
        return total.view(num_candidates, num_particles).mean(dim=1)

    def _scorer(self) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
        if not self.compile or hasattr(self.dynamics, "rollout"):
            return self._score
        if self._compiled_score is None:
            self._compiled_score = torch.compile(self._score, dynamic=False)
        return self._compiled_score

    def _score(self, states: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """Discounted returns ``[B]`` of ``actions [B, H, A]`` from ``states [B, S]``, and
        whether every model output was finite (a 0-d bool tensor: one sync for the caller)."""
        return self.returns(states, actions, self.rollout(states, actions))

    def returns(self, states: Tensor, actions: Tensor, next_states: Tensor,
                use_termination: bool = True) -> tuple[Tensor, Tensor]:
        """Discounted returns ``[B]`` of the transitions from ``states [B, S]`` under ``actions
        [B, H, A]`` to ``next_states [B, H, S]`` (the objective in the class docstring: terminal
        value for survivors, termination penalty and value for terminated rows), and whether the
        states, rewards and values were all finite (a 0-d bool tensor). A row stops accruing
        reward after a terminating step unless ``use_termination=False`` (iLQR: its objective
        must be smooth; every row then counts as surviving)."""
        rows, horizon = actions.shape[:2]
        previous = torch.cat([states[:, None], next_states[:, :-1]], dim=1)
        flat = (rows * horizon, -1)
        flat_next = next_states.reshape(flat)
        rewards = self.reward_fn(previous.reshape(flat), actions.reshape(flat), flat_next)
        _check_output("reward_fn", rewards, (rows * horizon,))
        rewards = rewards.view(rows, horizon)
        finite = torch.isfinite(next_states).all() & torch.isfinite(rewards).all()
        discounts = self.discount ** torch.arange(horizon + 1, dtype=rewards.dtype)
        if not use_termination or self.termination_fn is None:
            total = (rewards * discounts[:-1]).sum(dim=1)
            survived = None
        else:
            terminated = self.termination_fn(flat_next)
            _check_termination(terminated, rows * horizon)
            terminated = terminated.view(rows, horizon)
            alive = torch.ones(rows, horizon + 1, dtype=torch.bool)  # alive[:, t]: before step t
            alive[:, 1:] = torch.cumprod(~terminated, dim=1).bool()
            total = (torch.where(alive[:, :-1], rewards, 0.0) * discounts[:-1]).sum(dim=1)
            ends = alive[:, :-1] & terminated  # [B, H]: the step at which a row terminates
            if self.termination_penalty:
                total = total - self.termination_penalty * (ends * discounts[:-1]).sum(dim=1)
            if self.termination_value is not None:
                values = self.termination_value(flat_next)
                _check_output("termination_value", values, (rows * horizon,))
                values = torch.where(ends, values.view(rows, horizon), 0.0)
                finite = finite & torch.isfinite(values).all()
                total = total + (values * discounts[1:]).sum(dim=1)
            survived = alive[:, -1]
        if self.terminal_value is not None:
            values = self.terminal_value(next_states[:, -1])
            _check_output("terminal_value", values, (rows,))
            if survived is not None:
                values = torch.where(survived, values, 0.0)
            finite = finite & torch.isfinite(values).all()
            total = total + discounts[-1] * values
        return total, finite

    def rollout(self, states: Tensor, actions: Tensor) -> Tensor:
        """Next states ``[B, H, S]`` from ``states [B, S]`` under ``actions [B, H, A]``.

        Uses ``dynamics.rollout(states, actions)`` when the model has one (a simulator that runs
        whole sequences in one call), else steps ``dynamics`` H times on the whole batch.
        """
        sequence_model = getattr(self.dynamics, "rollout", None)
        if sequence_model is not None:
            next_states = sequence_model(states, actions)
            _check_next_states("dynamics.rollout", next_states,
                               (*actions.shape[:2], states.shape[1]))
            return next_states
        steps = []
        for t in range(actions.shape[1]):
            states = self.step(states, actions[:, t], t)
            steps.append(states)
        return torch.stack(steps, dim=1)

    def step(self, states: Tensor, actions: Tensor, t: int | None = None) -> Tensor:
        """One model step: next states ``[B, S]`` from ``states [B, S]``, ``actions [B, A]``
        (``t``: the planning step, named if the model returns the wrong shape)."""
        next_states = self.dynamics(states, actions)
        _check_next_states("dynamics", next_states, (actions.shape[0], states.shape[1]), t)
        self._confirm_state_dim(states.shape[1])
        return next_states

    def _locate_non_finite(self, states: Tensor, actions: Tensor) -> None:
        """Re-run eagerly, step by step, and raise for the first NaN/Inf output."""
        horizon = actions.shape[1]
        next_states = self.rollout(states, actions)
        for t in range(horizon):
            _check_finite("dynamics", next_states[:, t], t)
        previous = torch.cat([states[:, None], next_states[:, :-1]], dim=1)
        for t in range(horizon):
            _check_finite("reward_fn", self.reward_fn(previous[:, t], actions[:, t],
                                                      next_states[:, t]), t)
        if self.termination_fn is not None and self.termination_value is not None:
            for t in range(horizon):
                terminated = self.termination_fn(next_states[:, t])
                if terminated.any():
                    _check_finite("termination_value",
                                  self.termination_value(next_states[terminated, t]), t)
        if self.terminal_value is not None:
            _check_finite("terminal_value", self.terminal_value(next_states[:, -1]), horizon)
        raise NonFiniteModelOutput("the model returned NaN/Inf during planning (not reproduced "
                                   "when re-run step by step: is it stochastic?)")


def _check_shape(name: str, value: Tensor, shape: tuple[int, ...], step: int | None = None) -> None:
    if tuple(value.shape) != shape:
        where = "" if step is None else f" at planning step {step}"
        raise ValueError(f"{name} returned shape {tuple(value.shape)}{where}, expected {shape}")


def _check_next_states(name: str, value: Tensor, shape: tuple[int, ...],
                       step: int | None = None) -> None:
    """Like :func:`_check_shape`, and when only the state size differs, say that the state
    itself may be the wrong size."""
    if value.ndim == len(shape) and tuple(value.shape[:-1]) == shape[:-1] \
            and value.shape[-1] != shape[-1]:
        where = "" if step is None else f" at planning step {step}"
        raise ValueError(f"{name} returned shape {tuple(value.shape)}{where}, expected {shape}: "
                         f"next states of size S = {value.shape[-1]} for states of size "
                         f"S = {shape[-1]}. Is the state [S] the size the model expects? "
                         "Problem(state_dim=S) checks states before they reach the model")
    _check_shape(name, value, shape, step)


def _check_output(name: str, value: Tensor, shape: tuple[int, ...], context: str = "") -> None:
    """A reward or value function's output: a floating-point tensor ``shape`` (``[B]``, one
    entry per row; ``context`` says which call, e.g. iLQR's single-row derivatives)."""
    where = f" {context}" if context else ""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must return a torch tensor of shape {shape}{where}, got "
                        f"{type(value).__name__}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} returned shape {tuple(value.shape)}{where}, expected {shape} "
                         "(one value per row [B])")
    if not value.is_floating_point():
        raise TypeError(f"{name} must return a floating-point tensor of shape {shape}{where}, "
                        f"got dtype {value.dtype}")


def _check_termination(value: Tensor, rows: int) -> None:
    """``termination_fn``'s output: a bool tensor ``[rows]``."""
    expected = f"a bool tensor [B] (B = {rows} next states, True where the episode terminates)"
    if not isinstance(value, Tensor):
        raise TypeError(f"termination_fn must return {expected}, got {type(value).__name__}")
    if tuple(value.shape) != (rows,):
        raise ValueError(f"termination_fn must return {expected}, got shape "
                         f"{tuple(value.shape)} ({value.dtype})")
    if value.dtype != torch.bool:
        raise TypeError(f"termination_fn must return {expected}, got dtype {value.dtype} (compare "
                        "with a threshold, or .bool() if it is an indicator)")


def _check_finite(name: str, value: Tensor, step: int) -> None:
    bad = ~torch.isfinite(value)
    if bad.any():
        rows = bad.view(value.shape[0], -1).any(dim=1).sum().item()
        raise NonFiniteModelOutput(f"{name} returned NaN/Inf for {rows} of {value.shape[0]} rows "
                                   f"at planning step {step}; refusing to plan through it")


@dataclass
class Plan:
    """A planner's answer: ``actions [H, A]``, their ``expected_return`` and diagnostics."""

    actions: Tensor
    expected_return: float
    diagnostics: dict[str, Any] = field(default_factory=dict)


class Planner:
    """Base class: ``plan(state [S], problem, warm_start [H, A] | None) -> Plan``.

    Planners that carry state between calls (iCEM's elites, MCTS's tree) override ``reset``
    (a new episode starts) and ``advance`` (``steps`` actions of the last plan were executed).
    """

    def plan(self, state: Tensor, problem: Problem, warm_start: Tensor | None = None) -> Plan:
        raise NotImplementedError

    def reset(self) -> None:
        """Forget everything carried over from earlier calls."""

    def advance(self, steps: int) -> None:
        """The first ``steps`` actions of the last plan have been executed."""


def _check_num_actions(num_actions: Any) -> int:
    if isinstance(num_actions, bool) or not isinstance(num_actions, int | float) \
            or int(num_actions) != num_actions or num_actions < 2:
        raise ValueError(f"num_actions must be an integer >= 2, got {num_actions!r}")
    return int(num_actions)


def check_warm_start(warm_start: Tensor | None, problem: Problem) -> Tensor | None:
    """Validate a warm start ``[H, A]`` against ``problem`` (``None`` passes through): the
    shape, finite values, and inside the action bounds. Values beyond a bound by at most
    ``1e-6`` of the range (round-off, e.g. from a plan made in another precision) are clipped
    onto it; anything further is an error, never silently clipped or planned with."""
    if warm_start is None:
        return None
    return check_sequences(warm_start, problem, "warm_start", batched=False)


def check_sequences(sequences: Tensor, problem: Problem, name: str, batched: bool = True
                    ) -> Tensor:
    """:func:`check_warm_start`'s checks for action sequences ``[K, H, A]`` (``[H, A]`` when
    not ``batched``) called ``name`` in the errors."""
    sequences = torch.as_tensor(sequences, dtype=problem.action_low.dtype)
    expected = (problem.horizon, problem.action_dim)
    if tuple(sequences.shape[-2:]) != expected or sequences.ndim != 2 + batched \
            or sequences.numel() == 0:
        shape = (["K"] if batched else []) + list(expected)
        raise ValueError(f"{name} must be [{', '.join(map(str, shape))}], got "
                         f"{list(sequences.shape)}")

    def where(mask: Tensor) -> str:
        index = [int(i) for i in mask.nonzero()[0]]
        return (f"sequence {index[0]}, " if batched else "") + \
            f"step {index[-2]}, action dim {index[-1]}"

    bad = ~torch.isfinite(sequences)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {sequences[bad][0].item()} at "
                         f"{where(bad)} ({int(bad.sum())} non-finite entries)")
    low, high = problem.action_low, problem.action_high
    slack = 1e-6 * (high - low)
    outside = (sequences < low - slack) | (sequences > high + slack)
    if outside.any():
        dim = int(outside.nonzero()[0][-1])
        raise ValueError(f"{name} must lie within the action bounds [action_low, "
                         f"action_high]; got {sequences[outside][0].item()} at "
                         f"{where(outside)}, outside [{low[dim].item()}, {high[dim].item()}] "
                         f"({int(outside.sum())} entries outside)")
    fractional = sequences != sequences.round()
    if problem.is_discrete and fractional.any():
        raise ValueError(f"a discrete problem's {name} holds action indices; got "
                         f"{sequences[fractional][0].item()} at {where(fractional)}")
    return problem.clip_actions(sequences)
