"""Returns and advantages against brute-force evaluations of their definitions."""

import numpy as np
import pytest
import torch

from mbrl.agents import discounted_returns, gae, lambda_returns, n_step_returns, td_errors
from mbrl.returns import discounted_lambda_returns

T, N, GAMMA = 12, 5, 0.9


def rollout(seed=0, consistent_values=True):
    """Random rewards/values with episode boundaries; ``next_values[t] == values[t+1]`` inside an
    episode (as in a real rollout) when ``consistent_values``."""
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(T, N, generator=g, dtype=torch.float64)
    values = torch.randn(T, N, generator=g, dtype=torch.float64)
    next_values = torch.randn(T, N, generator=g, dtype=torch.float64)
    terminated = torch.rand(T, N, generator=g) < 0.15
    truncated = (torch.rand(T, N, generator=g) < 0.1) & ~terminated
    if consistent_values:
        ends = terminated | truncated
        next_values[:-1] = torch.where(ends[:-1], next_values[:-1], values[1:])
    return rewards, values, next_values, terminated, truncated


def episode_end(t, env, terminated, truncated):
    """Index of the last step of the episode containing step t (or T-1 if it runs on)."""
    for k in range(t, T):
        if terminated[k, env] or truncated[k, env]:
            return k
    return T - 1


def brute_n_step(rewards, next_values, terminated, truncated, gamma, n):
    out = np.zeros((T, N))
    for env in range(N):
        for t in range(T):
            end = min(episode_end(t, env, terminated, truncated), t + n - 1)
            total = sum(gamma ** (k - t) * float(rewards[k, env]) for k in range(t, end + 1))
            if not terminated[end, env]:
                total += gamma ** (end - t + 1) * float(next_values[end, env])
            out[t, env] = total
    return torch.tensor(out)


def test_discounted_returns_match_the_definition():
    rewards, _, next_values, terminated, truncated = rollout()
    expected = brute_n_step(rewards, next_values, terminated, truncated, GAMMA, n=T)
    torch.testing.assert_close(discounted_returns(rewards, next_values, terminated, truncated,
                                                  GAMMA), expected)


@pytest.mark.parametrize("n", [1, 3, 7])
def test_n_step_returns_match_the_definition(n):
    rewards, _, next_values, terminated, truncated = rollout(seed=n)
    expected = brute_n_step(rewards, next_values, terminated, truncated, GAMMA, n)
    torch.testing.assert_close(n_step_returns(rewards, next_values, terminated, truncated,
                                              GAMMA, n), expected)


def test_gae_with_lambda_zero_is_the_td_error_and_with_one_the_monte_carlo_advantage():
    rewards, values, next_values, terminated, truncated = rollout(seed=3)
    advantages, returns = gae(rewards, values, next_values, terminated, truncated, GAMMA, 0.0)
    torch.testing.assert_close(advantages, td_errors(rewards, values, next_values, terminated,
                                                     GAMMA))
    torch.testing.assert_close(returns, advantages + values)
    monte_carlo = discounted_returns(rewards, next_values, terminated, truncated, GAMMA)
    advantages, _ = gae(rewards, values, next_values, terminated, truncated, GAMMA, 1.0)
    torch.testing.assert_close(advantages, monte_carlo - values)


def test_lambda_returns_are_the_weighted_average_of_n_step_returns():
    rewards, values, next_values, terminated, truncated = rollout(seed=4)
    lam = 0.7
    ours = lambda_returns(rewards, values, next_values, terminated, truncated, GAMMA, lam)
    # forward view: G^lambda_t = (1 - lam) sum_{n>=1} lam^(n-1) G^(n)_t, where every n beyond
    # the episode's (or rollout's) end gives the full return
    n_step = [brute_n_step(rewards, next_values, terminated, truncated, GAMMA, n)
              for n in range(1, T + 1)]
    expected = torch.zeros(T, N, dtype=torch.float64)
    for t in range(T):
        for env in range(N):
            remaining = episode_end(t, env, terminated, truncated) - t + 1
            total = sum((1 - lam) * lam ** (n - 1) * n_step[n - 1][t, env]
                        for n in range(1, remaining))
            expected[t, env] = total + lam ** (remaining - 1) * n_step[remaining - 1][t, env]
    torch.testing.assert_close(ours, expected)


def test_no_bootstrap_after_termination_but_after_truncation():
    rewards = torch.ones(2, 2, dtype=torch.float64)
    next_values = torch.full((2, 2), 10.0, dtype=torch.float64)
    terminated = torch.tensor([[True, False], [False, False]])
    truncated = torch.tensor([[False, True], [False, False]])
    returns = discounted_returns(rewards, next_values, terminated, truncated, 0.5)
    # env 0: terminated after step 0 -> G_0 = 1; env 1: truncated -> G_0 = 1 + 0.5 * 10
    assert returns[0].tolist() == [1.0, 6.0]
    assert returns[1].tolist() == [6.0, 6.0]  # rollout end bootstraps


def test_shape_and_range_errors_are_clear():
    rewards, values, next_values, terminated, truncated = rollout()
    with pytest.raises(ValueError, match="values has shape"):
        gae(rewards, values[:-1], next_values, terminated, truncated, GAMMA, 0.9)
    with pytest.raises(ValueError, match="time-major"):
        discounted_returns(rewards[0], next_values[0], terminated[0], truncated[0], GAMMA)
    with pytest.raises(ValueError, match="lam"):
        gae(rewards, values, next_values, terminated, truncated, GAMMA, 1.5)
    with pytest.raises(ValueError, match="gamma"):
        n_step_returns(rewards, next_values, terminated, truncated, 1.5, 2)


def test_discounted_lambda_returns_equal_lambda_returns_for_hard_terminations():
    g = torch.Generator().manual_seed(0)
    rewards, values = torch.randn(7, 4, generator=g), torch.randn(8, 4, generator=g)
    terminated = torch.rand(7, 4, generator=g) < 0.2
    for lam in (0.0, 0.7, 1.0):
        expected = lambda_returns(rewards, values[:-1], values[1:], terminated,
                                  torch.zeros_like(terminated), 0.9, lam)
        got = discounted_lambda_returns(rewards, values[1:], 0.9 * (~terminated).float(), lam)
        torch.testing.assert_close(got, expected)


def test_discounted_lambda_returns_with_soft_discounts_by_hand():
    """Two steps, d = (0.5, 0.8), lam = 0.5: G_1 = r_1 + 0.8 V_2,
    G_0 = r_0 + 0.5 (0.5 V_1 + 0.5 G_1); gradients reach the discounts."""
    rewards = torch.tensor([[1.0], [2.0]])
    next_values = torch.tensor([[3.0], [4.0]])
    discounts = torch.tensor([[0.5], [0.8]], requires_grad=True)
    returns = discounted_lambda_returns(rewards, next_values, discounts, 0.5)
    g1 = 2.0 + 0.8 * 4.0
    torch.testing.assert_close(returns, torch.tensor([[1.0 + 0.5 * (0.5 * 3.0 + 0.5 * g1)],
                                                      [g1]]))
    returns.sum().backward()
    assert discounts.grad.abs().min() > 0
