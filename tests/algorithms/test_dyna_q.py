"""Tabular Dyna: optimal policies against value iteration, the changing mazes, resume, errors."""

import gymnasium as gym
import numpy as np
import pytest

from mbrl.algorithms.dyna_q import DynaQConfig, DynaQRun, TabularModel, first_optimal_step
from mbrl.envs.mazes import GOAL, START, maze_mdp
from mbrl.envs.tabular import value_iteration


def dyna(tmp_path, **settings):
    return DynaQConfig(output_dir=str(tmp_path), progress=False, **settings)


@pytest.mark.parametrize("planning", ["dyna_q", "dyna_q_plus", "prioritized_sweeping"])
def test_dyna_reaches_the_optimal_policy_on_deterministic_frozen_lake(tmp_path, planning):
    run = DynaQRun.start(dyna(tmp_path, env="FrozenLake-v1", planning=planning,
                              planning_steps=10, total_steps=3000, eval_every=100)).run()
    assert first_optimal_step(run.curve()) is not None, run.curve()[-3:]


def test_planning_needs_fewer_real_steps_than_q_learning(tmp_path):
    steps = {}
    for k in (0, 50):
        run = DynaQRun.start(dyna(tmp_path, env="CliffWalking-v1", planning_steps=k,
                                  total_steps=4000, eval_every=100)).run()
        steps[k] = first_optimal_step(run.curve())
    assert steps[50] is not None and (steps[0] is None or steps[0] >= 3 * steps[50]), steps


def test_the_model_keeps_outcome_counts_not_just_the_last_outcome():
    model = TabularModel(3, 1)
    for s_next, step in ((1, 1), (2, 2), (1, 3)):
        model.add(0, 0, float(s_next), s_next, False, step)
    s_next, rewards, _ = model.sample(np.zeros(3000, int), np.zeros(3000, int),
                                      np.random.default_rng(0))
    assert abs((s_next == 1).mean() - 2 / 3) < 0.03 and set(rewards) == {1.0, 2.0}


def test_the_mazes_change_their_wall_and_their_exact_models_agree():
    for kind, change in (("BlockingMaze", 1000), ("ShortcutMaze", 3000)):
        env = gym.make(f"mbrl/{kind}-v0")
        env.reset(seed=0)
        maze = env.unwrapped
        before = maze.wall
        maze.total_steps = change
        assert maze.wall != before
        lengths = [value_iteration(maze_mdp(kind, changed), 0.95).v[START[0] * 9 + START[1]]
                   for changed in (False, True)]
        assert lengths[0] != lengths[1]
    below_goal = (GOAL[0] + 1) * 9 + GOAL[1]
    assert maze_mdp("ShortcutMaze", True).rewards[below_goal, 0, 0] == 1.0  # up reaches it


def test_a_resumed_run_continues_identically(tmp_path):
    def config(root, steps):
        return dyna(root, env="Taxi-v4", planning_steps=5, total_steps=steps, eval_every=500,
                    checkpoint_every=500)

    full = DynaQRun.start(config(tmp_path / "a", 4000)).run()
    short = DynaQRun.start(config(tmp_path / "b", 2000)).run()
    resumed = DynaQRun.resume(short.folder.root, ["total_steps=4000"]).run()
    assert resumed.curve() == full.curve() and np.array_equal(resumed.q, full.q)


@pytest.mark.parametrize("setting,message", [
    ({"planning_steps": -1}, "planning_steps"), ({"alpha": 0.0}, "alpha"),
    ({"env": "Pong"}, "env must be one of"), ({"planning": "dyna_x"}, "not a valid Planning")])
def test_bad_settings_are_refused_before_a_folder_exists(tmp_path, setting, message):
    with pytest.raises(ValueError, match=message):
        DynaQRun.start(dyna(tmp_path, **setting))
    assert not list(tmp_path.iterdir())
