import pytest
import torch

from mbrl.models.model_env import ModelEnv
from planners import NonFiniteModelOutput


def counter_env():
    return ModelEnv(lambda s, a: s + a, lambda s, a, n: n[:, 0],
                    termination_fn=lambda n: n[:, 0] >= 2.0)


def test_steps_a_batch_and_freezes_terminated_rows():
    env = counter_env()
    obs = env.reset(torch.tensor([[0.0], [1.5]]))
    assert obs.tolist() == [[0.0], [1.5]]
    next_obs, rewards, done = env.step(torch.ones(2, 1))
    assert next_obs.tolist() == [[1.0], [2.5]] and rewards.tolist() == [1.0, 2.5]
    assert done.tolist() == [False, True]
    next_obs, rewards, done = env.step(torch.ones(2, 1))
    assert next_obs.tolist() == [[2.0], [2.5]]  # the terminated row stays put
    assert rewards.tolist() == [2.0, 0.0] and done.tolist() == [True, True]


def test_non_finite_predictions_are_reported_and_bad_input_refused():
    env = ModelEnv(lambda s, a: s / a, lambda s, a, n: n[:, 0])
    env.reset(torch.ones(3, 1))
    with pytest.raises(NonFiniteModelOutput, match="dynamics returned NaN/Inf for 1 of 3 rows "
                                                   "at model step 0"):
        env.step(torch.tensor([[1.0], [0.0], [2.0]]))
    with pytest.raises(RuntimeError, match="reset"):
        counter_env().step(torch.ones(1, 1))
    with pytest.raises(ValueError, match=r"\[B, S\]"):
        counter_env().reset(torch.ones(3))
    env = counter_env()
    env.reset(torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"actions must be \[2, A\]"):
        env.step(torch.ones(3, 1))
