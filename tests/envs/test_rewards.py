"""Every task's batched reward/termination fns reproduce the environment's own on real data."""

import numpy as np
import pytest
import torch

from mbrl.data import RandomPolicy, ReplayBuffer, collect
from mbrl.envs import list_tasks, make_task

NUM_TRANSITIONS = 1000


@pytest.fixture(scope="module", params=list_tasks())
def task_and_data(request):
    task = make_task(request.param)
    env = task.make_env()
    buffer = ReplayBuffer(NUM_TRANSITIONS, task.obs_dim, task.act_dim, dtype=np.float64)
    collect(env, RandomPolicy(env.action_space, seed=0), steps=NUM_TRANSITIONS, buffer=buffer,
            seed=0)
    env.close()
    return task, buffer.get()


def test_reward_fn_matches_env(task_and_data):
    task, batch = task_and_data
    data = batch.to_torch(dtype=torch.float64)
    predicted = task.reward_fn(data["obs"], data["act"], data["next_obs"]).numpy()
    assert predicted.shape == (NUM_TRANSITIONS,)
    error = np.abs(predicted - batch.rew)
    tolerance = np.maximum(1e-4, 1e-5 * np.abs(batch.rew))
    worst = int(np.argmax(error - tolerance))
    assert (error <= tolerance).all(), (
        f"{task.name}: reward_fn off by {error[worst]:.3g} at transition {worst} "
        f"(env {batch.rew[worst]:.6g}, fn {predicted[worst]:.6g})")


def test_termination_fn_matches_env(task_and_data):
    task, batch = task_and_data
    predicted = task.termination_fn(torch.as_tensor(batch.next_obs)).numpy()
    assert predicted.dtype == np.bool_ and predicted.shape == (NUM_TRANSITIONS,)
    np.testing.assert_array_equal(predicted, batch.terminated)


def test_spec_spaces_match_env():
    for name in list_tasks():
        task = make_task(name)
        env = task.make_env()
        obs, _ = env.reset(seed=0)
        assert obs.shape == (task.obs_dim,), name
        assert env.spec.max_episode_steps == task.max_episode_steps, name
        env.close()


def test_unknown_task_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task 'Nope-v0'.*known tasks"):
        make_task("Nope-v0")


def test_random_data_exercises_termination(task_and_data):
    """Tasks that can terminate do so within the random data (so the test above has teeth),
    except MountainCar, whose goal a random policy never reaches (tested separately)."""
    task, batch = task_and_data
    from mbrl.envs.rewards import never_terminates

    if task.termination_fn is never_terminates or task.name == "MountainCarContinuous-v0":
        return
    assert batch.terminated.any(), f"{task.name}: no termination in {NUM_TRANSITIONS} steps"


def test_mountain_car_goal_reward_and_termination():
    task = make_task("MountainCarContinuous-v0")
    env = task.make_env()
    env.reset(seed=0)
    env.unwrapped.state = np.array([0.44, 0.05], dtype=np.float32)
    obs = env.unwrapped.state.copy()
    action = np.array([0.7], dtype=np.float32)
    next_obs, reward, terminated, _, _ = env.step(action)
    assert terminated
    to_t = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float64))[None]  # noqa: E731
    assert task.termination_fn(to_t(next_obs)).item()
    predicted = task.reward_fn(to_t(obs), to_t(action), to_t(next_obs)).item()
    assert predicted == pytest.approx(reward, abs=1e-5)
