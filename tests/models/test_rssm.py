"""The recurrent state-space model: its KL against Monte Carlo, imagination shapes and
determinism, the planning problem for every population planner, filtering, pixels, learning."""

import numpy as np
import pytest
import torch

from mbrl.models.rssm import RSSM, RSSMConfig, RSSMFilter, gaussian_kl
from planners import CEM, ICEM, MPPI, RandomShooting

SMALL = dict(deterministic_dim=16, stochastic_dim=4, hidden=32, embed_dim=16)


def _model(obs_shape=(3,), terminates=False, **settings) -> RSSM:
    torch.manual_seed(0)
    return RSSM(obs_shape, 2, RSSMConfig(**{**SMALL, **settings}), terminates)


def _windows(batch=6, steps=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, steps + 1, 3, generator=g),
            torch.rand(batch, steps, 2, generator=g) * 2 - 1,
            torch.randn(batch, steps, generator=g))


def test_gaussian_kl_equals_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mean_q, mean_p = torch.randn(4, generator=g), torch.randn(4, generator=g)
    std_q, std_p = torch.rand(4, generator=g) + 0.3, torch.rand(4, generator=g) + 0.3
    samples = mean_q + std_q * torch.randn(400_000, 4, generator=g, dtype=torch.float64)

    def log_density(x, mean, std):
        return (-0.5 * ((x - mean) / std).square() - std.log()).sum(-1)

    monte_carlo = (log_density(samples, mean_q, std_q) - log_density(samples, mean_p, std_p))
    assert gaussian_kl(mean_q, std_q, mean_p, std_p).item() == pytest.approx(
        monte_carlo.mean().item(), abs=4 * monte_carlo.std().item() / 400_000 ** 0.5)


def test_the_loss_kl_is_the_posterior_prior_kl_of_the_filtered_windows():
    """The logged KL equals a Monte Carlo estimate of E_q[log q - log p] over the posterior and
    prior that filtering the windows produces."""
    model = _model()
    obs, actions, rewards = _windows()
    _, _, terms = model.loss(obs, actions, rewards, generator=torch.Generator().manual_seed(1))
    _, prior_mean, prior_std, post_mean, post_std = model.observe(
        obs, actions, torch.Generator().manual_seed(1))
    with torch.no_grad():
        g = torch.Generator().manual_seed(2)
        x = post_mean + post_std * torch.randn(20_000, *post_mean.shape, generator=g)
        log_q = (-0.5 * ((x - post_mean) / post_std).square() - post_std.log()).sum(-1)
        log_p = (-0.5 * ((x - prior_mean) / prior_std).square() - prior_std.log()).sum(-1)
    assert terms["kl"] == pytest.approx((log_q - log_p).mean().item(), rel=0.02)


def test_imagination_keeps_shapes_and_is_deterministic_for_a_fixed_generator():
    model = _model()
    obs, actions, _ = _windows()
    with torch.no_grad():
        states = model.observe(obs, actions, torch.Generator().manual_seed(0))[0]
        assert states.shape == (6, 6, 20)

        def imagine(seed):
            g, state, path = torch.Generator().manual_seed(seed), states[:, -1], []
            for t in range(7):
                state = model.imagine_step(state, torch.full((6, 2), 0.1 * t), g)
                path.append(state)
            return torch.stack(path, 1)

        first, again, other = imagine(3), imagine(3), imagine(4)
    assert first.shape == (6, 7, 20)
    assert torch.equal(first, again) and not torch.equal(first, other)
    with torch.no_grad():  # the prior's mean step: h from the GRU, s the prior's mean
        mean_step = model.imagine_step(states[:, -1], torch.zeros(6, 2), sample=False)
        h = model.recurrent(states[:, -1], torch.zeros(6, 2))
    torch.testing.assert_close(mean_step, torch.cat([h, model.prior(h)[0]], -1))
    assert not torch.equal(mean_step, first[:, 0])  # a sample is not the mean


@pytest.mark.parametrize("planner", [
    RandomShooting(num_samples=16, seed=0), CEM(population=16, elites=4, iterations=2, seed=0),
    ICEM(population=16, elites=4, iterations=2, seed=0),
    MPPI(num_samples=16, iterations=2, seed=0)], ids=lambda p: type(p).__name__)
@pytest.mark.parametrize("terminates", [False, True])
def test_the_rssm_is_a_problem_dynamics_for_every_population_planner(planner, terminates):
    model = _model(terminates=terminates)
    problem = model.problem(-torch.ones(2), torch.ones(2), 4, torch.Generator().manual_seed(0))
    state = RSSMFilter(model).update(np.zeros(3, np.float32))
    with torch.no_grad():
        plan = planner.plan(state, problem)
    assert plan.actions.shape == (4, 2) and (plan.actions.abs() <= 1).all()
    assert np.isfinite(plan.expected_return)
    with pytest.raises(ValueError, match="S = 20"):
        planner.plan(torch.zeros(3), problem)  # an observation is not a model state


