"""Linear-Gaussian trajectory maths of guided policy search against ground truth: expected cost
and trajectory KL against Monte Carlo, the maximum-entropy LQR against the Riccati solution,
the KL-constrained step against its constraint and, iterated, against the LQR optimum."""

import numpy as np
import pytest

from planners.linear_gaussian import (
    LinearGaussianController,
    LinearGaussianDynamics,
    QuadraticCost,
    expected_cost,
    kl_constrained_update,
    max_entropy_lqr,
    trajectory_kl,
)
from planners.lqr import solve_lqr

T, S, A = 6, 3, 2


def random_system(seed: int = 0) -> tuple[LinearGaussianDynamics, QuadraticCost]:
    rng = np.random.default_rng(seed)
    F = np.concatenate([np.eye(S) + 0.2 * rng.standard_normal((T, S, S)),
                        0.5 * rng.standard_normal((T, S, A))], axis=2)
    W = np.stack([0.01 * np.eye(S) + 0.005 * (m @ m.T) for m in rng.standard_normal((T, S, S))])
    dynamics = LinearGaussianDynamics(F, 0.1 * rng.standard_normal((T, S)), W,
                                      rng.standard_normal(S), 0.05 * np.eye(S))
    M = rng.standard_normal((T, S + A, S + A))
    C = M @ M.transpose(0, 2, 1) / (S + A) + 0.1 * np.eye(S + A)
    return dynamics, QuadraticCost(C, rng.standard_normal((T, S + A)))


def random_controller(seed: int) -> LinearGaussianController:
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((T, A, A))
    return LinearGaussianController(0.3 * rng.standard_normal((T, A, S)),
                                    rng.standard_normal((T, A)),
                                    0.2 * np.eye(A) + 0.1 * M @ M.transpose(0, 2, 1))


def rollouts(dynamics, controller, n, rng):
    """``n`` sampled trajectories: states ``[n, T+1, S]``, actions ``[n, T, A]``."""
    x = rng.multivariate_normal(dynamics.initial_mean, dynamics.initial_covariance, size=n)
    states, actions = [x], []
    for t in range(T):
        u = controller.mean(t, x) + rng.standard_normal((n, A)) @ controller.scale_tril[t].T
        z = np.concatenate([x, u], axis=1)
        noise = rng.standard_normal((n, S)) @ np.linalg.cholesky(dynamics.covariance[t]).T
        x = z @ dynamics.F[t].T + dynamics.f[t] + noise
        states.append(x)
        actions.append(u)
    return np.stack(states, axis=1), np.stack(actions, axis=1)


def log_density(controller, t, x, u):
    diff = u - controller.mean(t, x)
    quad = np.einsum("na,ab,nb->n", diff, controller.precision[t], diff)
    logdet = np.linalg.slogdet(controller.covariance[t])[1]
    return -0.5 * (quad + logdet + A * np.log(2 * np.pi))


def test_expected_cost_and_trajectory_kl_equal_monte_carlo():
    dynamics, cost = random_system()
    p, q = random_controller(1), random_controller(2)
    rng = np.random.default_rng(3)
    states, actions = rollouts(dynamics, p, 200_000, rng)
    z = np.concatenate([states[:, :-1], actions], axis=2)
    costs = 0.5 * np.einsum("nti,tij,ntj->n", z, cost.C, z) + np.einsum("ti,nti->n", cost.c, z)
    assert expected_cost(dynamics, p, cost) == pytest.approx(costs.mean(),
                                                             abs=4 * costs.std() / 447)
    ratio = np.stack([log_density(p, t, states[:, t], actions[:, t])
                      - log_density(q, t, states[:, t], actions[:, t]) for t in range(T)], axis=1)
    exact = trajectory_kl(dynamics, p, q)
    assert exact.shape == (T,) and (exact > 0).all()
    np.testing.assert_allclose(exact, ratio.mean(axis=0), atol=4 * ratio.std(axis=0).max() / 447)
    assert trajectory_kl(dynamics, p, p) == pytest.approx(np.zeros(T), abs=1e-10)


