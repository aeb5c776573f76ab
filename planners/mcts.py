"""Monte Carlo tree search with the UCT tree policy (reference 003 §5.2, Alg. 22, eq. 5.2.7).

Plans over a *generative model* with discrete actions, anything with

    num_actions: int
    step(state, action, rng: np.random.Generator) -> (next_state, reward, terminated)

for example a tabular MDP, a copyable simulator wrapper, or a learned model. Transitions may be
stochastic: each (node, action) edge keeps one child per distinct sampled next state (chance
outcomes, keyed by ``state_key(next_state)``), so the tree averages over outcomes in the
proportions the model produces them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class GenerativeModel(Protocol):
    num_actions: int

    def step(self, state: Any, action: int,
             rng: np.random.Generator) -> tuple[Any, float, bool]: ...


def default_state_key(state: Any) -> Hashable:
    """Hashable identity of a state: the state itself, or the bytes of an array."""
    if isinstance(state, np.ndarray):
        return state.tobytes()
    return state


@dataclass
class _Node:
    state: Any
    terminal: bool
    visits: int = 0
    edge_visits: np.ndarray | None = None  # [A]
    edge_value_sums: np.ndarray | None = None  # [A] sums of discounted returns
    children: list[dict[Hashable, tuple[_Node, float]]] = field(default_factory=list)
    untried: list[int] = field(default_factory=list)


@dataclass
class SearchResult:
    """The chosen ``action``, root action values ``q [A]`` (NaN where never tried), visit
    counts ``visits [A]`` and the number of simulations run."""

    action: int
    q: np.ndarray
    visits: np.ndarray
    simulations: int


class MCTS:
    """UCT search: ``search(state, model) -> SearchResult``.

    Each of ``num_simulations`` simulations descends the tree choosing untried actions first
    (in random order) and otherwise the action maximising eq. 5.2.7,
    ``Q/N + 2 C sqrt(2 ln N_parent / N)``, with Q/N normalised to [0, 1] by the smallest and
    largest returns seen in this search (so C does not depend on the reward scale; set
    ``normalize=False`` to use raw returns). A new leaf is evaluated by ``value_fn(state)`` if
    given, else by a rollout of ``rollout_policy(state, rng) -> action`` (uniform by default)
    until termination or ``max_depth``; returns are discounted by ``discount`` and backed up
    along the path. The chosen action is the most visited (ties: higher Q).

    ``advance(action, next_state)`` keeps the subtree below the executed transition for the
    next search (subtree reuse); ``reset()`` drops the tree.
    """

    def __init__(self, num_simulations: int = 1000, exploration: float = 0.5,
                 discount: float = 1.0, max_depth: int = 100,
                 value_fn: Callable[[Any], float] | None = None,
                 rollout_policy: Callable[[Any, np.random.Generator], int] | None = None,
                 normalize: bool = True, state_key: Callable[[Any], Hashable] = default_state_key,
                 seed: int | np.random.Generator | None = None) -> None:
        if int(num_simulations) != num_simulations or num_simulations < 1:
            raise ValueError(f"num_simulations must be a positive integer, got {num_simulations!r}")
        if int(max_depth) != max_depth or max_depth < 1:
            raise ValueError(f"max_depth must be a positive integer, got {max_depth!r}")
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        if exploration < 0:
            raise ValueError(f"exploration must be >= 0, got {exploration}")
        self.num_simulations, self.max_depth = int(num_simulations), int(max_depth)
        self.exploration, self.discount, self.normalize = exploration, discount, normalize
        self.value_fn, self.rollout_policy, self.state_key = value_fn, rollout_policy, state_key
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._root: _Node | None = None
        self._low, self._high = math.inf, -math.inf

    def reset(self) -> None:
        self._root = None

    def advance(self, action: int, next_state: Any) -> None:
        """Keep the subtree reached by ``action`` and ``next_state`` (or drop the tree if the
        search never saw that outcome)."""
        if self._root is None or not self._root.children:
            self._root = None
            return
        outcome = self._root.children[action].get(self.state_key(next_state))
        self._root = None if outcome is None else outcome[0]

    def search(self, state: Any, model: GenerativeModel) -> SearchResult:
        num_actions = int(model.num_actions)
        if num_actions < 1:
            raise ValueError(f"model.num_actions must be >= 1, got {num_actions}")
        root = self._root
        if root is None or self.state_key(root.state) != self.state_key(state):
            root = self._new_node(state, False, num_actions)
        self._root = root
        self._low, self._high = math.inf, -math.inf
        for _ in range(self.num_simulations):
            self._simulate(root, model, num_actions)
        visits = root.edge_visits.copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            q = np.where(visits > 0, root.edge_value_sums / visits, np.nan)
        best = np.flatnonzero(visits == visits.max())
        action = int(best[np.argmax(np.nan_to_num(q[best], nan=-np.inf))])
        return SearchResult(action, q, visits, self.num_simulations)

    def _new_node(self, state: Any, terminal: bool, num_actions: int) -> _Node:
        untried = list(self.rng.permutation(num_actions)) if not terminal else []
        return _Node(state, terminal, 0, np.zeros(num_actions), np.zeros(num_actions),
                     [{} for _ in range(num_actions)], untried)

    def _simulate(self, root: _Node, model: GenerativeModel, num_actions: int) -> None:
        path: list[tuple[_Node, int, float]] = []
        node, depth, leaf_value = root, 0, 0.0
        while not node.terminal and depth < self.max_depth:
            expanding = bool(node.untried)
            action = node.untried.pop() if expanding else self._select(node)
            next_state, reward, terminated = model.step(node.state, action, self.rng)
            outcomes = node.children[action]
            key = self.state_key(next_state)
            if key not in outcomes:
                outcomes[key] = (self._new_node(next_state, bool(terminated), num_actions),
                                 float(reward))
            child, _ = outcomes[key]
            path.append((node, action, float(reward)))
            node, depth = child, depth + 1
            if expanding:
                leaf_value = self._evaluate_leaf(child, model, depth)
                break
        value = leaf_value
        for parent, action, reward in reversed(path):
            value = reward + self.discount * value
            parent.visits += 1
            parent.edge_visits[action] += 1
            parent.edge_value_sums[action] += value
            self._low, self._high = min(self._low, value), max(self._high, value)
        node.visits += 1

    def _select(self, node: _Node) -> int:
        mean = node.edge_value_sums / node.edge_visits
        if self.normalize and self._high > self._low:
            mean = (mean - self._low) / (self._high - self._low)
        bonus = 2 * self.exploration * np.sqrt(2 * math.log(node.visits) / node.edge_visits)
        scores = mean + bonus
        return int(self.rng.choice(np.flatnonzero(scores == scores.max())))

    def _evaluate_leaf(self, node: _Node, model: GenerativeModel, depth: int) -> float:
        if node.terminal or depth >= self.max_depth:
            return 0.0
        if self.value_fn is not None:
            return float(self.value_fn(node.state))
        state, total, weight = node.state, 0.0, 1.0
        for _ in range(self.max_depth - depth):
            if self.rollout_policy is None:
                action = int(self.rng.integers(model.num_actions))
            else:
                action = int(self.rollout_policy(state, self.rng))
            state, reward, terminated = model.step(state, action, self.rng)
            total += weight * float(reward)
            weight *= self.discount
            if terminated:
                break
        return total


class MCTSPolicy:
    """Receding-horizon MCTS as a policy: ``act(obs)`` searches from ``obs`` and returns the
    chosen action. With ``reuse_tree`` the subtree below the previous action and ``obs`` (the
    state it led to) seeds the next search; call ``reset()`` at every episode start."""

    def __init__(self, mcts: MCTS, model: GenerativeModel, reuse_tree: bool = True) -> None:
        self.mcts, self.model, self.reuse_tree = mcts, model, reuse_tree
        self._last_action: int | None = None

    def reset(self) -> None:
        self.mcts.reset()
        self._last_action = None

    def act(self, obs: Any, deterministic: bool = False) -> int:
        if self.reuse_tree and self._last_action is not None:
            self.mcts.advance(self._last_action, obs)
        else:
            self.mcts.reset()
        self._last_action = self.mcts.search(obs, self.model).action
        return self._last_action
