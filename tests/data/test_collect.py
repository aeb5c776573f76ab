import gymnasium as gym
import numpy as np
import pytest

from mbrl.data import ReplayBuffer, collect
from mbrl.envs import make_task
from mbrl.policies import RandomPolicy


def test_collect_episodes_single_env_stats_match_buffer():
    task = make_task("CartPole-v1")
    env = task.make_env()
    buffer = ReplayBuffer(10_000, task.obs_dim, task.act_dim)
    result = collect(env, RandomPolicy(env.action_space, seed=0), episodes=5, buffer=buffer,
                     seed=0)
    assert len(result.episode_returns) == 5
    assert result.steps == len(buffer) == sum(result.episode_lengths)
    assert buffer.get().terminated.sum() == 5  # random CartPole always falls
    np.testing.assert_allclose(result.episode_returns, result.episode_lengths)


def test_collect_vector_env_stores_no_reset_transitions():
    task = make_task("CartPole-v1")
    env = task.make_vector_env(3)
    buffer = ReplayBuffer(10_000, task.obs_dim, task.act_dim)
    result = collect(env, RandomPolicy(env.single_action_space, seed=0), steps=300,
                     buffer=buffer, seed=0)
    batch = buffer.get()
    assert result.steps == len(buffer) >= 300
    # every finished episode ends in exactly one stored terminal transition
    assert batch.terminated.sum() == len(result.episode_returns)
    # a stored reset step would carry reward 0 (CartPole pays 1 on every real step)
    assert (batch.rew == 1.0).all()
    assert not np.all(batch.obs == batch.next_obs, axis=1).any()
    np.testing.assert_allclose(result.episode_returns, result.episode_lengths)


def test_next_step_autoreset_is_refused():
    env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync",
                       vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP})
    with pytest.raises(ValueError, match="same-step autoreset"):
        collect(env, RandomPolicy(env.single_action_space), steps=4)


def test_collect_needs_exactly_one_limit():
    env = make_task("Pendulum-v1").make_env()
    with pytest.raises(ValueError, match="exactly one"):
        collect(env, RandomPolicy(env.action_space), steps=5, episodes=1)
