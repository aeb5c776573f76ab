import math

import numpy as np
import pytest
import torch

from mbrl.data import ReplayBuffer
from mbrl.models.value import StateValue, discounted_return_bounds, fit_state_value


def countdown_buffer(episodes=20, length=10, truncate_last=False):
    """The observation is the number of steps left; reward 1 per step; the episode terminates
    after its last step (or, for the final episode with ``truncate_last``, is cut 3 steps
    early by a time limit)."""
    buffer = ReplayBuffer(episodes * length, 1, 1)
    for episode in range(episodes):
        cut = truncate_last and episode == episodes - 1
        left = np.arange(length, 3 if cut else 0, -1, dtype=np.float32)[:, None]
        steps = len(left)
        terminated, truncated = np.zeros(steps, bool), np.zeros(steps, bool)
        (truncated if cut else terminated)[-1] = True
        buffer.add(left, np.zeros((steps, 1), np.float32), np.ones(steps, np.float32),
                   left - 1, terminated, truncated)
    return buffer


@pytest.mark.parametrize("lam", [0.0, 0.8, 1.0])
def test_value_fits_discounted_survival_of_terminating_episodes(lam):
    torch.manual_seed(0)
    gamma = 0.9
    value = StateValue(1, hidden_size=32)
    optimizer = torch.optim.Adam(value.parameters(), lr=1e-2)
    fit_state_value(value, countdown_buffer(truncate_last=True), optimizer,
                    np.random.default_rng(0), discount=gamma, lam=lam, rounds=12,
                    epochs_per_round=10, batch_size=64)
    left = torch.arange(1, 11, dtype=torch.float32)
    truth = (1 - gamma ** left) / (1 - gamma)  # V(k steps left) = sum_{t<k} gamma^t
    with torch.no_grad():
        torch.testing.assert_close(value(left[:, None]), truth, atol=0.15, rtol=0.0)


def test_discounted_return_bounds():
    assert discounted_return_bounds(torch.ones(5), 0.99) == pytest.approx((0.0, 100.0))
    assert discounted_return_bounds(torch.tensor([-2.0, 3.0]), 0.9) == pytest.approx((-20, 30))
    assert discounted_return_bounds(torch.tensor([1.0, 2.0]), 0.5) == pytest.approx((0.0, 4.0))
    assert discounted_return_bounds(torch.ones(3), 1.0) == (-math.inf, math.inf)


def test_bootstrap_at_an_unfinished_episode_cannot_run_away():
    """An episode still running at the end of the data, whose last observation lies apart from
    the others: ``V`` there is an extrapolation that the truncation's bootstrap feeds back into
    itself. Unclamped, this one fit took ``V`` on the data down to about -170; clamped to
    [0, 100] (rewards of 1, gamma 0.99) it stays in range."""
    torch.manual_seed(0)
    steps = 6
    obs = 0.1 * np.arange(steps, dtype=np.float32)[:, None]
    next_obs = obs + 0.1
    next_obs[-1] += 1.0
    truncated = np.zeros(steps, bool)
    truncated[-1] = True
    buffer = ReplayBuffer(steps, 1, 1)
    buffer.add(obs, np.zeros((steps, 1), np.float32), np.ones(steps, np.float32), next_obs,
               np.zeros(steps, bool), truncated)
    value = StateValue(1, ensemble_size=5, pessimism=1.0)
    optimizer = torch.optim.Adam(value.parameters(), lr=1e-3)
    fit_state_value(value, buffer, optimizer, np.random.default_rng(0), discount=0.99,
                    lam=0.95)
    with torch.no_grad():
        values = value.mean_value(torch.as_tensor(obs))
    assert values.min() >= -1.0 and values.max() <= 101.0, values


@pytest.mark.parametrize("ensemble_size", [1, 4])
def test_rescaling_returns_keeps_every_value(ensemble_size):
    torch.manual_seed(0)
    value = StateValue(3, hidden_size=16, ensemble_size=ensemble_size,
                       pessimism=1.0 if ensemble_size > 1 else 0.0)
    obs = torch.randn(50, 3)
    before = value(obs)
    value.rescale_returns(100 + 30 * torch.randn(200))
    torch.testing.assert_close(value(obs), before, rtol=1e-5, atol=1e-4)
    assert value.return_normalizer.mean.item() > 90


