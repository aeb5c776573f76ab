"""Local linear-Gaussian dynamics from samples (GPS §5.7.1): the regression recovers a known
linear system, and the Gaussian-mixture prior makes a handful of samples enough."""

import numpy as np
import pytest

from mbrl.models.local_linear import MixturePrior, fit_local_dynamics

T, S, A = 5, 3, 2


def linear_samples(n: int, seed: int):
    """Trajectories of ``x' = F_t [x; u] + f_t + 0.01 noise`` under random actions."""
    rng = np.random.default_rng(0)
    F = np.concatenate([np.eye(S) + 0.1 * rng.standard_normal((T, S, S)),
                        rng.standard_normal((T, S, A))], axis=2)
    f = rng.standard_normal((T, S))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, S))
    states, actions = [x], []
    for t in range(T):
        u = rng.standard_normal((n, A))
        x = np.concatenate([x, u], axis=1) @ F[t].T + f[t] + 0.01 * rng.standard_normal((n, S))
        states.append(x)
        actions.append(u)
    return np.stack(states, axis=1), np.stack(actions, axis=1), F, f


def test_the_regression_recovers_a_known_linear_system():
    states, actions, F, f = linear_samples(400, seed=1)
    fitted = fit_local_dynamics(states, actions)
    np.testing.assert_allclose(fitted.F, F, atol=0.01)
    np.testing.assert_allclose(fitted.f, f, atol=0.01)
    np.testing.assert_allclose(fitted.covariance, np.broadcast_to(1e-4 * np.eye(S), (T, S, S)),
                               atol=5e-5)
    np.testing.assert_allclose(fitted.initial_mean, states[:, 0].mean(axis=0))


def test_a_mixture_prior_makes_few_samples_enough():
    """Five samples cannot determine a [3, 5] regression; with a prior fitted on earlier
    transitions of the same system (one cluster per step) they can."""
    many, many_actions, F, f = linear_samples(300, seed=2)
    with pytest.raises(ValueError, match="without a prior"):
        fit_local_dynamics(many[:5], many_actions[:5])
    prior = MixturePrior(components=T, strength=1.0, seed=0)
    prior.update(np.concatenate([many[:, :-1], many_actions, many[:, 1:]],
                                axis=2).reshape(-1, 2 * S + A))
    few, few_actions, _, _ = linear_samples(5, seed=3)
    fitted = fit_local_dynamics(few, few_actions, prior)
    assert np.abs(fitted.F - F).max() < 0.15


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"states \[N, T\+1, S\]"):
        fit_local_dynamics(np.zeros((4, 5, 3)), np.zeros((4, 5, 2)))
    with pytest.raises(RuntimeError, match="no data"):
        MixturePrior().evaluate(np.zeros((2, 8)))
    with pytest.raises(ValueError, match="components"):
        MixturePrior(components=0)
