"""TD-MPC's latent model: simplicial latents, masked window losses, TD targets, the latent
problem for every population planner, and learning on a known system."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mbrl.data import ReplayBuffer
from mbrl.models.tdmpc import SimNorm, TDMPCModel, TDMPCModelConfig, random_shift
from planners import CEM, ICEM, MPPI, RandomShooting

SPACE = gym.spaces.Box(-2.0, 2.0, (2,), np.float32)


def _model(terminates=True, hidden=(32,)) -> TDMPCModel:
    torch.manual_seed(0)
    config = TDMPCModelConfig(latent_dim=16, hidden=hidden)
    return TDMPCModel(3, SPACE, config, terminates)


def _windows(batch=8, horizon=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(batch, horizon, 3, generator=g)
    return {"obs": obs, "actions": torch.rand(batch, horizon, 2, generator=g) * 4 - 2,
            "rewards": torch.randn(batch, horizon, generator=g),
            "next_obs": torch.randn(batch, horizon, 3, generator=g),
            "terminated": torch.zeros(batch, horizon, dtype=torch.bool),
            "valid": torch.ones(batch, horizon, dtype=torch.bool)}


def _loss(model, data, seed=1):
    return model.loss(data["obs"], data["actions"], data["rewards"], data["next_obs"],
                      data["terminated"], data["valid"], 0.9, torch.Generator().manual_seed(seed))


def test_simnorm_puts_each_group_on_a_simplex():
    z = SimNorm(4)(torch.randn(5, 12) * 10)
    groups = z.view(5, 3, 4)
    assert (groups >= 0).all()
    torch.testing.assert_close(groups.sum(-1), torch.ones(5, 3))
    assert torch.equal(SimNorm(0)(z), z)


def test_steps_after_an_episode_end_carry_no_loss():
    model, data = _model(), _windows()
    data["valid"][:, 2:] = False
    loss, latents, terms = _loss(model, data)
    changed = {k: v.clone() for k, v in data.items()}
    changed["rewards"][:, 2:] += 100.0  # another episode's data beyond the end
    changed["next_obs"][:, 2:] += 5.0
    changed["actions"][:, 2:] = -changed["actions"][:, 2:]
    assert latents.shape == (4, 8, 16)
    torch.testing.assert_close(_loss(model, changed)[0], loss)
    changed["rewards"][:, 1] += 1.0  # but the valid steps count
    assert _loss(model, changed)[2]["reward_loss"] > terms["reward_loss"] + 1e-2


def test_the_td_target_stops_at_a_termination():
    """With every step terminating, the critics' target is the reward alone: their loss equals
    sum_i (Q_i - r)^2 computed by hand."""
    model, data = _model(), _windows(horizon=1)
    data["terminated"][:] = True
    _, _, terms = _loss(model, data)
    z = model.encode(data["obs"][:, 0])
    q = model.q(z, data["actions"][:, 0])
    expected = (q - data["rewards"][:, 0]).square().sum(0).mean().detach()
    assert terms["value_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_the_continuation_head_is_trained_only_for_terminating_tasks():
    data = _windows()
    assert _loss(_model(terminates=False), data)[2]["continuation_loss"] == 0.0
    assert _loss(_model(terminates=True), data)[2]["continuation_loss"] > 0.0


def test_the_planning_return_is_weighted_by_the_predicted_survival():
    """One step from z with survival probability q = sigmoid(c(z')): the problem's return is
    R(z, a) + gamma q Q(z', pi(z')); without termination, R + gamma Q."""
    for terminates in (True, False):
        model = _model(terminates=terminates)
        problem = model.problem(1, 0.9, 0, torch.Generator())
        obs, action = torch.randn(1, 3), torch.tensor([[0.5, -1.0]])
        state = model.planning_state(obs)
        assert state.shape == (1, 16 + terminates)
        z = model.encode(obs)
        z_next = model.next(z, action)
        survival = torch.sigmoid(model.continuation_logit(z_next)) if terminates else 1.0
        value = model.q(z_next, model.actor.deterministic(z_next)).mean(0)
        expected = model.reward(z, action) + 0.9 * survival * value
        with torch.no_grad():
            got = problem.evaluate(state[0], action[None])
        torch.testing.assert_close(got, expected.detach())


@pytest.mark.parametrize("planner", [
    RandomShooting(num_samples=16, seed=0), CEM(population=16, elites=4, iterations=2, seed=0),
    ICEM(population=16, elites=4, iterations=2, seed=0),
    MPPI(num_samples=16, iterations=2, seed=0)], ids=lambda p: type(p).__name__)
def test_the_latent_problem_is_planned_by_every_population_planner(planner):
    model = _model()
    problem = model.problem(4, 0.9, 6, torch.Generator().manual_seed(0))
    z = model.planning_state(torch.randn(1, 3))[0]
    proposals = problem.proposed(z)
    assert proposals.shape == (6, 4, 2)
    assert (proposals.abs() <= 2.0).all()
    with torch.no_grad():
        plan = planner.plan(z, problem)
    assert plan.actions.shape == (4, 2) and (plan.actions.abs() <= 2.0).all()
    assert np.isfinite(plan.expected_return)
    with pytest.raises(ValueError, match="S = 17"):
        planner.plan(torch.zeros(3), problem)  # an observation is not a latent state


def test_the_model_learns_a_linear_system_with_its_rewards():
    """s' = 0.9 s + 0.1 [a, 0], r = -|s|^2: the reward loss (of rewards predicted from latents
    unrolled up to 3 steps) falls 20x, the TD loss 5x."""
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(4000, 3, 2)
    s = rng.normal(size=3)
    for t in range(4000):
        a = rng.uniform(-2, 2, size=2)
        s_next = 0.9 * s + 0.1 * np.concatenate([a, [0.0]])
        buffer.add(s, a, -float(s @ s), s_next, False, t % 50 == 49)
        s = rng.normal(size=3) if t % 50 == 49 else s_next
    model = _model(terminates=False, hidden=(32, 32))
    optimizer = model.optimizers()["model"]
    first = last = None
    for _ in range(400):
        windows, valid = buffer.sample_sequences(64, 3, rng)
        data = windows.to_torch()
        loss, _, terms = model.loss(data["obs"], data["act"], data["rew"], data["next_obs"],
                                    data["terminated"], torch.as_tensor(valid), 0.9)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.update_targets()
        first = first or terms
        last = terms
    assert last["reward_loss"] < first["reward_loss"] / 20
    assert last["value_loss"] < first["value_loss"] / 5


def test_bad_model_settings_are_named():
    with pytest.raises(ValueError, match="multiple of simnorm_group"):
        TDMPCModelConfig(latent_dim=10, simnorm_group=4).validate()
    with pytest.raises(ValueError, match="rho and tau"):
        TDMPCModelConfig(rho=0.0).validate()


def test_frames_go_through_a_conv_encoder_and_other_shapes_are_refused():
    torch.manual_seed(0)
    config = TDMPCModelConfig(latent_dim=16, hidden=(32,), channels=(4, 4, 8, 8))
    model = TDMPCModel((9, 64, 64), SPACE, config, terminates=False)
    frames = torch.randint(0, 256, (5, 9, 64, 64), dtype=torch.uint8)
    z = model.encode(frames)
    assert z.shape == (5, 16)
    torch.testing.assert_close(model.encode(frames.float()), z)  # buffer floats of 0-255 too
    with pytest.raises(ValueError, match=r"frames \[C, 64, 64\]"):
        TDMPCModel((3, 32, 32), SPACE, config, terminates=False)


def test_random_shift_moves_each_frame_by_its_own_offset_within_the_padding():
    frames = torch.arange(4 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 2, 3, 8, 8)
    shifted = random_shift(frames, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == frames.shape
    offsets = []
    for frame, out in zip(frames.reshape(-1, 3, 8, 8), shifted.reshape(-1, 3, 8, 8),
                          strict=True):
        padded = torch.nn.functional.pad(frame[None], (2, 2, 2, 2), mode="replicate")[0]
        offsets.append(next((i, j) for i in range(5) for j in range(5)
                            if torch.equal(padded[:, i:i + 8, j:j + 8], out)))
    assert len(set(offsets)) > 1  # frames are shifted independently
    assert torch.equal(random_shift(frames, 2, torch.Generator().manual_seed(0)), shifted)
