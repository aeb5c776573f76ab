import math

import numpy as np
import pytest
import torch

from planners import CEM, ICEM, MPC, MPPI, Problem, RandomShooting
from planners.noise import bounded_normal, coloured_noise


def double_integrator(horizon=20, num_particles=1, record=None):
    """Position/velocity to the origin; ``record`` collects (rows, actions) of every call."""

    def dynamics(states, actions):
        if record is not None:
            record.append(actions.clone())
        velocity = states[:, 1] + 0.1 * actions[:, 0]
        return torch.stack([states[:, 0] + 0.1 * velocity, velocity], dim=1)

    def reward(states, actions, next_states):
        return -next_states.square().sum(-1) - 0.01 * actions.square().sum(-1)

    return Problem(dynamics, reward, [-1.0], [1.0], horizon, num_particles=num_particles)


START = torch.tensor([1.0, 0.0])


@pytest.mark.parametrize("make", [
    lambda: CEM(200, 20, 5, seed=0), lambda: ICEM(200, 10, 4, seed=0),
    lambda: MPPI(200, noise_std=0.5, iterations=5, seed=0),
])
def test_iterative_planners_beat_random_shooting_at_equal_budget(make):
    problem = double_integrator()
    planner = make()
    plan = planner.plan(START, problem)
    shooting = RandomShooting(1000, seed=0).plan(START, problem)
    achieved = float(problem.evaluate(START, plan.actions[None])[0])
    assert achieved > shooting.expected_return + 0.3
    assert plan.actions.shape == (20, 1)
    again = make().plan(START, problem)
    torch.testing.assert_close(plan.actions, again.actions)  # seeded: same numbers


def test_cem_and_icem_report_the_return_of_the_returned_plan():
    problem = double_integrator()
    for planner in (CEM(100, 10, 3, seed=1), ICEM(100, 10, 3, seed=1),
                    CEM(100, 10, 3, return_mean=True, seed=1)):
        plan = planner.plan(START, problem)
        evaluated = float(problem.evaluate(START, plan.actions[None])[0])
        assert plan.expected_return == pytest.approx(evaluated, rel=1e-5)


def test_population_is_one_batched_call_per_step_and_inside_bounds():
    record = []
    problem = double_integrator(horizon=4, num_particles=3, record=record)
    CEM(50, 5, 2, init_std=3.0, seed=0).plan(START, problem)  # wide std: bounds must hold
    assert len(record) == 2 * 4  # iterations x horizon model calls
    assert all(actions.shape == (50 * 3, 1) for actions in record)
    assert all(((a >= -1) & (a <= 1)).all() for a in record)


def test_icem_population_decays_and_keeps_elites_across_steps():
    record = []
    problem = double_integrator(horizon=5, record=record)
    planner = ICEM(100, 10, 3, population_decay=2.0, keep_elites=0.5, seed=0)
    plan = planner.plan(START, problem)
    sizes = [a.shape[0] for a in record[::5]]
    assert sizes == [100, 50 + 5, 25 + 5 + 1]  # decayed population + kept elites (+ mean)
    planner.advance(2)
    record.clear()
    planner.plan(START, problem, warm_start=torch.cat([plan.actions[2:], plan.actions[-2:]]))
    assert record[0].shape[0] == 100 + 5 + 1  # last call's elites and the warm start join
    planner.reset()
    record.clear()
    planner.plan(START, problem)
    assert record[0].shape[0] == 100


def test_mppi_by_default_optimises_the_reward_and_the_control_cost_is_an_opt_in():
    problem = Problem(lambda s, a: s + a, lambda s, a, n: -(a[:, 0] - 0.3).square(),
                      [-1.0], [1.0], horizon=3)
    plan = MPPI(2000, noise_std=0.3, iterations=10, seed=0).plan(torch.zeros(1), problem)
    # the default optimises the return itself: the optimum is a = 0.3 (before the fix the
    # default control cost moved it to 0.3 / (1 + temperature / 0.18))
    torch.testing.assert_close(plan.actions, torch.full((3, 1), 0.3), atol=0.01, rtol=0)
    assert plan.expected_return == pytest.approx(
        float(problem.evaluate(torch.zeros(1), plan.actions[None])[0]))
    assert plan.expected_return > -1e-3
    # opted in (absolute temperature), the control cost acts like a penalty
    # (temperature / 2) u^T Sigma^-1 u: the optimum of -(u - 0.3)^2 - (0.01 / 2) u^2 / 0.09
    # is 0.3 / (1 + 0.01 / 0.18)
    penalised = MPPI(2000, temperature=0.01, noise_std=0.3, iterations=10, control_cost=True,
                     normalize=False, seed=0).plan(torch.zeros(1), problem)
    torch.testing.assert_close(penalised.actions, torch.full((3, 1), 0.3 / (1 + 0.01 / 0.18)),
                               atol=0.01, rtol=0)


def test_mppi_noise_settings_are_checked():
    with pytest.raises(ValueError, match="positive definite"):
        MPPI(noise_std=torch.tensor([[1.0, 2.0], [2.0, 1.0]]), noise_cov=True)
    with pytest.raises(ValueError, match="noise_std must be a positive"):
        MPPI(noise_std=-1.0)
    problem = double_integrator()
    with pytest.raises(ValueError, match="2 action dims, the problem has 1"):
        MPPI(noise_std=torch.tensor([0.1, 0.2])).plan(START, problem)
    full = MPPI(100, noise_std=torch.tensor([[0.04]]), noise_cov=True, seed=0)
    assert full.plan(START, problem).actions.shape == (20, 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"elites": 600}, "elites"), ({"smoothing": 1.0}, "smoothing"),
    ({"iterations": 0}, "iterations"), ({"min_std": 1.5}, "min_std"),
])
def test_bad_cem_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CEM(**{"population": 500, **kwargs})


