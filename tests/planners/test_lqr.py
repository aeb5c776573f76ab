import dataclasses
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from planners import Problem
from planners.ilqr import ILQR
from planners.lqr import TimeVaryingLinearPolicy, infinite_horizon_lqr, solve_lqr

RNG = np.random.default_rng(0)
S, A, T = 4, 2, 20
A_MAT = RNG.normal(size=(S, S)) * 0.4 + np.eye(S)
B_MAT = RNG.normal(size=(S, A))
Q_MAT, R_MAT = np.eye(S), 0.1 * np.eye(A)
N_MAT = RNG.normal(size=(S, A)) * 0.05


def test_infinite_horizon_gain_matches_scipy_riccati_solver():
    K, P = infinite_horizon_lqr(A_MAT, B_MAT, Q_MAT, R_MAT, N_MAT)
    P_ref = scipy.linalg.solve_discrete_are(A_MAT, B_MAT, Q_MAT, R_MAT, s=N_MAT)
    K_ref = -np.linalg.solve(R_MAT + B_MAT.T @ P_ref @ B_MAT, B_MAT.T @ P_ref @ A_MAT + N_MAT.T)
    np.testing.assert_allclose(P, P_ref, atol=1e-8, rtol=0)
    np.testing.assert_allclose(K, K_ref, atol=1e-8, rtol=0)
    # a long finite horizon with the stationary terminal cost is stationary from the start
    finite = solve_lqr(A_MAT, B_MAT, Q_MAT, R_MAT, 50, N=N_MAT, Q_final=P_ref)
    np.testing.assert_allclose(finite.K[0], K_ref, atol=1e-8, rtol=0)


def test_time_varying_lqr_with_linear_terms_matches_brute_force_minimisation():
    horizon = 3
    A_t = RNG.normal(size=(horizon, S, S))
    B_t = RNG.normal(size=(horizon, S, A))
    q_t, r_t, d_t = RNG.normal(size=(horizon, S)), RNG.normal(size=(horizon, A)), RNG.normal(
        size=(horizon, S))
    x0 = RNG.normal(size=S)
    solution = solve_lqr(A_t, B_t, Q_MAT, R_MAT, horizon, N=N_MAT, q=q_t, r=r_t, d=d_t)

    def total_cost(u_flat):
        u, x, cost = u_flat.reshape(horizon, A), x0, 0.0
        for t in range(horizon):
            cost += 0.5 * x @ Q_MAT @ x + 0.5 * u[t] @ R_MAT @ u[t] + u[t] @ N_MAT.T @ x \
                + q_t[t] @ x + r_t[t] @ u[t]
            x = A_t[t] @ x + B_t[t] @ u[t] + d_t[t]
        return cost + 0.5 * x @ Q_MAT @ x

    optimum = scipy.optimize.minimize(total_cost, np.zeros(horizon * A), tol=1e-12).x
    x, controls = x0, []
    for t in range(horizon):
        controls.append(solution.K[t] @ x + solution.k[t])
        x = A_t[t] @ x + B_t[t] @ controls[-1] + d_t[t]
    np.testing.assert_allclose(np.concatenate(controls), optimum, atol=1e-5)


def test_lqr_rejects_bad_shapes_and_indefinite_control_cost():
    with pytest.raises(ValueError, match="B must be"):
        solve_lqr(A_MAT, np.zeros((3, S, A)), Q_MAT, R_MAT, 5)
    with pytest.raises(ValueError, match="not positive definite"):
        solve_lqr(A_MAT, B_MAT, Q_MAT, -np.eye(A), 5)


def linear_quadratic_problem(bound=1e6):
    A_t, B_t, Q_t, R_t = (torch.tensor(m) for m in (A_MAT, B_MAT, Q_MAT, R_MAT))
    return Problem(lambda x, u: x @ A_t.T + u @ B_t.T,
                   lambda x, u, n: -0.5 * ((x @ Q_t) * x).sum(-1) - 0.5 * ((u @ R_t) * u).sum(-1),
                   -bound * torch.ones(A, dtype=torch.float64),
                   bound * torch.ones(A, dtype=torch.float64), T,
                   terminal_value=lambda x: -0.5 * ((x @ Q_t) * x).sum(-1))


@pytest.mark.parametrize("derivatives, tolerance", [("autograd", 1e-8),
                                                     ("finite_differences", 1e-5)])
