"""Guided policy search on the harness: the precision-weighted supervised step against its
closed form, the network's linearisation, identical resume and settings refused before a run
folder exists."""

import numpy as np
import pytest
import torch

from mbrl.algorithms.gps import GaussianPolicy, GlobalPolicyConfig, GPSConfig, GPSRun
from mbrl.util.config import load_config

TINY = ["horizon=12", "conditions=2", "samples_per_condition=3", "held_out_conditions=1",
        "prior_components=2", "policy.epochs=2", "policy.hidden=[16]", "progress=false"]


def gps(root, *overrides) -> GPSConfig:
    return load_config(GPSConfig, None, [*TINY, f"output_dir={root}", *overrides])


def test_the_weighted_supervised_step_matches_generalised_least_squares():
    """A linear policy fitted to Gaussians of unequal precisions reaches the closed-form
    generalised least squares solution (not the unweighted one), and its covariance is the
    inverse of the mean precision."""
    S, A, M = 3, 2, 64
    rng = np.random.default_rng(0)
    states = rng.standard_normal((M, S))
    targets = rng.standard_normal((M, A))
    roots = rng.standard_normal((M, A, A))
    precisions = roots @ roots.transpose(0, 2, 1) + 0.1 * np.eye(A)
    X = np.concatenate([states, np.ones((M, 1))], axis=1)  # [M, S+1]
    design = np.einsum("ij,mk->mijk", np.eye(A), X).reshape(M, A, A * (S + 1))  # u = design @ w
    normal = np.einsum("mai,mab,mbj->ij", design, precisions, design)
    w = np.linalg.solve(normal, np.einsum("mai,mab,mb->i", design, precisions, targets))
    closed_form = np.einsum("mai,i->ma", design, w)
    unweighted = X @ np.linalg.lstsq(X, targets, rcond=None)[0]
    assert np.abs(closed_form - unweighted).max() > 0.1  # the weights matter here

    config = GlobalPolicyConfig(hidden=(), learning_rate=0.02, epochs=1500, batch_size=M)
    policy = GaussianPolicy(S, A, config, -np.ones(A), np.ones(A))
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    policy.fit(as_tensor(states), as_tensor(targets), as_tensor(precisions),
               torch.optim.Adam(policy.parameters(), lr=config.learning_rate), config.epochs,
               config.batch_size, torch.Generator().manual_seed(0))
    with torch.no_grad():
        fitted = policy(as_tensor(states)).numpy()
    np.testing.assert_allclose(fitted, closed_form, atol=2e-3)
    np.testing.assert_allclose(policy.covariance.numpy(),
                               np.linalg.inv(precisions.mean(axis=0)), rtol=1e-5)


def test_the_linearised_network_is_its_jacobian_and_mean():
    S, A = 4, 2
    policy = GaussianPolicy(S, A, GlobalPolicyConfig(hidden=(8,)), -np.ones(A), np.ones(A))
    states = np.random.default_rng(1).standard_normal((1, 3, S))  # one sample: exact
    linear = policy.linearise(states)
    x = torch.as_tensor(states[0], dtype=torch.float32)
    with torch.no_grad():
        np.testing.assert_allclose(linear.mean(0, states[0, 0]), policy(x[:1])[0].numpy(),
                                   atol=1e-5)
    jacobian = torch.autograd.functional.jacobian(lambda s: policy(s[None])[0], x[2])
    np.testing.assert_allclose(linear.K[2], jacobian.numpy(), atol=1e-5)


def test_a_tiny_run_logs_every_iteration_and_resumes_identically(tmp_path):
    straight = GPSRun.start(gps(tmp_path / "a", "iterations=3")).run()
    rows = straight.evaluations()
    assert [r["iteration"] for r in rows] == [1, 2, 3]
    assert [r["env_steps"] for r in rows] == [72, 144, 216]  # 2 conditions x 3 samples x 12
    assert rows[0]["mean_policy_kl"] == 0.0 and rows[1]["mean_policy_kl"] > 0
    assert all(0 < r["mean_kl"] for r in rows)
    short = GPSRun.start(gps(tmp_path / "b", "iterations=2")).run()
    resumed = GPSRun.resume(short.folder.root, ["iterations=3"]).run()
    assert resumed.evaluations() == rows
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(straight.controllers[0].K, resumed.controllers[0].K)


@pytest.mark.parametrize("override,message", [
    ("task=CartPole-v1", "continuous actions"), ("iterations=0", "iterations"),
    ("horizon=500", "horizon"), ("kl_step=0", "kl_step"),
    ("step_multiplier_range=[2,1]", "step_multiplier_range"),
    ("policy.learning_rate=0", "policy.learning_rate"), ("held_out_conditions=-1", "held_out")])
def test_bad_settings_are_refused_before_a_run_folder(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        GPSRun.start(gps(tmp_path, override))
    assert not list(tmp_path.iterdir())