def test_mpc_with_cem_stabilises_the_double_integrator():
    problem = double_integrator(horizon=15)
    policy = MPC(CEM(100, 10, 3, seed=0), problem)
    state = START.clone()
    for _ in range(60):
        action = torch.as_tensor(policy.act(state.numpy()))
        state = problem.dynamics(state[None], action[None])[0]
    assert state.abs().max() < 0.1


def test_bounded_normal_keeps_its_spread_at_a_bound_and_stays_inside():
    generator = torch.Generator().manual_seed(0)
    mean = torch.tensor([[-1.0, 0.0, 0.99]])
    samples = bounded_normal(mean, torch.full((1, 3), 0.5), torch.full((1, 3), -1.0),
                             torch.ones(1, 3), 4000, generator)
    assert samples.shape == (4000, 1, 3)
    assert ((samples >= -1) & (samples <= 1)).all()
    # a mean on the bound: half the samples on it, half inside with the full spread (before
    # the fix the std collapsed to 0 there and every sample sat on the bound)
    on_bound = (samples[..., 0] == -1.0).float().mean()
    assert 0.45 < on_bound < 0.55
    inside = samples[..., 0][samples[..., 0] > -1.0]
    assert (inside + 1.0).mean() == pytest.approx(0.5 * (2 / math.pi) ** 0.5, rel=0.1)
    assert samples[..., 1].std() == pytest.approx(0.5, rel=0.05)
    coloured = coloured_noise(2.0, 4000, 1, 3, generator).view(4000, 1, 3)
    assert bounded_normal(mean, torch.full((1, 3), 0.5), torch.full((1, 3), -1.0),
                          torch.ones(1, 3), 4000, generator, coloured).shape == (4000, 1, 3)
    with pytest.raises(ValueError, match="noise must be"):
        bounded_normal(mean, torch.ones(1, 3), torch.full((1, 3), -1.0), torch.ones(1, 3), 10,
                       generator, torch.zeros(5, 1, 3))


def point_away_from_the_warm_start():
    """x' = x + a, reward x': the optimum is a = +1 everywhere (return 1 + 2 + ... + 5 = 15)."""
    return Problem(lambda s, a: s + a, lambda s, a, n: n[:, 0], [-1.0], [1.0], 5)


@pytest.mark.parametrize("make", [lambda: CEM(seed=0), lambda: CEM(iterations=20, seed=0),
                                  lambda: ICEM(seed=0), lambda: MPPI(seed=0)])
def test_population_planners_leave_a_bound_the_warm_start_sits_on(make):
    """Warm-started at u = -1 (on the lower bound) with the best plan at u = +1: before the fix
    CEM and iCEM stayed on the bound (return -15) while random shooting found ~13."""
    problem = point_away_from_the_warm_start()
    plan = make().plan(torch.zeros(1), problem, warm_start=-torch.ones(5, 1))
    shooting = RandomShooting(seed=0).plan(torch.zeros(1), problem, warm_start=-torch.ones(5, 1))
    assert plan.expected_return > shooting.expected_return
    assert plan.expected_return > 15.0 * 0.99


@pytest.mark.parametrize("make", [lambda: CEM(seed=0), lambda: ICEM(seed=0),
                                  lambda: MPPI(seed=0)])
@pytest.mark.parametrize("warm", [None, 1.0])
def test_population_planners_concentrate_on_a_bang_bang_optimum(make, warm):
    """README example: s' = s + 0.1 a, reward -s'^2 from s = 2, H = 10: the optimum is u = -1
    everywhere. Before the fix, default CEM ended 15% off cold and 200% off warm-started at
    u = +1 (the opposite bound), where random shooting is 21% off."""
    problem = Problem(lambda s, a: s + 0.1 * a, lambda s, a, n: -n.square().sum(-1),
                      [-1.0], [1.0], 10)
    state = torch.tensor([2.0])
    optimum = float(problem.evaluate(state, -torch.ones(1, 10, 1))[0])
    warm_start = None if warm is None else torch.full((10, 1), warm)
    plan = make().plan(state, problem, warm_start)
    # returns are negative: within 0.1% cold, within 5% from the opposite bound
    assert plan.expected_return >= optimum * (1.001 if warm is None else 1.05)
    if warm is None:
        assert (plan.actions < -0.95).all()


def test_coloured_noise_has_unit_variance_and_more_memory_for_larger_beta():
    generator = torch.Generator().manual_seed(0)
    lag_correlation = []
    for beta in (0.0, 2.0):
        noise = coloured_noise(beta, 4000, 30, 2, generator)
        assert noise.shape == (4000, 30, 2)
        assert noise.var().item() == pytest.approx(1.0, abs=0.03)
        lag_correlation.append(float((noise[:, 1:] * noise[:, :-1]).mean()))
    assert abs(lag_correlation[0]) < 0.03 and lag_correlation[1] > 0.8


def test_mpc_executing_whole_plans_replans_from_the_last_action():
    """replan_every = horizon (open-loop plans, MBRL version 1.0) executes every action of a
    plan; the next plan is warm-started with its last action repeated (it once crashed with
    an empty remainder)."""
    problem = double_integrator(horizon=5)
    policy = MPC(CEM(50, 5, 2, seed=0), problem, replan_every=5)
    executed = [policy.act(START.numpy()) for _ in range(5)]
    first = policy.last_plan.actions
    assert torch.allclose(torch.tensor(np.array(executed)), first)
    torch.testing.assert_close(policy._shifted_plan(), first[-1:].expand(5, 1))
    policy.act(START.numpy())  # the second plan
    assert policy.last_plan.actions is not first