def test_max_entropy_lqr_has_the_riccati_gains_and_covariance_inverse_q_uu():
    dynamics, cost = random_system()
    controller = max_entropy_lqr(dynamics, cost)
    C, c, F = cost.C, cost.c, dynamics.F
    riccati = solve_lqr(F[:, :, :S], F[:, :, S:], C[:, :S, :S], C[:, S:, S:], T,
                        N=C[:, :S, S:], q=c[:, :S], r=c[:, S:], d=dynamics.f,
                        Q_final=np.zeros((S, S)))
    np.testing.assert_allclose(controller.K, riccati.K)
    np.testing.assert_allclose(controller.covariance, np.linalg.inv(riccati.Quu))
    # the mean gains minimise the expected cost: any perturbation of them costs more
    best = expected_cost(dynamics, controller, cost)
    for seed in range(5):
        other = LinearGaussianController(controller.K, controller.k + 0.05 * np.random.default_rng(
            seed).standard_normal((T, A)), controller.covariance)
        assert expected_cost(dynamics, other, cost) > best
    concave = QuadraticCost(C - 10 * np.eye(S + A), c)
    assert max_entropy_lqr(dynamics, concave) is None


def test_the_trust_region_step_meets_its_constraint_and_lowers_the_cost():
    dynamics, cost = random_system()
    previous = LinearGaussianController.constant(T, S, np.zeros(A), 1.0)
    step = kl_constrained_update(dynamics, cost, previous, epsilon=0.5)
    assert step.kl == pytest.approx(0.5, rel=0.1)
    assert step.kl == pytest.approx(trajectory_kl(dynamics, step.controller, previous).sum())
    assert step.expected_cost < step.previous_expected_cost
    # a region wide enough holds the unconstrained maximum-entropy optimum itself
    wide = kl_constrained_update(dynamics, cost, previous, epsilon=1e6)
    unconstrained = max_entropy_lqr(dynamics, cost)
    np.testing.assert_allclose(wide.controller.K, unconstrained.K, atol=1e-5)
    np.testing.assert_allclose(wide.controller.k, unconstrained.k, atol=1e-5)


def test_repeated_trust_region_steps_reach_the_lqr_optimum():
    """Without an entropy term the fixed point is the deterministic LQR: its gains, and a
    covariance that shrinks towards zero."""
    dynamics, cost = random_system()
    controller, eta = LinearGaussianController.constant(T, S, np.zeros(A), 1.0), 1.0
    for _ in range(60):
        step = kl_constrained_update(dynamics, cost, controller, epsilon=2.0, eta=eta)
        controller, eta = step.controller, step.eta
    optimum = max_entropy_lqr(dynamics, cost)
    deterministic = LinearGaussianController(optimum.K, optimum.k,
                                             np.broadcast_to(1e-12 * np.eye(A), (T, A, A)))
    assert expected_cost(dynamics, controller, cost) == pytest.approx(
        expected_cost(dynamics, deterministic, cost), abs=1e-2)
    np.testing.assert_allclose(controller.K, optimum.K, atol=1e-2)
    np.testing.assert_allclose(controller.k, optimum.k, atol=1e-2)
    assert np.linalg.eigvalsh(controller.covariance).max() < 1e-2


def test_the_policy_term_pulls_the_controller_towards_the_policy():
    dynamics, cost = random_system()
    previous = LinearGaussianController.constant(T, S, np.zeros(A), 1.0)
    policy = random_controller(4)
    free = kl_constrained_update(dynamics, cost, previous, epsilon=2.0)
    pulled = kl_constrained_update(dynamics, cost, previous, epsilon=2.0, policy=policy,
                                   policy_weight=100.0)
    assert pulled.policy_kl < trajectory_kl(dynamics, free.controller, policy).sum()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="needs a covariance"):
        LinearGaussianController(np.zeros((T, A, S)), np.zeros((T, A)), None)
    with pytest.raises(ValueError, match="positive definite"):
        LinearGaussianController(np.zeros((T, A, S)), np.zeros((T, A)), -np.ones((T, A, A)))
    with pytest.raises(ValueError, match="k must be"):
        LinearGaussianController(np.zeros((T, A, S)), np.zeros((T, S)), np.ones((T, A, A)))
    dynamics, cost = random_system()
    wrong = LinearGaussianController.constant(T, S + 1, np.zeros(A), 1.0)
    with pytest.raises(ValueError, match="does not fit"):
        trajectory_kl(dynamics, wrong, wrong)
    previous = LinearGaussianController.constant(T, S, np.zeros(A), 1.0)
    with pytest.raises(ValueError, match="epsilon"):
        kl_constrained_update(dynamics, cost, previous, epsilon=0.0)
    with pytest.raises(ValueError, match="reference policy"):
        kl_constrained_update(dynamics, cost, previous, epsilon=1.0, policy_weight=1.0)