def test_the_filter_tracks_the_episode_deterministically():
    model = _model()
    first, second = RSSMFilter(model), RSSMFilter(model)
    for filter_ in (first, second):
        filter_.update(np.ones(3, np.float32))
        filter_.record_action(np.array([0.5, -0.5], np.float32))
    assert torch.equal(first.update(np.zeros(3, np.float32)),
                       second.update(np.zeros(3, np.float32)))
    first.reset()
    assert first.state is None


def test_pixel_windows_give_a_finite_loss_with_gradients_everywhere():
    model = _model((6, 64, 64), terminates=True, channels=(4, 4, 8, 8))
    g = torch.Generator().manual_seed(0)
    obs = torch.randint(0, 256, (2, 4, 6, 64, 64), generator=g, dtype=torch.uint8)
    actions, rewards = torch.rand(2, 3, 2, generator=g), torch.randn(2, 3, generator=g)
    continues = torch.tensor([[1, 1, 1], [1, 1, 0]])
    loss, states, terms = model.loss(obs, actions, rewards, continues, g)
    assert states.shape == (8, 20) and np.isfinite(loss.item())  # every frame is real
    assert set(terms) == {"reconstruction", "reward", "kl", "continuation"}
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="needs continues"):
        model.loss(obs, actions, rewards, None, g)


def test_steps_past_an_episode_end_are_left_out_of_the_loss():
    """A window padded past its episode's end (``valid`` 0) scores as the unpadded window
    would, whatever the placeholders hold, and gives the posterior states of real frames."""
    model = _model(terminates=True)
    obs, actions, rewards = _windows(batch=1, steps=6)
    continues = torch.tensor([[1.0, 1, 0, 1, 1, 1]])  # the episode ended at its third step
    valid = torch.tensor([[True, True, True, False, False, False]])

    def loss(o, a, r, c, v=None):
        return model.loss(o, a, r, c, torch.Generator().manual_seed(0), v)

    short_loss, short_states, short_terms = loss(obs[:, :4], actions[:, :3], rewards[:, :3],
                                                 continues[:, :3])
    padded_loss, padded_states, padded_terms = loss(obs, actions, rewards, continues, valid)
    garbage = torch.randn(1, 3, 3)  # other placeholders: same loss
    other_loss, _, _ = loss(torch.cat([obs[:, :4], garbage], 1),
                            torch.cat([actions[:, :3], -actions[:, 3:]], 1),
                            torch.cat([rewards[:, :3], rewards[:, 3:] + 100], 1), continues,
                            valid)
    torch.testing.assert_close(padded_loss, short_loss)
    torch.testing.assert_close(other_loss, short_loss)
    torch.testing.assert_close(padded_states, short_states)
    assert padded_terms == pytest.approx(short_terms, rel=1e-5)


def test_the_model_learns_a_linear_system_and_predicts_rewards_open_loop():
    """s' = 0.8 s + 0.5 [a, 0], r = -|s'|^2: after training, rewards imagined 4 steps ahead
    from the filtered state (prior means) explain most of their variance."""
    rng = np.random.default_rng(0)

    def windows(n):
        s = rng.normal(size=(n, 3))
        obs, actions, rewards = [s], [], []
        for _ in range(6):
            a = rng.uniform(-1, 1, size=(n, 2))
            s = 0.8 * s + 0.5 * np.concatenate([a, np.zeros((n, 1))], 1)
            obs.append(s), actions.append(a), rewards.append(-(s ** 2).sum(1))
        return (torch.as_tensor(np.stack(obs, 1), dtype=torch.float32),
                torch.as_tensor(np.stack(actions, 1), dtype=torch.float32),
                torch.as_tensor(np.stack(rewards, 1), dtype=torch.float32))

    model = _model(free_nats=0.5)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(400):
        loss, _, _ = model.loss(*windows(32), generator=g)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    obs, actions, rewards = windows(256)
    with torch.no_grad():
        state = model.observe(obs[:, :3], actions[:, :2], g)[0][:, -1]  # filtered at t = 2
        predicted = []
        for t in range(2, 6):
            state = model.imagine_step(state, actions[:, t], sample=False)
            predicted.append(model.reward(state))
    errors = (torch.stack(predicted, 1) - rewards[:, 2:]).square().mean()
    assert errors < 0.2 * rewards[:, 2:].var()
