"""Tabular Dyna-Q, Dyna-Q+ and prioritized sweeping (reference 003 Alg. 28; Sutton 1990;
Sutton and Barto 2018 §8.2-8.4; prioritized sweeping: Moore and Atkeson 1993).

Each real step: act epsilon-greedily on Q (ties broken at random), update Q from the real
transition (one-step Q-learning), record it in a learned tabular model, then make
``planning_steps`` (K) updates from the model:

- ``dyna_q``: K previously visited state-action pairs drawn uniformly (in one batch), their
  outcomes drawn in proportion to how often each was seen (a stochastic model, not just the
  last outcome), then updated one after another, so that values travel back through the K
  updates of one step as they do in Sutton and Barto's algorithm;
- ``dyna_q_plus``: as Dyna-Q, with the planning reward increased by ``kappa sqrt(tau)`` where
  tau is the number of real steps since the pair was last tried, and untried actions of
  visited states planned as staying put with reward 0 (S&B §8.3), so the agent goes to check
  what it has not seen for long;
- ``prioritized_sweeping``: pairs enter a queue by the size of their TD error (above
  ``theta``); the K most urgent are updated one by one, each pushing its predecessors.

K = 0 is Q-learning. The run logs the cumulative reward, and at every evaluation whether the
greedy policy is optimal (value iteration on the env's exact model) on every state it reaches.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch

from mbrl.data import EnvStepper
from mbrl.envs.mazes import maze_mdp
from mbrl.envs.tabular import TABULAR_ENVS, TabularMDP, make_tabular_mdp, value_iteration
from mbrl.runs import Run
from mbrl.util.config import require_positive

MAZES = ("BlockingMaze", "ShortcutMaze")


class Planning(str, Enum):
    dyna_q = "dyna_q"
    dyna_q_plus = "dyna_q_plus"
    prioritized_sweeping = "prioritized_sweeping"


class Purpose(IntEnum):
    ENV = 0
    AGENT = 1


@dataclass
class DynaQConfig:
    """Tabular Dyna on a toy-text env or a changing maze."""

    EXTENDABLE: ClassVar[frozenset[str]] = frozenset({"total_steps", "progress", "output_dir"})

    env: str = "Taxi-v4"  # FrozenLake-v1 | Taxi-v4 | CliffWalking-v1 | BlockingMaze | ShortcutMaze
    slippery: bool = False  # FrozenLake's slippery ice
    seed: int = 0  # run seed: every random draw derives from it
    planning: Planning = Planning.dyna_q  # how the model is used
    planning_steps: int = 5  # K model updates per real step (0: Q-learning)
    total_steps: int = 20_000  # real env steps
    alpha: float = 0.5  # step size of every Q update
    gamma: float = 0.95  # discount
    epsilon: float = 0.1  # exploration of the behaviour policy
    # initial Q of every pair; optimistic (above every return) makes greedy actions try
    # what they have not (Taxi's rare start states otherwise keep a tried, worse action)
    initial_q: float = 0.0
    kappa: float = 1e-3  # Dyna-Q+ exploration bonus weight
    theta: float = 1e-4  # prioritized sweeping's priority threshold
    eval_every: int = 500  # real steps between checks of the greedy policy
    # checkpoint at the first episode end after this many steps (only there: the env's state
    # is then its seeded reset)
    checkpoint_every: int = 5000
    output_dir: str = "runs"  # parent folder of the run folder
    progress: bool = True  # progress bar

    def __post_init__(self) -> None:
        self.planning = Planning(self.planning)

    def validate(self) -> None:
        if self.env not in (*TABULAR_ENVS, *MAZES):
            raise ValueError(f"env must be one of {(*TABULAR_ENVS, *MAZES)}, got {self.env!r}")
        require_positive(self, "total_steps", "eval_every", "checkpoint_every")
        if self.planning_steps < 0:
            raise ValueError(f"planning_steps must be >= 0, got {self.planning_steps}")
        if not (0 < self.alpha <= 1 and 0 <= self.gamma < 1 and 0 <= self.epsilon <= 1):
            raise ValueError("need alpha in (0, 1], gamma in [0, 1) and epsilon in [0, 1], got "
                             f"{self.alpha}, {self.gamma}, {self.epsilon}")
        if self.kappa < 0 or self.theta < 0:
            raise ValueError(f"kappa and theta must be >= 0, got {self.kappa}, {self.theta}")


class TabularModel:
    """Counts of every observed outcome ``(s, a) -> (s', r, terminated)``."""

    def __init__(self, num_states: int, num_actions: int) -> None:
        self.counts = np.zeros((num_states, num_actions, num_states), np.int64)
        self.reward_sums = np.zeros((num_states, num_actions, num_states))
        self.terminal = np.zeros((num_states, num_actions, num_states), bool)
        self.last_tried = np.zeros((num_states, num_actions), np.int64)  # real step, 0: never

    def add(self, s: int, a: int, r: float, s_next: int, terminated: bool, step: int) -> None:
        self.counts[s, a, s_next] += 1
        self.reward_sums[s, a, s_next] += r
        self.terminal[s, a, s_next] |= terminated
        self.last_tried[s, a] = step

    @property
    def tried(self) -> np.ndarray:
        """``[S, A]`` pairs seen at least once."""
        return self.last_tried > 0

    def sample(self, s: np.ndarray, a: np.ndarray, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """An outcome ``(s' [K], r [K], terminated [K])`` of each tried pair, in proportion to
        how often it was seen (its mean reward)."""
        counts = self.counts[s, a]  # [K, S]
        cumulative = counts.cumsum(axis=1)
        draw = rng.random(len(s)) * cumulative[:, -1]
        s_next = (cumulative <= draw[:, None]).sum(axis=1)
        seen = self.counts[s, a, s_next]
        return s_next, self.reward_sums[s, a, s_next] / seen, self.terminal[s, a, s_next]


class DynaQRun(Run):
    """One run of tabular Dyna; ``train()`` continues from wherever it stopped."""

    config_class = DynaQConfig

    def __init__(self, config: DynaQConfig) -> None:
        super().__init__(config)
        env = (gym.make(f"mbrl/{config.env}-v0") if config.env in MAZES
               else gym.make(config.env, **self.env_kwargs()))
        self.env = EnvStepper(env)
        states, actions = env.observation_space.n, env.action_space.n
        self.q = np.full((states, actions), float(config.initial_q))
        self.model = TabularModel(states, actions)
        self.rng = self.seeds.numpy(Purpose.AGENT)
        self.cumulative_reward, self.episode, self.saved_at = 0.0, 0, 0
        self.queue: list[tuple[float, int, int]] = []
        self._models: dict[bool, TabularMDP] = {}  # exact models, for the optimality check
        self._optimal: dict[int, np.ndarray] = {}

    def env_kwargs(self) -> dict[str, Any]:
        return {"is_slippery": self.config.slippery} if self.config.env == "FrozenLake-v1" else {}

    def folder_name(self) -> str:
        return f"{self.config.planning.value}-K{self.config.planning_steps}-{self.config.env}" \
               f"-s{self.config.seed}"

    # ----- the loop (reference 003 Alg. 28) ------------------------------------------------
    def train(self) -> None:
        config = self.config
        bar = self.progress_bar(config.total_steps, self.env_steps, "step",
                                f"{config.planning.value} K={config.planning_steps}")
        obs = self.env.reset(self.seeds.derive(Purpose.ENV, self.episode))
        while self.env_steps < config.total_steps:
            s, a = int(obs), self.act(int(obs))
            step = self.env.step(a)
            s_next, r, terminated = int(step.next_obs[0]), float(step.rewards[0]), \
                bool(step.terminated[0])
            self.env_steps += 1
            self.cumulative_reward += r
            self.model.add(s, a, r, s_next, terminated, self.env_steps)
            error = self.q_update(np.array([s]), np.array([a]), np.array([r]),
                                  np.array([s_next]), np.array([terminated]))
            self.plan(s, a, float(abs(error[0])))
            obs = self.env.obs
            bar.update(1)
            if self.env_steps % config.eval_every == 0 or self.env_steps == config.total_steps:
                self.log("steps", {"env_steps": self.env_steps,
                                   "cumulative_reward": self.cumulative_reward,
                                   "greedy_optimal": float(self.greedy_is_optimal())})
            if step.done[0]:  # every episode starts from a reset seeded by its index
                self.episode += 1
                obs = self.env.reset(self.seeds.derive(Purpose.ENV, self.episode))
                if self.env_steps - self.saved_at >= config.checkpoint_every:
                    self.saved_at = self.env_steps
                    self.save()
        bar.close()

    def act(self, s: int) -> int:
        """Epsilon-greedy on Q, ties broken uniformly at random."""
        if self.rng.random() < self.config.epsilon:
            return int(self.rng.integers(self.q.shape[1]))
        best = np.flatnonzero(self.q[s] == self.q[s].max())
        return int(best[self.rng.integers(len(best))])

    def q_update(self, s: np.ndarray, a: np.ndarray, r: np.ndarray, s_next: np.ndarray,
                 terminated: np.ndarray) -> np.ndarray:
        """One-step Q-learning updates of the pairs ``[K]`` (from the current Q); their TD
        errors."""
        target = r + self.config.gamma * ~terminated * self.q[s_next].max(axis=1)
        error = target - self.q[s, a]
        np.add.at(self.q, (s, a), self.config.alpha * error)
        return error

    def plan(self, s: int, a: int, error: float) -> None:
        """``planning_steps`` updates from the model after the real transition ``(s, a)``."""
        config, k = self.config, self.config.planning_steps
        if k == 0:
            return
        if config.planning == Planning.prioritized_sweeping:
            self.sweep(s, a, error)
            return
        visited = np.flatnonzero(self.model.tried.any(axis=1))
        states = visited[self.rng.integers(len(visited), size=k)]
        if config.planning == Planning.dyna_q_plus:  # every action of a visited state
            actions = self.rng.integers(self.q.shape[1], size=k)
        else:
            tried = self.model.tried[states]  # [K, A]: a tried action per drawn state
            choice = self.rng.random(tried.shape) * tried
            actions = choice.argmax(axis=1)
        known = self.model.tried[states, actions]
        s_next, r, terminated = states.copy(), np.zeros(k), np.zeros(k, bool)
        if known.any():  # untried actions (Dyna-Q+ only) are planned as staying put
            s_next[known], r[known], terminated[known] = self.model.sample(
                states[known], actions[known], self.rng)
        if config.planning == Planning.dyna_q_plus:
            tau = self.env_steps - self.model.last_tried[states, actions]
            r = r + config.kappa * np.sqrt(tau)
        for i in range(k):  # one after another: each update sees the ones before it
            self.q_update(states[i:i + 1], actions[i:i + 1], r[i:i + 1], s_next[i:i + 1],
                          terminated[i:i + 1])

    def sweep(self, s: int, a: int, error: float) -> None:
        """Prioritized sweeping: queue ``(s, a)`` by its error, update the most urgent pairs
        and queue their predecessors."""
        theta = self.config.theta
        if error > theta:
            heapq.heappush(self.queue, (-error, s, a))
        for _ in range(self.config.planning_steps):
            if not self.queue:
                return
            _, s, a = heapq.heappop(self.queue)
            outcome = self.model.sample(np.array([s]), np.array([a]), self.rng)
            self.q_update(np.array([s]), np.array([a]), outcome[1], outcome[0], outcome[2])
            predecessors = np.argwhere(self.model.counts[:, :, s] > 0)  # [(s', a')]
            for s_prev, a_prev in predecessors:
                seen = self.model.counts[s_prev, a_prev, s]
                reward = self.model.reward_sums[s_prev, a_prev, s] / seen
                terminal = self.model.terminal[s_prev, a_prev, s]
                target = reward + self.config.gamma * (not terminal) * self.q[s].max()
                priority = abs(target - self.q[s_prev, a_prev])
                if priority > theta:
                    heapq.heappush(self.queue, (-priority, int(s_prev), int(a_prev)))

    # ----- the check: is the greedy policy optimal where it goes? ---------------------------
    def exact_model(self) -> TabularMDP:
        """The env's exact model now (a maze's changes once)."""
        changed = False
        if self.config.env in MAZES:
            maze = self.env.env.unwrapped
            changed = maze.total_steps >= maze.change_at
        if changed not in self._models:
            self._models[changed] = (maze_mdp(self.config.env, changed) if self.config.env in MAZES
                                     else make_tabular_mdp(self.config.env, **self.env_kwargs()))
        return self._models[changed]

    def greedy_is_optimal(self) -> bool:
        """Whether the greedy policy of Q takes an optimal action (value iteration) in every
        state it reaches from the start states."""
        mdp = self.exact_model()
        key = id(mdp)
        if key not in self._optimal:
            self._optimal = {key: value_iteration(mdp, self.config.gamma).optimal_actions(1e-6)}
        optimal = self._optimal[key]
        greedy = self.q.argmax(axis=1)
        reached = mdp.initial_distribution > 0
        frontier = reached.copy()
        while frontier.any():
            states = np.flatnonzero(frontier)
            outcomes = mdp.outcome_probs[states, greedy[states]] > 0
            following = mdp.next_states[states, greedy[states]][
                outcomes & ~mdp.terminated[states, greedy[states]]]
            frontier = np.zeros_like(reached)
            frontier[following] = True
            frontier &= ~reached
            reached |= frontier
        return bool(optimal[np.flatnonzero(reached), greedy[reached]].all())

    # ----- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        model = self.model
        return {"q": torch.from_numpy(self.q), "counts": torch.from_numpy(model.counts),
                "reward_sums": torch.from_numpy(model.reward_sums),
                "terminal": torch.from_numpy(model.terminal),
                "last_tried": torch.from_numpy(model.last_tried), "queue": self.queue,
                "rng": self.rng.bit_generator.state, "episode": self.episode,
                "saved_at": self.saved_at, "cumulative_reward": self.cumulative_reward,
                "maze_steps": getattr(self.env.env.unwrapped, "total_steps", 0)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        model = self.model
        self.q = state["q"].numpy().copy()
        model.counts, model.reward_sums = state["counts"].numpy().copy(), \
            state["reward_sums"].numpy().copy()
        model.terminal = state["terminal"].numpy().copy()
        model.last_tried = state["last_tried"].numpy().copy()
        self.queue = [tuple(item) for item in state["queue"]]
        self.rng.bit_generator.state = state["rng"]
        self.episode, self.saved_at = int(state["episode"]), int(state["saved_at"])
        self.cumulative_reward = float(state["cumulative_reward"])
        if hasattr(self.env.env.unwrapped, "total_steps"):
            self.env.env.unwrapped.total_steps = int(state["maze_steps"])

    def curve(self) -> list[dict[str, float]]:
        return self.folder.read("steps")


def first_optimal_step(rows: list[dict[str, float]]) -> int | None:
    """The first evaluation step from which the greedy policy stays optimal."""
    for index, row in enumerate(rows):
        if all(r["greedy_optimal"] for r in rows[index:]):
            return int(row["env_steps"])
    return None
