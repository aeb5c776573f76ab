"""Loss and gradient checks of REINFORCE, A2C and PPO on hand-made rollouts."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mbrl.agents.a2c import A2C, A2CConfig
from mbrl.agents.networks import ActorCritic
from mbrl.agents.onpolicy import Rollout, RolloutCollector
from mbrl.agents.ppo import PPO, PPOConfig, RewardScaler
from mbrl.agents.reinforce import Reinforce, ReinforceConfig, complete_episode_mask
from mbrl.envs import make_task

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)


def make_rollout(policy: ActorCritic, steps=6, envs=2, seed=0, ends=((2, 0), (5, 1))) -> Rollout:
    generator = torch.Generator().manual_seed(seed)
    obs = torch.randn(steps, envs, 3, generator=generator)
    next_obs = torch.randn(steps, envs, 3, generator=generator)
    with torch.no_grad():
        dist = policy.distribution(obs.reshape(-1, 3))
        actions = dist.sample(generator)
        log_probs = dist.log_prob(actions).reshape(steps, envs)
    terminated = torch.zeros(steps, envs, dtype=torch.bool)
    for t, n in ends:
        terminated[t, n] = True
    return Rollout.from_transitions(obs, actions.reshape(steps, envs, *actions.shape[1:]),
                                    log_probs, torch.randn(steps, envs, generator=generator),
                                    next_obs, terminated, torch.zeros_like(terminated))


def test_complete_episode_mask():
    terminated = torch.tensor([[0, 0], [1, 0], [0, 0], [0, 1], [0, 0]], dtype=torch.bool)
    truncated = torch.zeros_like(terminated)
    truncated[2, 0] = True
    mask = complete_episode_mask(terminated, truncated)
    np.testing.assert_array_equal(mask.numpy(), [[1, 1], [1, 1], [1, 1], [0, 1], [0, 0]])


def flat_grad(policy):
    return torch.cat([p.grad.reshape(-1) for p in policy.parameters() if p.grad is not None])


def test_optimal_baseline_matches_per_sample_brute_force():
    torch.manual_seed(0)
    policy = ActorCritic(OBS, gym.spaces.Discrete(3), (8,))
    rollout = make_rollout(policy, ends=((3, 0), (4, 1)))
    agent = Reinforce(policy, ReinforceConfig(baseline="optimal", learning_rate=1e-9,
                                              score_chunk=3, gamma=0.9),
                      torch.Generator().manual_seed(0))
    agent.update(rollout)
    ours = {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}
    # brute force: one backward per sample
    from mbrl.returns import discounted_returns
    returns = discounted_returns(rollout.rewards, torch.zeros_like(rollout.rewards),
                                 rollout.terminated, rollout.truncated, 0.9)
    valid = complete_episode_mask(rollout.terminated, rollout.truncated)
    scores, weights = [], returns[valid]
    for obs, action in zip(rollout.obs[valid], rollout.actions[valid], strict=True):
        policy.zero_grad()
        policy.distribution(obs[None]).log_prob(action[None]).sum().backward()
        scores.append({n: policy.get_parameter(n).grad.clone() for n in ours})
    for name, grad in ours.items():
        g = torch.stack([s[name] for s in scores])
        shaped = weights.reshape(-1, *([1] * (g.ndim - 1)))
        baseline = (g.square() * shaped).sum(0) / (g.square()).sum(0).clamp_min(1e-12)
        expected = -(g * (shaped - baseline)).mean(0)
        torch.testing.assert_close(grad, expected, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("baseline", ["none", "mean", "value"])
def test_reinforce_gradient_matches_definition(baseline):
    torch.manual_seed(1)
    policy = ActorCritic(OBS, gym.spaces.Box(-1, 1, (2,), np.float32), (8,))
    rollout = make_rollout(policy)
    agent = Reinforce(policy, ReinforceConfig(baseline=baseline, learning_rate=1e-9, gamma=0.95),
                      torch.Generator())
    metrics = agent.update(rollout)
    from mbrl.returns import discounted_returns
    with torch.no_grad():
        next_values = policy.value(rollout.next_obs.reshape(-1, 3)).reshape(6, 2)
    if baseline != "value":
        next_values = torch.zeros_like(next_values)
    returns = discounted_returns(rollout.rewards, next_values, rollout.terminated,
                                 rollout.truncated, 0.95)
    valid = (torch.ones_like(rollout.terminated) if baseline == "value"
             else complete_episode_mask(rollout.terminated, rollout.truncated))
    assert metrics["samples"] == valid.sum()
    ours = flat_grad(policy)
    policy.zero_grad()
    dist, value = policy(rollout.obs[valid])
    g = returns[valid]
    weight = {"none": g, "mean": g - g.mean(), "value": g - value.detach()}[baseline]
    loss = -(dist.log_prob(rollout.actions[valid]) * weight).mean()
    if baseline == "value":
        loss = loss + 0.5 * (value - g).square().mean()
    loss.backward()
    torch.testing.assert_close(ours, flat_grad(policy))


def test_a2c_n_step_loss_gradient():
    torch.manual_seed(2)
    policy = ActorCritic(OBS, gym.spaces.Discrete(2), (8,), shared_trunk=True)
    rollout = make_rollout(policy, steps=4, ends=((1, 0), (3, 1)))
    agent = A2C(policy, A2CConfig(learning_rate=1e-9, entropy_coef=0.01, max_grad_norm=None),
                torch.Generator())
    agent.update(rollout)
    ours = flat_grad(policy)
    from mbrl.returns import n_step_returns
    policy.zero_grad()
    dist, value = policy(rollout.obs.reshape(-1, 3))
    with torch.no_grad():
        next_values = policy.value(rollout.next_obs.reshape(-1, 3)).reshape(4, 2)
    targets = n_step_returns(rollout.rewards, next_values, rollout.terminated,
                             rollout.truncated, 0.99, 4).reshape(-1)
    advantages = targets - value.detach()
    loss = (-(dist.log_prob(rollout.actions.reshape(-1)) * advantages).mean()
            + 0.5 * (value - targets).square().mean() - 0.01 * dist.entropy().mean())
    loss.backward()
    torch.testing.assert_close(ours, flat_grad(policy))


def test_ppo_first_minibatch_is_on_policy_and_clipping_applies():
    torch.manual_seed(3)
    policy = ActorCritic(OBS, gym.spaces.Box(-1, 1, (1,), np.float32), (8,))
    rollout = make_rollout(policy, steps=8)
    config = PPOConfig(batch_size=16, epochs=1, learning_rate=1e-9, max_grad_norm=None)
    agent = PPO(policy, config, torch.Generator().manual_seed(0), num_envs=2)
    metrics = agent.update(rollout)
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-10)  # old log-probs are exact
    assert metrics["clip_fraction"] == 0.0
    # a ratio far above 1 + eps with a positive advantage gives no policy gradient
    config = PPOConfig(batch_size=16, epochs=1, learning_rate=1e-9, normalize_advantages=False,
                       value_coef=0.0, max_grad_norm=None)
    agent = PPO(policy, config, torch.Generator().manual_seed(0), num_envs=2)
    rollout.log_probs -= 5.0  # pretend the data was unlikely under the old policy
    rollout.rewards = torch.full_like(rollout.rewards, 10.0)
    rollout.terminated[:] = True  # advantage = 10 - V > 0
    agent.update(rollout)
    assert all(p.grad is None or p.grad.abs().max() == 0 for n, p in policy.named_parameters()
               if not n.startswith("value_head"))


def test_ppo_value_clipping_and_adaptive_beta():
    policy = ActorCritic(OBS, gym.spaces.Discrete(2), (8,))
    agent = PPO(policy, PPOConfig(value_clip_range=0.2, objective="kl_penalty", kl_target=0.01),
                torch.Generator(), num_envs=1)
    loss = agent._value_loss(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([1.0]))
    assert loss.item() == pytest.approx(0.64)  # max(0, (0.2 - 1)^2)
    agent._adapt_beta(0.1)
    assert agent.kl_beta == 2.0
    agent._adapt_beta(0.001)
    agent._adapt_beta(0.001)
    assert agent.kl_beta == 0.5


def test_reward_scaler_uses_discounted_return_std():
    scaler = RewardScaler(num_envs=1, gamma=0.5)
    rewards = torch.ones(4, 1)
    scaled = scaler(rewards, torch.zeros(4, 1, dtype=torch.bool))
    returns = np.array([1, 1.5, 1.75, 1.875])
    assert scaled[0, 0].item() == pytest.approx(1 / np.sqrt(returns.var() + 1e-8), rel=1e-3)


def test_collector_uses_final_observation_and_counts_episodes():
    task = make_task("CartPole-v1")
    env = task.make_vector_env(3)
    policy = ActorCritic(task.observation_space, task.action_space, (8,))
    collector = RolloutCollector(env, policy, torch.Generator().manual_seed(0))
    collector.env.reset(seed=0)
    rollout = collector.collect(60)
    ended = rollout.terminated | rollout.truncated
    assert ended.any()
    t, n = torch.nonzero(ended)[0]
    assert not torch.equal(rollout.next_obs[t, n], rollout.obs[t + 1, n])  # reset in between
    assert torch.equal(rollout.next_obs[0], rollout.obs[1]) or ended[0].any()
    returns, lengths = collector.pop_episodes()
    assert len(returns) == int(ended.sum()) and returns == [float(x) for x in lengths]
    next_step = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync", vector_kwargs={
        "autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP})
    with pytest.raises(ValueError, match="same-step"):
        RolloutCollector(next_step, policy, torch.Generator())


def test_configs_reject_bad_values():
    policy = ActorCritic(OBS, gym.spaces.Discrete(2), (8,))
    with pytest.raises(ValueError, match="objective"):
        PPO(policy, PPOConfig(objective="trpo"), torch.Generator(), 1)
    with pytest.raises(ValueError, match="baseline"):
        Reinforce(policy, ReinforceConfig(baseline="median"), torch.Generator())
    with pytest.raises(ValueError, match="advantage"):
        A2C(policy, A2CConfig(advantage="mc"), torch.Generator())


def test_a_nan_reward_stops_ppo_before_the_step_and_names_it():
    from mbrl.util.errors import TrainingDiverged

    policy = ActorCritic(OBS, gym.spaces.Discrete(2), (8,))
    agent = PPO(policy, PPOConfig(batch_size=4, epochs=1), torch.Generator().manual_seed(0), 2)
    rollout = make_rollout(policy)
    rollout.rewards[0, 0] = float("nan")
    before = [p.detach().clone() for p in policy.parameters()]
    with pytest.raises(TrainingDiverged, match="PPO: the loss became nan at optimiser step 0"):
        agent.update(rollout)
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))
