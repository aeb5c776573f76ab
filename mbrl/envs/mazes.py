"""The changing-world mazes of Sutton and Barto (2018, §8.3, Figures 8.4 and 8.5): a 6 x 9 grid,
start at the bottom, goal at the top right, reward 1 on reaching the goal (the episode ends and
the next starts), 0 otherwise; a wall across the fourth row moves after ``change_at`` steps
(counted over all episodes of the env).

- ``BlockingMaze``: the gap at the right end of the wall closes and one opens at the left end,
  so the short path a model learned is blocked;
- ``ShortcutMaze``: the gap is at the left end, and a second one opens at the right end, a
  shortcut a model that never sees it change cannot know of.

Registered with gymnasium as ``mbrl/BlockingMaze-v0`` and ``mbrl/ShortcutMaze-v0``; their exact
models are :func:`maze_mdp`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

ROWS, COLS = 6, 9
START, GOAL = (5, 3), (0, 8)
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left
WALL_ROW = 3
# wall columns on the fourth row, before and after the change
LAYOUTS = {"BlockingMaze": (range(0, 8), range(1, 9), 1000),
           "ShortcutMaze": (range(1, 9), range(1, 8), 3000)}


class ChangingMaze(gym.Env):
    """A grid maze whose wall changes once; observations are cell indices ``row * 9 + col``."""

    metadata = {"render_modes": []}

    def __init__(self, kind: str = "BlockingMaze", change_at: int | None = None) -> None:
        if kind not in LAYOUTS:
            raise ValueError(f"kind must be one of {sorted(LAYOUTS)}, got {kind!r}")
        before, after, default_change = LAYOUTS[kind]
        self.walls = (frozenset(before), frozenset(after))
        self.change_at = default_change if change_at is None else int(change_at)
        self.observation_space = gym.spaces.Discrete(ROWS * COLS)
        self.action_space = gym.spaces.Discrete(len(MOVES))
        self.total_steps = 0
        self._cell = START

    @property
    def wall(self) -> frozenset[int]:
        """Wall columns of the fourth row now."""
        return self.walls[self.total_steps >= self.change_at]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self._cell = START
        return _index(START), {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        self._cell = move(self._cell, int(action), self.wall)
        self.total_steps += 1
        done = self._cell == GOAL
        return _index(self._cell), float(done), done, False, {}


def move(cell: tuple[int, int], action: int, wall: frozenset[int]) -> tuple[int, int]:
    """The cell ``action`` leads to from ``cell`` (staying put at the border and the wall)."""
    row, col = cell[0] + MOVES[action][0], cell[1] + MOVES[action][1]
    if not (0 <= row < ROWS and 0 <= col < COLS) or (row == WALL_ROW and col in wall):
        return cell
    return row, col


def _index(cell: tuple[int, int]) -> int:
    return cell[0] * COLS + cell[1]


def maze_mdp(kind: str, changed: bool) -> Any:
    """The exact model of a maze before (``changed=False``) or after its change, as a
    :class:`~mbrl.envs.tabular.TabularMDP` (for value iteration)."""
    from mbrl.envs.tabular import TabularMDP

    wall = frozenset(LAYOUTS[kind][1 if changed else 0])
    shape = (ROWS * COLS, len(MOVES), 1)
    next_states, rewards = np.zeros(shape, np.int64), np.zeros(shape)
    terminated = np.zeros(shape, bool)
    for row in range(ROWS):
        for col in range(COLS):
            for action in range(len(MOVES)):
                target = move((row, col), action, wall)
                state = _index((row, col))
                next_states[state, action, 0] = _index(target)
                rewards[state, action, 0] = terminated[state, action, 0] = target == GOAL
    initial = np.zeros(ROWS * COLS)
    initial[_index(START)] = 1.0
    return TabularMDP(np.ones(shape), next_states, rewards, terminated, initial)


for _kind in LAYOUTS:
    if f"mbrl/{_kind}-v0" not in gym.registry:
        gym.register(id=f"mbrl/{_kind}-v0", entry_point=ChangingMaze, kwargs={"kind": _kind})
