import pytest
import torch

from mbrl.data import collect
from mbrl.data.buffer import ReplayBuffer
from mbrl.models.model_env import ModelEnv
from mbrl.policies import RandomPolicy
from planners import NonFiniteModelOutput


def counter_env(**kwargs):
    return ModelEnv(lambda s, a: s + a, lambda s, a, n: n[:, 0],
                    termination_fn=lambda n: n[:, 0] >= 2.0, **kwargs)


def test_steps_a_batch_and_ended_rows_stay_ended_without_restart():
    env = counter_env()
    obs = env.reset(torch.tensor([[0.0], [1.5]]))
    assert obs.tolist() == [[0.0], [1.5]]
    step = env.step(torch.ones(2, 1))
    assert step.next_obs.tolist() == [[1.0], [2.5]] and step.rewards.tolist() == [1.0, 2.5]
    assert step.terminated.tolist() == [False, True] and step.live.all()
    step = env.step(torch.ones(2, 1))
    assert step.live.tolist() == [True, False]
    assert step.rewards.tolist() == [2.0, 0.0] and step.terminated.tolist() == [True, False]
    assert env.episodes.pop() == ([2.5, 3.0], [1, 2])


def test_restart_gives_fresh_start_states_and_max_steps_truncates():
    env = counter_env(restart=lambda n: torch.full((n, 1), -10.0), max_steps=3)
    env.reset(torch.tensor([[1.5], [0.0]]))
    first = env.step(torch.ones(2, 1))
    assert first.terminated.tolist() == [True, False]
    assert env.obs.tolist() == [[-10.0], [1.0]]  # row 0 restarted at once
    env.step(torch.zeros(2, 1))
    third = env.step(torch.zeros(2, 1))
    assert third.truncated.tolist() == [False, True] and third.live.all()
    assert env.obs[1].item() == -10.0


def test_collect_rolls_a_policy_through_the_model_into_a_buffer():
    import gymnasium as gym
    env = counter_env()
    env.reset(torch.zeros(4, 1))
    buffer = ReplayBuffer(100, 1, 1)
    policy = RandomPolicy(gym.spaces.Box(0.9, 1.0, (1,)), seed=0)
    result = collect(env, policy, steps=12, buffer=buffer)
    assert len(buffer) == result.steps >= 12
    assert buffer.get().terminated.sum() == 4 == len(result.episode_returns)


def test_non_finite_predictions_are_reported_and_bad_input_refused():
    env = ModelEnv(lambda s, a: s / a, lambda s, a, n: n[:, 0])
    env.reset(torch.ones(3, 1))
    with pytest.raises(NonFiniteModelOutput, match="dynamics returned NaN/Inf for 1 of 3 rows "
                                                   "at model step 0"):
        env.step(torch.tensor([[1.0], [0.0], [2.0]]))
    with pytest.raises(RuntimeError, match="reset"):
        counter_env().step(torch.ones(1, 1))
    with pytest.raises(ValueError, match=r"\[N, S\]"):
        counter_env().reset(torch.ones(3))
    env = counter_env()
    env.reset(torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"actions must be \[2, A\]"):
        env.step(torch.ones(3, 1))
    with pytest.raises(ValueError, match="max_steps"):
        counter_env(max_steps=0)


def test_imagined_rollout_gives_an_on_policy_rollout_through_the_model():
    import gymnasium as gym

    from mbrl.agents import ActorCritic, RolloutCollector
    from mbrl.models.rollouts import branched_rollouts, imagined_rollout

    restarting = counter_env(restart=lambda n: torch.zeros(n, 1))
    policy = ActorCritic(gym.spaces.Box(-5, 5, (1,)), gym.spaces.Box(0.5, 1.0, (1,)), (8,))
    collector = RolloutCollector(restarting, policy, torch.Generator().manual_seed(0))
    rollout = imagined_rollout(collector, torch.zeros(3, 1), steps=6)
    assert rollout.rewards.shape == (6, 3) and rollout.terminated.any()
    assert torch.isfinite(rollout.log_probs).all()
    with pytest.raises(ValueError, match="restart"):
        branched_rollouts(restarting, RandomPolicy(gym.spaces.Box(0, 1, (1,))),
                          torch.zeros(2, 1), 3, ReplayBuffer(10, 1, 1))
