"""Known-model MDPs from gymnasium's transition tables, with exact value iteration.

``env.unwrapped.P[s][a]`` lists outcomes ``(prob, next_state, reward, terminated)``. We pad
them into arrays ``[S, A, K]`` so that sampling a batch of transitions is one vectorised op,
and solve the Bellman optimality equation exactly (reference 000, Bellman equations) to give
optimal ``V``, ``Q`` and the set of optimal actions as ground truth for planners (Bellman 1957;
Sutton and Barto 2018 §4.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

TABULAR_ENVS = ("FrozenLake-v1", "FrozenLake8x8-v1", "Taxi-v4", "CliffWalking-v1")


@dataclass(frozen=True)
class ValueIterationResult:
    """Optimal state values ``v [S]``, action values ``q [S, A]`` and a greedy policy ``[S]``."""

    v: np.ndarray
    q: np.ndarray
    policy: np.ndarray
    iterations: int

    def optimal_actions(self, tol: float = 1e-6) -> np.ndarray:
        """Boolean mask ``[S, A]`` of every action within ``tol`` of the best in each state."""
        return self.q >= self.q.max(axis=1, keepdims=True) - tol


class TabularMDP:
    """A finite MDP with padded outcome tables ``[S, A, K]`` (K = most outcomes of any pair)."""

    def __init__(
        self,
        outcome_probs: np.ndarray,
        next_states: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        initial_distribution: np.ndarray,
        env_id: str = "",
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        shape = outcome_probs.shape
        if len(shape) != 3:
            raise ValueError(f"outcome_probs must be [S, A, K], got shape {shape}")
        for name, array in [("next_states", next_states), ("rewards", rewards),
                            ("terminated", terminated)]:
            if array.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
        if not np.allclose(outcome_probs.sum(axis=2), 1.0):
            raise ValueError("outcome_probs must sum to 1 over outcomes for every (state, action)")
        self.outcome_probs = outcome_probs
        self.next_states = next_states.astype(np.int64)
        self.rewards = rewards.astype(np.float64)
        self.terminated = terminated.astype(bool)
        self.initial_distribution = initial_distribution
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self._outcome_lists: list | None = None

    @property
    def num_states(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def num_actions(self) -> int:
        return self.outcome_probs.shape[1]

    @property
    def live_states(self) -> np.ndarray:
        """Boolean ``[S]``: states an agent can be asked to act in, i.e. reachable from the
        initial distribution through non-terminating transitions (excludes holes, goals,
        delivered-passenger states and unreachable table rows)."""
        live = self.initial_distribution > 0
        continues = (self.outcome_probs > 0) & ~self.terminated
        while True:
            successors = np.zeros_like(live)
            successors[self.next_states[live][continues[live]]] = True
            grown = live | successors
            if (grown == live).all():
                return live
            live = grown

    def transition_matrix(self) -> np.ndarray:
        """Dense ``P[s, a, s']`` (outcomes that share a next state are summed)."""
        matrix = np.zeros((self.num_states, self.num_actions, self.num_states))
        s, a, _ = np.indices(self.outcome_probs.shape)
        np.add.at(matrix, (s, a, self.next_states), self.outcome_probs)
        return matrix

    def sample(
        self, states: np.ndarray, actions: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sample one outcome for each pair: ``states [B], actions [B]`` ->
        ``(next_states [B], rewards [B], terminated [B])``."""
        states = np.asarray(states)
        actions = np.asarray(actions)
        if states.shape != actions.shape or states.ndim != 1:
            raise ValueError(
                f"states and actions must both be [B], got {states.shape} and {actions.shape}")
        if states.size and (states.min() < 0 or states.max() >= self.num_states):
            raise ValueError(f"states must be in [0, {self.num_states}), got {states}")
        if actions.size and (actions.min() < 0 or actions.max() >= self.num_actions):
            raise ValueError(f"actions must be in [0, {self.num_actions}), got {actions}")
        cumulative = np.cumsum(self.outcome_probs[states, actions], axis=1)  # [B, K]
        u = rng.random(states.shape[0])[:, None]
        k = np.minimum((u >= cumulative).sum(axis=1), cumulative.shape[1] - 1)
        return (self.next_states[states, actions, k], self.rewards[states, actions, k],
                self.terminated[states, actions, k])

    def step(self, state: int, action: int, rng: np.random.Generator) -> tuple[int, float, bool]:
        """Single-transition form of :meth:`sample` (the generative-model protocol of
        ``planners.mcts``), on cached Python lists: tree search calls it millions of times."""
        outcomes = self._cumulative_outcomes(state, action)
        u = rng.random() if len(outcomes) > 1 else 0.0
        for threshold, next_state, reward, terminated in outcomes:
            if u < threshold:
                return next_state, reward, terminated
        return outcomes[-1][1:]

    def outcomes(self, state: int, action: int) -> list[tuple[float, int, float, bool]]:
        """Every possible ``(probability, next_state, reward, terminated)`` of one pair (zero-
        probability padding left out): the exact model for tree search's Bellman backups."""
        previous, result = 0.0, []
        for threshold, next_state, reward, terminated in self._cumulative_outcomes(state, action):
            if threshold > previous:
                result.append((threshold - previous, next_state, reward, terminated))
            previous = threshold
        return result

    def _cumulative_outcomes(self, state: int, action: int) -> list[tuple[float, int, float, bool]]:
        """``(cumulative probability, next_state, reward, terminated)`` of a validated pair,
        from lists built once."""
        if not (0 <= state < self.num_states and 0 <= action < self.num_actions):
            raise ValueError(f"need 0 <= state < {self.num_states} and 0 <= action < "
                             f"{self.num_actions}, got state {state}, action {action}")
        if self._outcome_lists is None:
            cumulative = np.cumsum(self.outcome_probs, axis=2)
            self._outcome_lists = [
                [list(zip(cumulative[s, a].tolist(), self.next_states[s, a].tolist(),
                          self.rewards[s, a].tolist(), self.terminated[s, a].tolist(),
                          strict=True)) for a in range(self.num_actions)]
                for s in range(self.num_states)]
        return self._outcome_lists[state][action]

    def sample_initial_state(self, rng: np.random.Generator) -> int:
        return int(rng.choice(self.num_states, p=self.initial_distribution))

    def make_env(self, **kwargs: Any) -> gym.Env:
        """The gymnasium env this model was read from."""
        return gym.make(self.env_id, **{**self.env_kwargs, **kwargs})


def make_tabular_mdp(env_id: str, **env_kwargs: Any) -> TabularMDP:
    """Read the exact model of a gymnasium toy-text env, e.g.
    ``make_tabular_mdp("FrozenLake-v1", map_name="8x8", is_slippery=True)``."""
    if env_id not in TABULAR_ENVS:
        raise ValueError(f"env_id must be one of {TABULAR_ENVS}, got {env_id!r}")
    env = gym.make(env_id, **env_kwargs)
    table = env.unwrapped.P
    num_states, num_actions = env.observation_space.n, env.action_space.n
    max_outcomes = max(len(table[s][a]) for s in range(num_states) for a in range(num_actions))
    shape = (num_states, num_actions, max_outcomes)
    probs, next_states = np.zeros(shape), np.zeros(shape, dtype=np.int64)
    rewards, terminated = np.zeros(shape), np.zeros(shape, dtype=bool)
    for s in range(num_states):
        for a in range(num_actions):
            for k, (p, s_next, r, done) in enumerate(table[s][a]):
                probs[s, a, k], next_states[s, a, k] = p, s_next
                rewards[s, a, k], terminated[s, a, k] = r, done
    initial = np.asarray(env.unwrapped.initial_state_distrib, dtype=np.float64)
    env.close()
    return TabularMDP(probs, next_states, rewards, terminated, initial / initial.sum(),
                      env_id, env_kwargs)


def value_iteration(
    mdp: TabularMDP, gamma: float = 0.99, tol: float = 1e-10, max_iterations: int = 100_000
) -> ValueIterationResult:
    """Exact optimal values by iterating ``Q(s,a) = E[r + gamma (1 - done) V(s')]``,
    ``V(s) = max_a Q(s,a)`` until the sup-norm change is below ``tol``."""
    if not 0.0 <= gamma < 1.0:
        raise ValueError(f"gamma must be in [0, 1) for value iteration to converge, got {gamma}")
    v = np.zeros(mdp.num_states)
    continues = ~mdp.terminated
    for iteration in range(1, max_iterations + 1):
        q = (mdp.outcome_probs * (mdp.rewards + gamma * continues * v[mdp.next_states])).sum(-1)
        v_new = q.max(axis=1)
        converged = np.abs(v_new - v).max() < tol
        v = v_new
        if converged:
            q = (mdp.outcome_probs * (mdp.rewards + gamma * continues * v[mdp.next_states])
                 ).sum(-1)
            return ValueIterationResult(v=v, q=q, policy=q.argmax(axis=1), iterations=iteration)
    raise RuntimeError(f"value iteration did not converge in {max_iterations} iterations")