def test_reinitialize_forgets_the_fit_and_its_statistics():
    torch.manual_seed(0)
    fitted, unfitted = (StateValue(1, hidden_size=16, ensemble_size=3) for _ in range(2))
    fit_state_value(fitted, countdown_buffer(), torch.optim.Adam(fitted.parameters(), lr=1e-2),
                    np.random.default_rng(0), rounds=2)
    assert fitted.return_normalizer.mean.item() > 1
    for value in (fitted, unfitted):
        value.reinitialize(torch.Generator().manual_seed(7))
    for (name, tensor), other in zip(fitted.state_dict().items(), unfitted.state_dict().values(),
                                     strict=True):
        torch.testing.assert_close(tensor, other, rtol=0, atol=0, msg=name)
    for normalizer in (fitted.normalizer, fitted.return_normalizer):
        assert normalizer.mean.eq(0).all() and normalizer.std.eq(1).all()


def test_long_survival_returns_are_fitted_at_the_default_learning_rate():
    """Returns up to ~63 (gamma 0.99, 100-step episodes) from 300 transitions at lr 1e-3:
    without the output rescaling and the floor on updates, V stays far below its targets."""
    torch.manual_seed(0)
    gamma = 0.99
    value = StateValue(1)
    optimizer = torch.optim.Adam(value.parameters(), lr=1e-3)
    fit_state_value(value, countdown_buffer(episodes=3, length=100), optimizer,
                    np.random.default_rng(0), discount=gamma, lam=0.95, rounds=10)
    left = torch.arange(1, 101, dtype=torch.float32)
    truth = (1 - gamma ** left) / (1 - gamma)
    with torch.no_grad():
        error = (value(left[:, None]) - truth).abs()
    assert error.max() < 2.0, error.max()


def test_value_input_checks():
    value = StateValue(3)
    with pytest.raises(ValueError, match=r"obs must be \[B, 3\]"):
        value(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="ensemble_size >= 1 and pessimism >= 0"):
        StateValue(3, ensemble_size=0)
    with pytest.raises(ValueError, match="ensemble_size >= 1 and pessimism >= 0"):
        StateValue(3, ensemble_size=3, pessimism=-1.0)
    with pytest.raises(ValueError, match="pessimism needs ensemble_size >= 2"):
        StateValue(3, pessimism=1.0)
    optimizer = torch.optim.Adam(value.parameters())
    with pytest.raises(ValueError, match="non-empty"):
        fit_state_value(value, ReplayBuffer(5, 3, 1), optimizer, np.random.default_rng(0))
    with pytest.raises(ValueError, match="rounds"):
        fit_state_value(value, countdown_buffer(), optimizer, np.random.default_rng(0),
                        rounds=0)


def test_pessimistic_ensemble_value_is_low_only_away_from_the_data():
    """Every member fits the visited states (1-10 steps left); far outside them (100 left)
    the members disagree, and the planner's score is the mean less that spread."""
    torch.manual_seed(0)
    gamma = 0.9
    value = StateValue(1, hidden_size=32, ensemble_size=5, pessimism=1.0)
    optimizer = torch.optim.Adam(value.parameters(), lr=1e-2)
    fit_state_value(value, countdown_buffer(), optimizer, np.random.default_rng(0),
                    discount=gamma, lam=0.8, rounds=12, epochs_per_round=10, batch_size=64)
    left = torch.arange(1, 11, dtype=torch.float32)[:, None]
    truth = (1 - gamma ** left[:, 0]) / (1 - gamma)
    far = torch.tensor([[100.0]])
    with torch.no_grad():
        members, members_far = value.member_values(left), value.member_values(far)
        assert members.shape == (5, 10)
        torch.testing.assert_close(value(left), truth, atol=0.3, rtol=0.0)
        spread_far = members_far.std(0, correction=0)
        assert spread_far > 10 * members.std(0, correction=0).max()
        torch.testing.assert_close(value(far), members_far.mean(0) - spread_far)
