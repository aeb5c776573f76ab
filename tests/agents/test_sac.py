import copy
import dataclasses
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from mbrl.agents.sac import SAC, SACConfig, solve_log_alpha
from mbrl.data.buffer import ReplayBuffer

OBS = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
SMALL = SACConfig(hidden=(16, 16), batch_size=32, learning_rate=1e-3)


def random_batch(discrete: bool, n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    act = (torch.randint(0, 4, (n, 1), generator=g).float() if discrete
           else torch.rand(n, 2, generator=g) * 2 - 1)
    terminated = torch.rand(n, generator=g) < 0.3
    return {"obs": torch.randn(n, 3, generator=g), "act": act, "rew": torch.randn(n, generator=g),
            "next_obs": torch.randn(n, 3, generator=g), "terminated": terminated,
            "truncated": torch.zeros(n, dtype=torch.bool)}


def make(discrete: bool, **overrides) -> SAC:
    torch.manual_seed(0)
    space = gym.spaces.Discrete(4) if discrete else gym.spaces.Box(-1, 1, (2,), np.float32)
    config = dataclasses.replace(SMALL, **overrides)
    return SAC(OBS, space, config, torch.Generator().manual_seed(0))


def test_discrete_soft_target_is_eq_124_by_brute_force():
    agent = make(True)
    batch = random_batch(True)
    target = agent.soft_target(batch["rew"], batch["next_obs"], batch["terminated"])
    alpha, gamma = agent.alpha, agent.config.gamma
    for i in range(4):
        probs = torch.softmax(agent.actor.logits(batch["next_obs"][i]), -1)
        q = agent.target_critic(batch["next_obs"][i:i + 1])[:, 0].min(0).values
        value = sum(probs[a] * (q[a] - alpha * torch.log(probs[a])) for a in range(4))
        expected = batch["rew"][i] + gamma * (0.0 if batch["terminated"][i] else value)
        assert target[i].item() == pytest.approx(float(expected), rel=1e-5, abs=1e-6)


def test_continuous_soft_target_uses_min_of_target_critics_and_log_prob():
    agent = make(False)
    batch = random_batch(False)
    state = agent.generator.get_state()
    target = agent.soft_target(batch["rew"], batch["next_obs"], batch["terminated"])
    agent.generator.set_state(state)
    next_act, log_prob = agent.actor.sample(batch["next_obs"], agent.generator)
    q = agent.target_critic(torch.cat([batch["next_obs"], next_act], -1)).squeeze(-1)
    expected = batch["rew"] + 0.99 * (~batch["terminated"]) * (q.min(0).values
                                                               - agent.alpha * log_prob)
    torch.testing.assert_close(target, expected.detach())


@pytest.mark.parametrize("discrete", [False, True])
def test_update_polyak_and_temperature(discrete):
    agent = make(discrete, target_entropy=-100.0 if not discrete else 0.0,
                 exact_discrete_alpha=False)  # eq. 118's gradient step
    old_target = [p.clone() for p in agent.target_critic.parameters()]
    agent.update(random_batch(discrete))
    for before, target, critic in zip(old_target, agent.target_critic.parameters(),
                                      agent.critic.parameters(), strict=True):
        torch.testing.assert_close(target, 0.995 * before + 0.005 * critic)
    assert agent.alpha < 1.0  # entropy above a very low target: the temperature falls


@pytest.mark.parametrize("scale", [0.01, 1.0, 100.0])
def test_solved_temperature_gives_the_target_entropy_at_any_value_scale(scale):
    q = torch.randn(64, 3, generator=torch.Generator().manual_seed(1)) * scale
    log_alpha = solve_log_alpha(q, 0.5 * math.log(3))
    log_probs = torch.log_softmax(q / math.exp(log_alpha), -1)
    entropy = -(log_probs.exp() * log_probs).sum(-1).mean()
    torch.testing.assert_close(entropy.item(), 0.5 * math.log(3), atol=1e-5, rtol=0)
    assert solve_log_alpha(q / scale, 0.5 * math.log(3)) == pytest.approx(
        log_alpha - math.log(scale), abs=1e-5)  # alpha follows the values' scale
    assert solve_log_alpha(q - 100.0, 0.5 * math.log(3)) == pytest.approx(
        log_alpha, abs=1e-3)  # and ignores their level (float32 rounding aside)


def test_solved_temperature_bounds_for_flat_values_and_unreachable_targets():
    assert solve_log_alpha(torch.zeros(8, 3), 0.5) == pytest.approx(-20.0)
    assert solve_log_alpha(torch.randn(8, 3), math.log(3) + 0.1) == pytest.approx(10.0)


def test_discrete_temperature_matches_the_critic_scale_after_one_update():
    """The fault (issue 21): with action values differing by ~0.01, as in Acrobot-v1, eq. 118's
    gradient moves alpha = 1 by only ~the learning rate per update, so the policy stays
    uniform for thousands of updates; the solved temperature gives the target entropy at once."""
    for exact in (False, True):
        agent = make(True, exact_discrete_alpha=exact)
        with torch.no_grad():  # critics whose action values differ by ~0.01
            agent.critic.weights[-1].mul_(0.01)
            agent.critic.biases[-1].mul_(0.01)
        batch = random_batch(True)
        agent.update(batch)
        q = agent.critic(batch["obs"]).min(0).values
        log_probs = torch.log_softmax(q / agent.alpha, -1)
        entropy = -(log_probs.exp() * log_probs).sum(-1).mean().item()
        if exact:
            assert entropy == pytest.approx(agent.target_entropy, abs=1e-4)
        else:
            assert agent.alpha > 0.99 and entropy > 0.99 * math.log(4)  # the fault


def test_actor_gradient_does_not_touch_critics():
    agent = make(False)
    loss, _ = agent.actor_loss(random_batch(False)["obs"])
    loss.backward()
    assert all(p.grad is None for p in agent.critic.parameters())
    assert all(p.requires_grad for p in agent.critic.parameters())


def test_train_from_mixes_real_and_synthetic_at_the_ratio():
    agent = make(False)
    rng = np.random.default_rng(0)
    real, synthetic = ReplayBuffer(100, 3, 2), ReplayBuffer(100, 3, 2)
    for buffer, reward in ((real, 1.0), (synthetic, -1.0)):
        buffer.add(rng.normal(size=(50, 3)), rng.uniform(-1, 1, (50, 2)), np.full(50, reward),
                   rng.normal(size=(50, 3)), np.zeros(50, bool), np.zeros(50, bool))
    seen = []
    agent.update = lambda batch: seen.append(batch["rew"]) or {}
    agent.train_from(real, 3, rng, synthetic=synthetic, real_fraction=0.25)
    assert len(seen) == 3 and all(int((r > 0).sum()) == 8 and len(r) == 32 for r in seen)
    with pytest.raises(ValueError, match="synthetic"):
        agent.train_from(real, 1, rng, real_fraction=0.5)


@pytest.mark.parametrize("discrete", [False, True])
def test_state_dict_round_trip_continues_identically(discrete):
    agent = make(discrete)
    agent.update(random_batch(discrete, seed=1))
    state = copy.deepcopy(agent.state_dict())
    first = agent.update(random_batch(discrete, seed=2))
    clone = make(discrete)
    clone.load_state_dict(state)
    assert clone.update(random_batch(discrete, seed=2)) == first


def test_policy_protocol_and_bounds():
    agent = make(False)
    actions = agent.act(np.random.default_rng(0).normal(size=(100, 3)).astype(np.float32))
    assert actions.shape == (100, 2) and np.abs(actions).max() <= 1.0
    assert agent.act(np.zeros(3, np.float32), deterministic=True).shape == (2,)
    assert make(True).act(np.zeros(3, np.float32)) in range(4)


def test_a_nan_reward_stops_sac_before_the_update_with_the_part_named():
    import gymnasium as gym

    from mbrl.util.errors import TrainingDiverged

    agent = SAC(gym.spaces.Box(-1, 1, (3,)), gym.spaces.Box(-1, 1, (1,)),
                SACConfig(hidden=(8,)), torch.Generator().manual_seed(0))
    before = [p.detach().clone() for p in agent.critic.parameters()]
    batch = {"obs": torch.zeros(4, 3), "act": torch.zeros(4, 1),
             "rew": torch.tensor([0.0, float("nan"), 0.0, 0.0]), "next_obs": torch.zeros(4, 3),
             "terminated": torch.zeros(4, dtype=torch.bool)}
    with pytest.raises(TrainingDiverged, match="SAC critic: the loss became nan at update 0"):
        agent.update(batch)
    assert all(torch.equal(a, b) for a, b in zip(before, agent.critic.parameters(),
                                                 strict=True))