def test_ilqr_solves_a_linear_quadratic_problem_in_one_iteration(derivatives, tolerance):
    x0 = torch.tensor(RNG.normal(size=S))
    plan = ILQR(max_iterations=1, derivatives=derivatives).plan(x0, linear_quadratic_problem())
    solution = solve_lqr(A_MAT, B_MAT, Q_MAT, R_MAT, T)
    x, controls = x0.numpy(), []
    for t in range(T):
        controls.append(solution.K[t] @ x)
        x = A_MAT @ x + B_MAT @ controls[-1]
    np.testing.assert_allclose(plan.actions.numpy(), np.array(controls), atol=tolerance, rtol=0)
    policy = plan.diagnostics["policy"]
    np.testing.assert_allclose(policy.K.numpy(), solution.K, atol=tolerance, rtol=0)
    np.testing.assert_allclose(policy.covariance.numpy(), np.linalg.inv(solution.Quu), rtol=1e-6)
    # the policy reproduces the plan from the nominal start, and corrects a perturbed one
    assert np.allclose(policy.act(x0.numpy(), deterministic=True), plan.actions[0].numpy())


def test_ilqr_respects_control_limits_on_the_linear_quadratic_problem():
    x0 = torch.tensor(RNG.normal(size=S)) * 3
    plan = ILQR().plan(x0, linear_quadratic_problem(bound=0.5))
    assert plan.actions.abs().max() <= 0.5 + 1e-12
    assert (plan.actions.abs() > 0.5 - 1e-9).any()  # the limits are active
    unconstrained = ILQR().plan(x0, linear_quadratic_problem())
    assert plan.expected_return < unconstrained.expected_return
    # no better box-feasible sequence nearby: perturbations inside the box do not help
    problem = linear_quadratic_problem(bound=0.5)
    noise = torch.randn((200, T, A), generator=torch.Generator().manual_seed(0),
                        dtype=torch.float64) * 0.05
    returns = problem.evaluate(x0, (plan.actions + noise).clamp(-0.5, 0.5))
    assert returns.max() <= plan.expected_return + 1e-9


def test_ilqr_scores_with_the_problem_and_ignores_termination():
    x0 = torch.tensor(RNG.normal(size=S)) * 3
    problem = dataclasses.replace(linear_quadratic_problem(bound=0.5), discount=0.9)
    plan = ILQR(seed=0).plan(x0, problem)
    # the plan's return is the problem's own (discounted, with terminal value) evaluation
    assert plan.expected_return == pytest.approx(float(problem.evaluate(x0, plan.actions[None])[0]),
                                                 rel=1e-12)
    # a termination function does not change iLQR's smooth objective
    always = dataclasses.replace(problem, termination_fn=lambda n: torch.ones(len(n), dtype=bool))
    again = ILQR(seed=0).plan(x0, always)
    torch.testing.assert_close(again.actions, plan.actions, rtol=0, atol=0)
    assert again.expected_return == plan.expected_return
    # the dynamics' output is checked like in every other planner
    wrong = dataclasses.replace(problem, dynamics=lambda x, u: x[:, :2])
    with pytest.raises(ValueError, match="dynamics returned shape .* at planning step 0"):
        ILQR(seed=0).plan(x0, wrong)


def test_time_varying_linear_policy_noise_and_horizon():
    K = torch.zeros(2, 1, 2, dtype=torch.float64)
    policy = TimeVaryingLinearPolicy(torch.zeros(2, 2), torch.zeros(2, 1), K,
                                     torch.zeros(2, 1), torch.tensor([-5.0]), torch.tensor([5.0]),
                                     covariance=torch.full((2, 1, 1), 4.0),
                                     generator=torch.Generator().manual_seed(0))
    draws = []
    for _ in range(2000):
        policy.reset()
        draws.append(policy.act(np.zeros(2))[0])
    assert np.std(draws) == pytest.approx(2.0, rel=0.1)
    policy.act(np.zeros(2))
    with pytest.raises(IndexError, match="covers 2 steps"):
        policy.act(np.zeros(2))


