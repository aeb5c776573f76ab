import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import (
    AffineTransform,
    Independent,
    Normal,
    TanhTransform,
)
from torch.distributions import Categorical as TorchCategorical

from mbrl.agents.networks import ActorCritic, Categorical, DiagonalGaussian
from mbrl.agents.sac import SquashedGaussianActor, TwinQ


def test_categorical_matches_torch():
    logits = torch.randn(5, 4)
    ours, ref = Categorical(logits), TorchCategorical(logits=logits)
    actions = torch.tensor([0, 3, 1, 2, 2])
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    other = torch.randn(5, 4)
    torch.testing.assert_close(
        ours.kl(Categorical(other)),
        torch.distributions.kl_divergence(ref, TorchCategorical(logits=other)))


def test_categorical_sampling_follows_probabilities_and_generator():
    dist = Categorical(torch.log(torch.tensor([[0.1, 0.6, 0.3]])).expand(20000, 3))
    first = dist.sample(torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, dist.sample(torch.Generator().manual_seed(3)))
    frequencies = torch.bincount(first, minlength=3).float() / 20000
    torch.testing.assert_close(frequencies, torch.tensor([0.1, 0.6, 0.3]), atol=0.015, rtol=0)


def test_diagonal_gaussian_matches_torch():
    mean, log_std = torch.randn(6, 3), torch.randn(3) * 0.3
    ours = DiagonalGaussian(mean, log_std)
    ref = Independent(Normal(mean, log_std.exp().expand_as(mean)), 1)
    actions = torch.randn(6, 3)
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions))
    torch.testing.assert_close(ours.entropy(), ref.entropy())
    other_mean, other_log_std = torch.randn(6, 3), torch.randn(3) * 0.3
    other_ref = Independent(Normal(other_mean, other_log_std.exp().expand_as(mean)), 1)
    torch.testing.assert_close(ours.kl(DiagonalGaussian(other_mean, other_log_std)),
                               torch.distributions.kl_divergence(ref, other_ref))
    torch.testing.assert_close(ours[torch.tensor([1, 4])].mean, mean[[1, 4]])


def test_squashed_gaussian_log_prob_is_exact():
    """Against torch's own change of variables at the pre-squash sample ``u`` (inverting a
    saturated action instead loses the precision the check needs, in float32)."""
    torch.manual_seed(0)
    space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 1.0], np.float32))
    actor = SquashedGaussianActor(3, space, (16,), "relu")
    obs = 3 * torch.randn(256, 3)
    actions, log_probs = actor.sample(obs, torch.Generator().manual_seed(0))
    mean, log_std = actor._mean_log_std(obs)
    u = mean + torch.randn(mean.shape, generator=torch.Generator().manual_seed(0)) * log_std.exp()
    tanh, affine = TanhTransform(), AffineTransform(actor.offset, actor.scale)
    torch.testing.assert_close(actions, affine(tanh(u)))
    expected = (Normal(mean, log_std.exp()).log_prob(u) - tanh.log_abs_det_jacobian(u, tanh(u))
                - affine.log_abs_det_jacobian(tanh(u), actions)).sum(-1)
    torch.testing.assert_close(log_probs, expected, atol=1e-4, rtol=1e-5)
    assert (actions[:, 0].abs() <= 2).all() and ((actions[:, 1] >= 0) & (actions[:, 1] <= 1)).all()


def test_twin_q_members_are_independent_mlps():
    twin = TwinQ(4, 2, (8, 8), "relu")
    x = torch.randn(5, 4)
    out = twin(x)
    assert out.shape == (2, 5, 2)
    for member in range(2):
        h = x
        for layer, (w, b) in enumerate(zip(twin.weights, twin.biases, strict=True)):
            h = h @ w[member] + b[member]
            if layer < 2:
                h = torch.relu(h)
        torch.testing.assert_close(out[member], h)
    out[0].sum().backward()
    assert twin.weights[0].grad[1].abs().sum() == 0  # member 1 untouched by member 0's loss


def test_actor_critic_heads_and_policy_protocol():
    obs_space = gym.spaces.Box(-np.inf, np.inf, (4,))
    for action_space, shape in [(gym.spaces.Discrete(3), ()), (gym.spaces.Box(-1, 1, (2,)), (2,))]:
        for shared in (False, True):
            policy = ActorCritic(obs_space, action_space, (16, 16), shared_trunk=shared,
                                 normalize_observations=True)
            dist, value = policy(torch.randn(5, 4))
            assert value.shape == (5,)
            action = policy.act(np.zeros(4, np.float32), generator=torch.Generator())
            assert np.shape(action) == shape and action_space.contains(
                action.astype(action_space.dtype) if shape else int(action))
            assert policy.act(np.zeros((3, 4), np.float32), deterministic=True).shape == (3, *shape)


def test_continuous_env_actions_are_clipped_only_to_the_box():
    space = gym.spaces.Box(-1, 1, (2,))
    policy = ActorCritic(gym.spaces.Box(-1, 1, (3,)), space)
    np.testing.assert_array_equal(policy.env_action(torch.tensor([[3.0, -0.5]])), [[1.0, -0.5]])


def test_bad_spaces_and_layers_raise():
    with pytest.raises(TypeError, match="flat Box"):
        ActorCritic(gym.spaces.Discrete(3), gym.spaces.Discrete(2))
    with pytest.raises(ValueError, match="bounded"):
        ActorCritic(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-np.inf, np.inf, (1,)))
    assert math.isclose(float(Categorical(torch.zeros(1, 4)).entropy()), math.log(4), rel_tol=1e-6)


def test_actor_critic_runs_policy_and_value_as_independent_stacked_members():
    torch.manual_seed(0)
    policy = ActorCritic(gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.Discrete(4), (8, 8))
    obs = torch.randn(6, 3)
    dist, value = policy(obs)
    torch.testing.assert_close(value, policy.value(obs))
    torch.testing.assert_close(dist.log_probs, policy.distribution(obs).log_probs)
    dist.entropy().sum().backward()  # the policy's loss must leave the value member untouched
    for weight in policy.networks.weights:
        assert weight.grad[1].abs().sum() == 0 and weight.grad[0].abs().sum() > 0
    policy.zero_grad()
    policy.value(obs).sum().backward()
    for weight in policy.networks.weights:
        assert weight.grad[0].abs().sum() == 0
    # orthogonal init with the PPO gains: policy output 0.01, value output 1.0
    last = policy.networks.weights[-1]
    torch.testing.assert_close(last[0].T @ last[0], 1e-4 * torch.eye(4))
    torch.testing.assert_close(last[1, :, :1].T @ last[1, :, :1], torch.eye(1))
