"""Reward-only observation dims (the root x of the locomotion tasks) reach the reward but no
learned network: every learner's output is the same for observations that differ only there."""

import numpy as np
import pytest
import torch

from mbrl.agents.networks import ActorCritic
from mbrl.agents.sac import SAC, SACConfig
from mbrl.algorithms.dagger import StudentConfig, StudentPolicy
from mbrl.algorithms.models import DynamicsModelConfig, ModelKind, build_dynamics_model
from mbrl.envs import make_task
from mbrl.models.tdmpc import TDMPCModel, TDMPCModelConfig
from mbrl.models.value import StateValue
from mbrl.nn import ObservationInput

TASK = make_task("HalfCheetah-v5")


def _observations(seed: int = 0, rows: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Observations ``[rows, S]`` and the same with the root x moved by up to 300 m."""
    generator = torch.Generator().manual_seed(seed)
    obs = torch.randn(rows, TASK.obs_dim, generator=generator)
    moved = obs.clone()
    moved[:, 0] += 300.0 * torch.rand(rows, generator=generator)
    return obs, moved


def test_the_input_leaves_out_the_ignored_dims_and_names_bad_ones():
    obs = torch.arange(10.0).reshape(2, 5)
    assert torch.equal(ObservationInput(5, (0, 3))(obs), obs[:, [1, 2, 4]])
    assert ObservationInput(5).forward(obs) is obs
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        ObservationInput(5, (5,))
    with pytest.raises(ValueError, match="no input"):
        ObservationInput(2, (0, 1))


@pytest.mark.parametrize("name", ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"])
def test_locomotion_rewards_depend_on_x_only_through_its_change(name):
    """What makes leaving x out of the networks lossless: shifting x in both observations of a
    transition leaves the task's reward and termination as they were."""
    task = make_task(name)
    assert task.reward_only_dims == (0,)
    generator = torch.Generator().manual_seed(1)
    obs = torch.randn(8, task.obs_dim, generator=generator)
    next_obs = obs + 0.05 * torch.randn(8, task.obs_dim, generator=generator)
    act = torch.rand(8, task.act_dim, generator=generator) * 2 - 1
    shift = torch.zeros(task.obs_dim)
    shift[0] = 123.0
    torch.testing.assert_close(task.reward_fn(obs + shift, act, next_obs + shift),
                               task.reward_fn(obs, act, next_obs), atol=1e-3, rtol=0)
    assert torch.equal(task.termination_fn(next_obs + shift), task.termination_fn(next_obs))


def test_sac_acts_and_values_alike_wherever_x_is():
    agent = SAC(TASK.observation_space, TASK.action_space, SACConfig(hidden=(16,)),
                torch.Generator().manual_seed(0), TASK.reward_only_dims)
    obs, moved = _observations()
    np.testing.assert_array_equal(agent.act(obs.numpy(), deterministic=True),
                                  agent.act(moved.numpy(), deterministic=True))
    act = torch.zeros(len(obs), TASK.act_dim)
    assert torch.equal(agent.q_values(agent.obs_input(obs), act),
                       agent.q_values(agent.obs_input(moved), act))


def test_on_policy_networks_and_students_ignore_x():
    obs, moved = _observations()
    policy = ActorCritic(TASK.observation_space, TASK.action_space, (16,),
                         normalize_observations=True, ignored_obs_dims=TASK.reward_only_dims)
    policy.obs_normalizer.update(policy.obs_input(moved))
    assert torch.equal(policy.value(obs), policy.value(moved))
    assert torch.equal(policy.distribution(obs).mean, policy.distribution(moved).mean)
    student = StudentPolicy(TASK, StudentConfig(hidden=(16,)))
    assert torch.equal(student(obs), student(moved))


@pytest.mark.parametrize("kind", [ModelKind.ensemble, ModelKind.mlp])
def test_dynamics_models_predict_the_same_change_wherever_x_is(kind, tmp_path):
    config = DynamicsModelConfig(kind=kind, hidden_size=16, num_layers=2, ensemble_size=2,
                                 num_elites=2)
    model = build_dynamics_model(config, TASK)
    obs, moved = _observations()
    act = torch.rand(len(obs), TASK.act_dim)
    model.fit_normalizers(moved, act, moved + 0.1)

    def step(model, start):
        if kind == ModelKind.ensemble:
            return model.sample_next(0, start, act, None)
        return model(start, act)

    torch.testing.assert_close(step(model, moved) - moved, step(model, obs) - obs)
    model.save(tmp_path / "model.pt")
    loaded = type(model).load(tmp_path / "model.pt")
    assert loaded.obs_input.ignored == (0,)
    torch.testing.assert_close(step(loaded, obs), step(model, obs))


def test_the_value_and_the_tdmpc_encoder_ignore_x():
    obs, moved = _observations()
    value = StateValue(TASK.obs_dim, hidden_size=16, ignored_obs_dims=TASK.reward_only_dims)
    assert torch.equal(value(obs), value(moved))
    model = TDMPCModel(TASK.obs_dim, TASK.action_space, TDMPCModelConfig(hidden=(16,)),
                       terminates=False, ignored_obs_dims=TASK.reward_only_dims)
    assert torch.equal(model.encode(obs), model.encode(moved))