def test_ilqr_swings_up_the_analytic_pendulum_within_torque_limits():
    from mbrl.envs.analytic import pendulum_dynamics
    from mbrl.envs.rewards import pendulum_reward

    problem = Problem(pendulum_dynamics, pendulum_reward, [-2.0], [2.0], 100)
    hanging = torch.tensor([-1.0, 0.0, 0.0], dtype=torch.float64)
    plan = ILQR(max_iterations=100, seed=1).plan(hanging, problem)
    final = plan.diagnostics["states"][-1]
    assert math.atan2(final[1], final[0]) == pytest.approx(0.0, abs=0.1)
    assert abs(final[2]) < 0.1
    assert plan.actions.abs().max() <= 2.0
    costs = plan.diagnostics["cost_history"]
    # every accepted step improved the cost
    assert all(b < a for a, b in zip(costs, costs[1:], strict=False))


def test_ilqr_swings_up_the_analytic_cartpole():
    from mbrl.envs.analytic import cartpole_dynamics

    def reward(s, a, n):
        return -(n[:, 0].square() + 2 * (1 - torch.cos(n[:, 2])) + 0.01 * n[:, 1].square()
                 + 0.01 * n[:, 3].square() + 0.01 * a[:, 0].square())

    problem = Problem(cartpole_dynamics, reward, [-1.0], [1.0], 150)
    plan = ILQR(max_iterations=200, seed=0).plan(
        torch.tensor([0.0, 0.0, math.pi, 0.0], dtype=torch.float64), problem)
    final = plan.diagnostics["states"][-1]
    assert math.cos(final[2]) > 0.99 and abs(final[0]) < 0.1 and abs(final[3]) < 0.1
    assert plan.actions.abs().max() <= 1.0


def test_mpc_around_ilqr_swings_up_the_real_pendulum():
    import gymnasium as gym

    from mbrl.envs.analytic import pendulum_dynamics
    from mbrl.envs.rewards import pendulum_reward
    from planners import MPC

    problem = Problem(pendulum_dynamics, pendulum_reward, [-2.0], [2.0], 40)
    policy = MPC(ILQR(max_iterations=5, seed=0), problem)
    env = gym.make("Pendulum-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([math.pi, 0.0])  # hanging straight down, at rest
    obs = env.unwrapped._get_obs()
    for _ in range(100):
        obs, *_ = env.step(policy.act(obs))
    assert obs[0] > 0.99 and abs(obs[2]) < 0.5  # upright and nearly still


def test_ilqr_names_a_reward_of_the_wrong_shape():
    """A reward that is [B] for batches but squeezes a single row to a scalar passes the
    batched rollout and used to fail inside iLQR's derivatives with torch's "invalid index of
    a 0-dim tensor"."""
    def squeezing_reward(x, u, n):
        return -n.square().sum(-1, keepdim=True).squeeze()

    problem = Problem(lambda x, u: x + 0.1 * u, squeezing_reward, [-1.0], [1.0], 5)
    with pytest.raises(ValueError, match=r"reward_fn returned shape \(\) for a batch of one "
                                         r"transition, expected \(1,\)"):
        ILQR(max_iterations=2, seed=0).plan(torch.tensor([1.0]), problem)
    wide = dataclasses.replace(problem, reward_fn=lambda x, u, n: -n.square())
    with pytest.raises(ValueError, match=r"reward_fn returned shape \(5, 1\), expected \(5,\)"):
        ILQR(max_iterations=2, seed=0).plan(torch.tensor([1.0]), wide)


def test_ilqr_policy_is_returned_where_clamped_controls_have_negative_curvature():
    """Rewarding |u|^2 makes the cost concave in u: the optimum sits on the bounds, the box QP
    clamps every control and never factorises Q_uu, which is not positive definite there. The
    plan and its linear-Gaussian policy must still come back (the covariance from the smallest
    shift of Q_uu that makes it positive definite, recorded in the diagnostics)."""
    def dynamics(x, u):
        return x + 0.1 * u

    def reward(x, u, next_x):
        return u.square().sum(-1) - next_x.square().sum(-1)

    problem = Problem(dynamics, reward, torch.tensor([-1.0], dtype=torch.float64),
                      torch.tensor([1.0], dtype=torch.float64), horizon=5)
    plan = ILQR(seed=0, max_iterations=20).plan(torch.tensor([0.3], dtype=torch.float64), problem)
    assert plan.actions.abs().min() == 1.0  # bang-bang: every control on a bound
    policy, shift = plan.diagnostics["policy"], plan.diagnostics["covariance_shift"]
    assert shift.shape == (5,) and (shift > 0).any()
    assert (torch.linalg.eigvalsh(policy.covariance) > 0).all()
    draws = policy.act(np.array([0.3]))  # the stochastic controller samples without error
    assert np.isfinite(draws).all()
