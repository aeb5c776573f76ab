"""Monte Carlo tree search with the UCT tree policy (reference 003 §5.2, Alg. 22, eq. 5.2.7;
Kocsis and Szepesvari 2006).

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
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from planners.problem import NonFiniteModelOutput


class GenerativeModel(Protocol):
    num_actions: int

    def step(self, state: Any, action: int,
             rng: np.random.Generator) -> tuple[Any, float, bool]: ...


class _Outcome:
    """One next state of a (node, action) edge: how often it was sampled, the summed rewards,
    its node, and its exact probability and reward when the model enumerates its outcomes."""

    __slots__ = ("count", "reward_sum", "child", "probability", "reward")

    def __init__(self, child: _Node, probability: float | None = None,
                 reward: float = 0.0) -> None:
        self.count, self.reward_sum, self.child = 0, 0.0, child
        self.probability, self.reward = probability, reward


def default_state_key(state: Any) -> Hashable:
    """Hashable identity of a state: the state itself, or the bytes of an array."""
    if isinstance(state, np.ndarray):
        return state.tobytes()
    return state


class _Node:
    """A decision node: statistics per action and the sampled outcomes of each action."""

    __slots__ = ("state", "terminal", "visits", "edge_visits", "edge_value_sums", "outcomes",
                 "untried", "leaf_value", "value", "initialised", "q")

    def __init__(self, state: Any, terminal: bool, num_actions: int,
                 rng: np.random.Generator) -> None:
        self.state, self.terminal, self.visits = state, terminal, 0
        # plain lists: per-action arithmetic on a handful of actions is faster than numpy
        self.edge_visits = [0] * num_actions
        self.edge_value_sums = [0.0] * num_actions  # sums of discounted returns
        self.outcomes: list[dict[Hashable, _Outcome]] = [{} for _ in range(num_actions)]
        self.untried = [] if terminal else rng.permutation(num_actions).tolist()
        self.leaf_value = 0.0  # estimate from the default policy / value_fn at expansion
        self.value = 0.0  # Bellman value (backup="max")
        self.q = [0.0] * num_actions  # Bellman action values (backup="max")
        self.initialised = False


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
    largest values seen in this search (so C does not depend on the reward scale; set
    ``normalize=False`` to use raw values). A new leaf is evaluated by ``value_fn(state)`` if
    given, else by a rollout of ``rollout_policy(state, rng) -> action`` (uniform by default)
    until termination or ``max_depth``; rewards are discounted by ``discount``.

    ``backup="mean"`` is Alg. 22's Monte Carlo backup: Q(s, a) is the mean discounted return of
    the simulations through (s, a), and the most visited root action is chosen.
    ``backup="max"`` is the Bellman backup of MaxUCT / DP-UCT (Keller and Helmert 2013):
    Q(s, a) = sum over sampled outcomes of their frequency times (reward + discount * V(s')),
    V(s) = max over tried actions, and the root action with the highest Q is chosen. If the
    model also offers ``outcomes(state, action) -> [(probability, next_state, reward,
    terminated)]`` (an exact model, e.g. a tabular MDP), the first try of an action creates all
    its outcomes and Q uses their exact probabilities. With an optimistic ``value_fn`` (an
    upper bound on returns) this search converges to the optimal action on FrozenLake and Taxi
    where Monte Carlo backups with random rollouts stall (``experiments/mcts_tabular.py``).
    ``transpositions=True`` shares one node per state (``state_key``) instead of one per path,
    so every visit to a state improves its estimate (the tree becomes a graph, which the
    depth limit keeps finite).

    ``advance(action, next_state)`` keeps the subtree below the executed transition for the
    next search (subtree reuse); ``reset()`` drops the tree.
    """

    def __init__(self, num_simulations: int = 1000, exploration: float = 0.5,
                 discount: float = 1.0, max_depth: int = 100, backup: str = "mean",
                 transpositions: bool = False,
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
        if backup not in ("mean", "max"):
            raise ValueError(f"backup must be 'mean' or 'max', got {backup!r}")
        self.num_simulations, self.max_depth = int(num_simulations), int(max_depth)
        self.exploration, self.discount, self.normalize = exploration, discount, normalize
        self.backup, self.transpositions = backup, transpositions
        self.value_fn, self.rollout_policy, self.state_key = value_fn, rollout_policy, state_key
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._root: _Node | None = None
        self._table: dict[Hashable, _Node] = {}  # transpositions: state key -> node
        self._low, self._high = math.inf, -math.inf

    def reset(self) -> None:
        self._root = None
        self._table = {}

    def advance(self, action: int, next_state: Any) -> None:
        """Keep the subtree reached by ``action`` and ``next_state`` (or drop the tree if the
        search never saw that outcome)."""
        if self._root is None:
            return
        outcome = self._root.outcomes[action].get(self.state_key(next_state))
        self._root = None if outcome is None else outcome.child
        if self._root is None:
            self._table = {}

    def search(self, state: Any, model: GenerativeModel) -> SearchResult:
        num_actions = int(model.num_actions)
        if num_actions < 1:
            raise ValueError(f"model.num_actions must be >= 1, got {num_actions}")
        root = self._root
        if root is None or self.state_key(root.state) != self.state_key(state):
            self._table = {}
            root = self._node(state, False, num_actions)
        self._root = root
        self._low, self._high = math.inf, -math.inf
        for _ in range(self.num_simulations):
            self._simulate(root, model, num_actions)
        visits = np.array(root.edge_visits, dtype=float)
        q = self._q_values(root)
        tried = visits > 0
        if self.backup == "mean":
            best = np.flatnonzero(visits == visits.max())
            action = int(best[np.argmax(q[best])])
        else:
            best_q = np.where(tried, q, -np.inf)
            best = np.flatnonzero(best_q == best_q.max())
            action = int(best[np.argmax(visits[best])])
        return SearchResult(action, np.where(tried, q, np.nan), visits, self.num_simulations)

    def _node(self, state: Any, terminal: bool, num_actions: int) -> _Node:
        if not self.transpositions:
            return _Node(state, terminal, num_actions, self.rng)
        key = self.state_key(state)
        node = self._table.get(key)
        if node is None:
            node = self._table[key] = _Node(state, terminal, num_actions, self.rng)
        return node

    def _q_values(self, node: _Node) -> np.ndarray:
        """Q ``[A]`` of a node under the chosen backup (0 where an action was never tried)."""
        if self.backup == "mean":
            return np.array([total / max(count, 1) for total, count
                             in zip(node.edge_value_sums, node.edge_visits, strict=True)])
        return np.array(node.q)

    def _node_value(self, node: _Node) -> float:
        """Current value estimate of a node (Bellman value, or mean return through it)."""
        if self.backup == "max":
            return node.value
        visits = sum(node.edge_visits)
        return sum(node.edge_value_sums) / visits if visits else node.leaf_value

    def _bellman_q(self, node: _Node, action: int) -> float:
        """Expected ``reward + discount * V(next)`` over the outcomes of ``action``: exact
        probabilities where the model enumerated them, else sampled frequencies."""
        outcomes = node.outcomes[action].values()
        if next(iter(outcomes)).probability is not None:
            return sum(o.probability * (o.reward + self.discount * o.child.value)
                       for o in outcomes)
        weighted = sum(o.reward_sum + o.count * self.discount * o.child.value for o in outcomes)
        return weighted / sum(o.count for o in outcomes)

    def _simulate(self, root: _Node, model: GenerativeModel, num_actions: int) -> None:
        path: list[tuple[_Node, int, float]] = []
        node, depth, leaf_value = root, 0, 0.0
        while not node.terminal and depth < self.max_depth:
            expanding = bool(node.untried)
            action = node.untried.pop() if expanding else self._select(node)
            next_state, reward, terminated = model.step(node.state, action, self.rng)
            reward = _finite_reward(reward, action, depth)
            outcomes = node.outcomes[action]
            if expanding and self._enumerates(model):
                self._add_enumerated_outcomes(node, action, model, depth + 1, num_actions)
            key = self.state_key(next_state)
            outcome = outcomes.get(key)
            new_child = False
            if outcome is None:
                child = self._node(next_state, bool(terminated), num_actions)
                new_child = self._initialise(child, model, depth + 1)
                outcome = outcomes[key] = _Outcome(child)
            outcome.count += 1
            outcome.reward_sum += float(reward)
            # counts move during the descent, so a path that revisits a node (transpositions)
            # explores instead of repeating the same choice until max_depth
            node.visits += 1
            node.edge_visits[action] += 1
            path.append((node, action, float(reward)))
            node, depth = outcome.child, depth + 1
            if expanding or new_child:
                leaf_value = self._node_value(node)
                break
        node.visits += 1
        value = leaf_value if not node.terminal else 0.0
        for parent, action, reward in reversed(path):
            value = reward + self.discount * value
            parent.edge_value_sums[action] += value
            if self.backup == "max":
                parent.q[action] = self._bellman_q(parent, action)
                tried = [q for q, count in zip(parent.q, parent.edge_visits, strict=True)
                         if count]
                parent.value = max(tried)
                self._low, self._high = min(self._low, min(tried)), max(self._high, parent.value)
            else:
                self._low, self._high = min(self._low, value), max(self._high, value)

    def _enumerates(self, model: GenerativeModel) -> bool:
        return self.backup == "max" and callable(getattr(model, "outcomes", None))

    def _add_enumerated_outcomes(self, node: _Node, action: int, model: GenerativeModel,
                                 depth: int, num_actions: int) -> None:
        """Create every outcome of a first-tried action with its exact probability, from
        ``model.outcomes(state, action) -> [(probability, next_state, reward, terminated)]``
        (outcomes with the same next state are merged)."""
        merged: dict[Hashable, _Outcome] = node.outcomes[action]
        for probability, next_state, reward, terminated in model.outcomes(node.state, action):
            reward = _finite_reward(reward, action, depth - 1, "model.outcomes")
            if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                raise NonFiniteModelOutput(f"model.outcomes returned probability {probability} "
                                           f"for action {action}; expected a number in [0, 1]")
            key = self.state_key(next_state)
            if key in merged:
                existing = merged[key]
                total = existing.probability + probability
                existing.reward = (existing.reward * existing.probability
                                   + reward * probability) / total
                existing.probability = total
                continue
            child = self._node(next_state, bool(terminated), num_actions)
            self._initialise(child, model, depth)
            merged[key] = _Outcome(child, float(probability), float(reward))

    def _initialise(self, child: _Node, model: GenerativeModel, depth: int) -> bool:
        """Give a never-visited node its leaf estimate; True if it was new."""
        if child.visits > 0 or child.terminal or child.initialised:
            return False
        child.leaf_value = child.value = self._evaluate_leaf(child, model, depth)
        child.initialised = True
        return True

    def _select(self, node: _Node) -> int:
        """The UCT action of eq. 5.2.7 (ties broken at random)."""
        if self.backup == "max":
            values = node.q
        else:
            values = [total / count for total, count
                      in zip(node.edge_value_sums, node.edge_visits, strict=True)]
        scale, low = 1.0, 0.0
        if self.normalize and self._high > self._low:
            scale, low = 1.0 / (self._high - self._low), self._low
        log_visits = 2 * math.log(node.visits)
        weight = 2 * self.exploration
        best, best_score = [], -math.inf
        for action, (value, count) in enumerate(zip(values, node.edge_visits, strict=True)):
            score = (value - low) * scale + weight * math.sqrt(log_visits / count)
            if score > best_score:
                best, best_score = [action], score
            elif score == best_score:
                best.append(action)
        return best[0] if len(best) == 1 else best[int(self.rng.integers(len(best)))]

    def _evaluate_leaf(self, node: _Node, model: GenerativeModel, depth: int) -> float:
        if node.terminal or depth >= self.max_depth:
            return 0.0
        if self.value_fn is not None:
            value = float(self.value_fn(node.state))
            if not math.isfinite(value):
                raise NonFiniteModelOutput(f"value_fn returned {value} for the leaf state "
                                           f"{node.state!r} at depth {depth}; refusing to search "
                                           "through it")
            return value
        state, total, weight = node.state, 0.0, 1.0
        for _ in range(self.max_depth - depth):
            if self.rollout_policy is None:
                action = int(self.rng.integers(model.num_actions))
            else:
                action = int(self.rollout_policy(state, self.rng))
            state, reward, terminated = model.step(state, action, self.rng)
            total += weight * _finite_reward(reward, action, depth, "model.step (rollout)")
            weight *= self.discount
            if terminated:
                break
        return total


def _finite_reward(reward: Any, action: int, depth: int, source: str = "model.step") -> float:
    """``reward`` as a float, or NonFiniteModelOutput naming where a NaN/Inf came from (it
    would otherwise poison every UCT score above it)."""
    value = float(reward)
    if not math.isfinite(value):
        raise NonFiniteModelOutput(f"{source} returned reward {value} for action {action} at "
                                   f"depth {depth}; refusing to search through it")
    return value


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


class DiscreteActionModel:
    """A batched model ``dynamics(states [B, S], actions [B, A]) -> [B, S]`` (analytic, a
    simulator such as ``mbrl.envs.simulator.MujocoSimulator``, or a learned network) with
    ``reward_fn(s, a, s') -> [B]`` and optional ``termination_fn(s') -> [B]``, offered to tree
    search as a generative model over the finite action set ``actions [K, A]``.

    States are numpy arrays; ``step`` ignores ``rng`` (the model is deterministic, or samples
    with its own generator)."""

    def __init__(self, dynamics: Callable, reward_fn: Callable, actions: Any,
                 termination_fn: Callable | None = None, dtype: Any = None) -> None:
        self.dtype = dtype or torch.get_default_dtype()
        self.actions = torch.as_tensor(actions, dtype=self.dtype)
        if self.actions.ndim != 2:
            raise ValueError(f"actions must be [K, A] (K discrete choices), got shape "
                             f"{tuple(self.actions.shape)}")
        self.dynamics, self.reward_fn, self.termination_fn = dynamics, reward_fn, termination_fn
        self.num_actions = self.actions.shape[0]

    def step(self, state: Any, action: int,
             rng: np.random.Generator | None = None) -> tuple[np.ndarray, float, bool]:
        with torch.no_grad():
            current = torch.as_tensor(np.asarray(state), dtype=self.dtype)[None]
            chosen = self.actions[action][None]
            following = self.dynamics(current, chosen)
            reward = float(self.reward_fn(current, chosen, following)[0])
            terminated = bool(self.termination_fn(following)[0]) if self.termination_fn else False
        next_state = following[0].numpy()
        if not (np.isfinite(next_state).all() and math.isfinite(reward)):
            raise NonFiniteModelOutput("the model returned NaN/Inf during tree search")
        return next_state, reward, terminated
